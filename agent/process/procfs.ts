// Reading processes from /proc: the start-of-day scan (processes older than the agent) and
// on-demand lookups when a flow names a process the cache has not seen. Every read may race
// with the process exiting; a vanished file just leaves that field empty.
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { ProcflowError } from '../../common/errors.js';
import { cgroupPathFromProcFile } from './cgroup.js';
import { ticksToNs } from './clock.js';
import { NAMESPACE_NAMES, type CapabilitySets, type Credentials, type NamespaceInodes } from '../../native/types.js';

export interface ProcSnapshot {
  pid: number;
  ppid: number;
  /** Start time, boottime ns at clock-tick precision. */
  startNs: bigint;
  comm: string;
  uid: number;
  gid: number;
  /** readlink(/proc/<pid>/exe); '' when unreadable (kernel threads, permissions, gone). */
  exe: string;
  /** argv including argv[0]; empty for kernel threads and zombies. */
  args: string[];
  argsTruncated: boolean;
  cwd: string;
  cgroupPath: string;
  /** From status (Uid/Gid: real, effective, saved, filesystem); undefined when unreadable. */
  creds?: Credentials;
  caps?: CapabilitySets;
  /** /proc/<pid>/loginuid; absent when unreadable. */
  auid?: number;
}

export interface StatLine {
  comm: string;
  ppid: number;
  startNs: bigint;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Parses /proc/<pid>/stat. comm may contain spaces and ')' so it is cut at the last ')'. */
export function parseStat(text: string): StatLine | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field n is rest[n - 3]: ppid is field 4, starttime field 22.
  const ppid = Number(rest[1]);
  const start = rest[19];
  if (!Number.isInteger(ppid) || start === undefined || !/^\d+$/.test(start)) return undefined;
  return { comm: text.slice(open + 1, close), ppid, startNs: ticksToNs(BigInt(start)) };
}

export function readStat(pid: number, procRoot = '/proc'): StatLine | undefined {
  const text = read(`${procRoot}/${pid}/stat`);
  return text === undefined ? undefined : parseStat(text);
}

function statusIds(text: string | undefined, field: 'Uid' | 'Gid'): number {
  const m = text ? new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text) : null;
  return m ? Number(m[1]) : -1;
}

/** The four ids of a status line ("Uid:\t0\t0\t0\t0"). */
function statusQuad(text: string, field: 'Uid' | 'Gid'): number[] | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)`, 'm').exec(text);
  return m ? m.slice(1, 5).map(Number) : undefined;
}

function statusCreds(text: string | undefined): Credentials | undefined {
  if (!text) return undefined;
  const u = statusQuad(text, 'Uid');
  const g = statusQuad(text, 'Gid');
  if (!u || !g) return undefined;
  return { uid: u[0]!, euid: u[1]!, suid: u[2]!, fsuid: u[3]!, gid: g[0]!, egid: g[1]!, sgid: g[2]!, fsgid: g[3]! };
}

function statusCaps(text: string | undefined): CapabilitySets | undefined {
  const hex = (name: string) => (text ? new RegExp(`^${name}:\\s+([0-9a-f]+)`, 'm').exec(text)?.[1] : undefined);
  const p = hex('CapPrm'), e = hex('CapEff'), i = hex('CapInh');
  if (p === undefined || e === undefined || i === undefined) return undefined;
  return { permitted: BigInt(`0x${p}`), effective: BigInt(`0x${e}`), inheritable: BigInt(`0x${i}`) };
}

function readLink(path: string): string {
  try {
    // A replaced or deleted binary reads as "/path (deleted)"; the path is still the one that ran.
    return readlinkSync(path).replace(/ \(deleted\)$/, '');
  } catch {
    return '';
  }
}

/**
 * The executable as the process was started, to match what exec events say. The kernel reports
 * the path execve was given (/usr/bin/python3), /proc/<pid>/exe the file it resolved to
 * (/usr/bin/python3.11): the same binary would carry two names depending on whether it started
 * before the agent. argv[0], absolute or beside the executable, is taken when it resolves to the
 * same file inside the process's own root (containers have their own).
 */
function startedAs(dir: string, exe: string, argv0: string | undefined): string {
  if (!exe || !argv0 || argv0 === exe) return exe;
  const candidate = argv0.startsWith('/') ? argv0 : argv0.includes('/') ? '' : `${exe.slice(0, exe.lastIndexOf('/') + 1)}${argv0}`;
  if (!candidate || candidate === exe) return exe;
  try {
    return realpathSync(`${dir}/root${candidate}`) === realpathSync(`${dir}/root${exe}`) ? candidate : exe;
  } catch {
    return exe;
  }
}

export function readProcess(pid: number, maxArgsBytes: number, procRoot = '/proc'): ProcSnapshot | undefined {
  const stat = readStat(pid, procRoot);
  if (!stat) return undefined;
  const dir = `${procRoot}/${pid}`;
  const status = read(`${dir}/status`);
  let raw = read(`${dir}/cmdline`) ?? '';
  const argsTruncated = Buffer.byteLength(raw) > maxArgsBytes;
  if (argsTruncated) raw = Buffer.from(raw).subarray(0, maxArgsBytes).toString('utf8');
  const args = raw.split('\0');
  if (args.length && args[args.length - 1] === '') args.pop();
  const exe = readLink(`${dir}/exe`);
  return {
    pid,
    ppid: stat.ppid,
    startNs: stat.startNs,
    comm: stat.comm,
    uid: statusIds(status, 'Uid'),
    gid: statusIds(status, 'Gid'),
    exe: startedAs(dir, exe, args[0]),
    args,
    argsTruncated,
    cwd: readLink(`${dir}/cwd`),
    cgroupPath: cgroupPathFromProcFile(read(`${dir}/cgroup`) ?? ''),
    creds: statusCreds(status),
    caps: statusCaps(status),
    auid: Number(read(`${dir}/loginuid`)?.trim() ?? Number.NaN),
  };
}

/** The namespaces of pid 1 (the host's, when the agent shares the host's PID namespace). */
export function hostNamespaces(procRoot = '/proc'): NamespaceInodes | undefined {
  const out = {} as NamespaceInodes;
  let any = false;
  for (const name of NAMESPACE_NAMES) {
    // "net:[4026531840]"
    const m = /\[(\d+)\]$/.exec(readLink(`${procRoot}/1/ns/${name}`));
    out[name] = m ? Number(m[1]) : 0;
    any ||= out[name] > 0;
  }
  return any ? out : undefined;
}

/** The start-of-day scan cannot run: say what to mount, or how to start without it. */
function procfsUnavailable(procRoot: string, reason: string, cause?: unknown): ProcflowError {
  return new ProcflowError(
    'PROCFS_UNAVAILABLE',
    `agent: cannot scan ${procRoot} for the processes already running: ${reason}`,
    `mount procfs at ${procRoot} (mount -t proc proc ${procRoot}; in a container, run with the host's PID namespace and /proc), ` +
      'or start with --procfs-scan=false (PROCFLOW_PROCFS_SCAN=false): flows of processes older than the agent then carry their task name',
    { cause },
  );
}

/**
 * Every process visible in /proc (threads excluded: /proc lists thread-group leaders only).
 * A missing or unreadable root, or one that lists no process at all (an empty mount point:
 * a mounted procfs always lists at least this process), throws PROCFS_UNAVAILABLE.
 */
export function scanProcesses(maxArgsBytes: number, procRoot = '/proc'): ProcSnapshot[] {
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === 'ENOENT' ? 'it does not exist' : e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : e.message;
    throw procfsUnavailable(procRoot, reason, err);
  }
  const pids = names.filter((name) => /^\d+$/.test(name));
  if (pids.length === 0) throw procfsUnavailable(procRoot, 'it lists no processes (procfs is not mounted there)');
  const out: ProcSnapshot[] = [];
  for (const name of pids) {
    const snap = readProcess(Number(name), maxArgsBytes, procRoot);
    if (snap) out.push(snap);
  }
  return out;
}
