// Reading processes from /proc: the start-of-day scan (processes older than the agent) and
// on-demand lookups when a flow names a process the cache has not seen. Every read may race
// with the process exiting; a vanished file just leaves that field empty.
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { ProcflowError } from '../../common/errors.js';
import { cgroupPathFromProcFile } from './cgroup.js';
import { ticksToNs } from './clock.js';

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
  };
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
