// The process cache: what the agent knows about every process start on the node, keyed by
// pid + start time (so a reused pid is a different process). Filled by exec/fork/exit events and
// by the /proc scan at start; read by flow attribution and process events.
//
// Races it handles (each also noted where it is handled):
// - exec for a process whose fork was never seen (fork lost, or it started during the scan):
//   the exec creates the entry.
// - fork delivered after the child's exec: the fork never overwrites an existing entry.
// - exit before the process's last flows are drained: entries outlive their exit by
//   `exit_retention` (longer than a flush interval plus the attribution delay), then the GC
//   ticker evicts them.
// - exit of a process the cache never saw: a minimal task-name entry is made from the exit event
//   so the exit document and late flows still have something to say.
// - the /proc scan reading a process the kernel already reported: kernel data is newer, the scan
//   never overwrites it.
// - the scanned process exec()s later: a new image, as any exec without a fork (below).
// - the scan read a process just after its exec and the exec event arrives after: the same
//   binary and arguments are the same image, not a second exec.
//
// Images, as Tetragon counts them: an entry is one process (pid + start time) and holds its
// current image. The first exec after a fork keeps the id the fork gave (Tetragon's "execve
// clone"); an exec without a fork (sh -c 'exec curl ...') starts a new image with its own
// exec_id, whose parent is the previous image, kept in `prior` so flows the old image made
// before the exec are still credited to it and the exec event can name it.
import type { CapabilitySets, Credentials, ExecEvent, ExitEvent, ForkEvent, NamespaceInodes } from '../../native/types.js';
import { EVENT_ERROR_ARGS, EVENT_ERROR_CGROUP, EVENT_ERROR_CREDS, EVENT_ERROR_CWD, EVENT_ERROR_CWD_DEPTH, EVENT_ERROR_CWD_LONG, EVENT_ERROR_FILENAME, EVENT_ERROR_NS } from '../../native/layout.js';
import { FLOW_LOG_FIELDS, PROCESS_EVENT_FIELDS, type ProcessInfo } from '../../schema/index.js';
import { execId, imageExecId, processKey, type ProcessKey } from './exec-id.js';
import type { ProcSnapshot } from './procfs.js';
import type { Redactor } from './redact.js';
import { CgroupIdentities } from './cgroup.js';
import { OrderedMap } from '../../common/ordered-map.js';
import { flatString } from '../../common/flat-string.js';

export type ProcessSource = 'kernel' | 'procfs' | 'taskname';

export interface ProcessEntry {
  readonly key: ProcessKey;
  readonly pid: number;
  ppid: number;
  /** Start time, boottime ns (kernel precision when the kernel reported it). */
  readonly startNs: bigint;
  /** The current image's id: the start's until an exec without fork gives it a new one. */
  execId: string;
  /** When the current image began (boottime ns): the start, or the exec that made it. */
  imageNs: bigint;
  /** The image before an exec without fork (one level: its own `prior` is dropped). */
  prior?: ProcessEntry;
  /** The image's parent: `prior`'s id after an exec without fork, else the forking process's image. */
  parentExecId: string;
  /** Parent's start time (0 when unknown), to find the parent's entry. */
  parentStartNs: bigint;
  comm: string;
  /** Executable path; '' when unknown (then `comm` is the process name). */
  binary: string;
  /** Redacted arguments after argv[0]. */
  args: string[];
  /** `args` joined by spaces, computed once. */
  argsText: string;
  argsTruncated: boolean;
  source: ProcessSource;
  uid: number;
  /** Audit login uid (4294967295: none); -1 when unknown (not seen at an exec). */
  auid: number;
  creds?: Credentials;
  caps?: CapabilitySets;
  ns?: NamespaceInodes;
  cwd: string;
  cgroupId: bigint;
  cgroupPath: string;
  containerId: string;
  podUid: string;
  /** Tetragon-style flags: execve, procFS, clone, taskname, truncArgs, ... */
  flags: string[];
  exited: boolean;
  exitNs: bigint;
  exitCode: number;
  signal: number;
  /** Wall-clock ms when the exit was recorded (for retention), 0 while alive. */
  exitedAtMs: number;
  /** Retained like an exited process since a flush found it nowhere (addGone), until an exec shows it alive. */
  gone: boolean;
  /** The document record last made of this image (info-memo.ts), reused while it still holds. */
  infoMemo?: InfoMemo;
}

/** A process's document record and the values it was made from (see info-memo.ts). */
export interface InfoMemo {
  readonly info: ProcessInfo;
  readonly from: readonly unknown[];
}

export interface CacheStats {
  size: number;
  evictions: Record<'exited' | 'capacity', number>;
  misses: number;
}

/** The settings among these carry their names in agent/config.ts, and no defaults here. */
export interface ProcessCacheOptions {
  /** Node name in exec_ids. */
  node_name: string;
  redactor: Redactor;
  /** Most entries kept; beyond it the oldest exited (then the oldest) entries are evicted. */
  cache_max_entries: number;
  /** How long an exited process stays to attribute its last flows (ms). */
  exit_retention: number;
  /** Resolves a cgroup v2 id to its path (exec events carry only the id). */
  cgroupPath?: (id: bigint) => string | undefined;
  now?: () => number;
  /**
   * False when the kernel's exec hook is not attached: a forked child may have exec'd unseen,
   * so it must not be named with its parent's image (it stays a task name until /proc says).
   */
  execSeen?: boolean;
}

/**
 * Longest argument text a document may carry: beyond the keyword fields' ignore_above,
 * Elasticsearch keeps the value but does not index it, so the arguments could not be searched.
 */
export const ARGS_TEXT_MAX = Math.min(
  FLOW_LOG_FIELDS.process_args.ignoreAbove,
  PROCESS_EVENT_FIELDS.process_exec.fields.process.fields.arguments.ignoreAbove,
);

/** Arguments as one searchable text, cut to ARGS_TEXT_MAX (then `cut` is true). */
function argsTextOf(args: readonly string[]): { text: string; cut: boolean } {
  const text = args.join(' ');
  if (text.length <= ARGS_TEXT_MAX) return { text, cut: false };
  let end = ARGS_TEXT_MAX;
  // Never split a surrogate pair.
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return { text: flatString(text.slice(0, end)), cut: true };
}

/**
 * A flow no task owned: a server socket the kernel accepted and closed (in softirq) before any
 * process read or wrote it, so neither a pid nor a task name was ever seen. Never an empty name.
 */
export const NO_PROCESS = '-';

/** The image that was running at `ns` (boottime): the prior one for I/O before the last exec. */
export function imageAt(e: ProcessEntry, ns: bigint): ProcessEntry {
  return e.prior && ns > 0n && ns < e.imageNs ? e.prior : e;
}

/** The process name users see: the executable path, else the task name, else "-". */
export function processName(e: ProcessEntry): string {
  return e.binary || e.comm || NO_PROCESS;
}

/** An image is known: the kernel reported an exec, or the scan read one. */
function hasImage(e: ProcessEntry): boolean {
  return e.flags.includes('execve') || e.flags.includes('procFS');
}

/** Kernel error bits -> Tetragon's flag names (procflow's own where Tetragon has none). */
const ERROR_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [EVENT_ERROR_FILENAME, 'errorFilename'],
  [EVENT_ERROR_ARGS, 'errorArgs'],
  [EVENT_ERROR_CWD | EVENT_ERROR_CWD_DEPTH | EVENT_ERROR_CWD_LONG, 'errorCWD'],
  [EVENT_ERROR_CGROUP, 'errorCgroupID'],
  [EVENT_ERROR_CREDS, 'errorCreds'],
  [EVENT_ERROR_NS, 'errorNamespaces'],
];

// The flags of a fork's child and of an entry known by its task name only, shared as the exec lists are.
const CLONE_FLAGS = Object.freeze(['clone']) as string[];
const TASKNAME_FLAGS = Object.freeze(['taskname']) as string[];

/**
 * Flag lists of execs by their bits (below), made once and shared by every entry with the same
 * flags: frozen, since an entry's flags are replaced, never changed in place.
 */
const EXEC_FLAG_LISTS = new Map<number, readonly string[]>();

/** Tetragon's flags of an exec, in its order: execve, truncArgs, errors, rootcwd, clone; taskname is procflow's. */
function execFlags(ev: ExecEvent, argsTruncated: boolean, cloned: boolean): string[] {
  let bits = (argsTruncated ? 1 : 0) | (ev.filename ? 0 : 2) | (ev.cwd === '/' ? 4 : 0) | (cloned ? 8 : 0);
  for (let i = 0; i < ERROR_FLAGS.length; i++) if (ev.errorFlags & ERROR_FLAGS[i]![0]) bits |= 16 << i;
  let flags = EXEC_FLAG_LISTS.get(bits);
  if (flags === undefined) {
    const list = ['execve'];
    if (argsTruncated) list.push('truncArgs');
    for (const [errorBits, name] of ERROR_FLAGS) if (ev.errorFlags & errorBits) list.push(name);
    if (!ev.filename) list.push('taskname');
    if (ev.cwd === '/') list.push('rootcwd');
    if (cloned) list.push('clone');
    flags = Object.freeze(list);
    EXEC_FLAG_LISTS.set(bits, flags);
  }
  return flags as string[];
}

export class ProcessCache {
  /** In creation order, for capacity eviction when no entry has exited. */
  private readonly entries = new OrderedMap<ProcessKey, ProcessEntry>();
  /** Exited entries in exit order, for retention GC and for capacity eviction. */
  private readonly exitedOrder = new OrderedMap<ProcessKey, number>();
  private readonly now: () => number;
  private readonly cgroups = new CgroupIdentities();
  readonly stats: CacheStats = { size: 0, evictions: { exited: 0, capacity: 0 }, misses: 0 };

  constructor(private readonly opts: ProcessCacheOptions) {
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  get(pid: number, startNs: bigint): ProcessEntry | undefined {
    return this.entries.get(processKey(pid, startNs));
  }

  /** Lookup that counts a miss (for attribution). */
  lookup(pid: number, startNs: bigint): ProcessEntry | undefined {
    const e = this.entries.get(processKey(pid, startNs));
    if (!e) this.stats.misses++;
    return e;
  }

  execIdOf(pid: number, startNs: bigint): string {
    return execId(this.opts.node_name, pid, startNs);
  }

  onExec(ev: ExecEvent): ProcessEntry {
    const key = processKey(ev.pid, ev.startNs);
    const argv = ev.args.length ? ev.args.slice(1) : [];
    // The program decides which flags carry a password (mysql -pX, not ssh -p 22).
    const red = this.opts.redactor.redact(argv, ev.args[0] || ev.filename || undefined);
    const text = argsTextOf(red.args);
    let e = this.entries.get(key);
    // A fork seen and no exec yet: this is the exec after clone, which keeps the fork's id.
    const cloned = e !== undefined && e.flags.length === 1 && e.flags[0] === 'clone';
    if (e && !cloned && hasImage(e) && !(e.source === 'procfs' && e.binary === ev.filename && e.argsText === text.text)) {
      // An exec without fork: the running image gives way to a new one (new exec_id, parent the old image).
      const prior: ProcessEntry = { ...e, flags: [...e.flags], prior: undefined };
      e.prior = prior;
      e.execId = imageExecId(this.opts.node_name, ev.pid, ev.timeNs);
      e.imageNs = ev.timeNs;
      e.parentExecId = prior.execId;
    } else {
      e ??= this.create(key, ev.pid, ev.startNs, ev.comm);
      e.parentExecId = this.currentExecId(ev.ppid, ev.parentStartNs);
    }
    // An exec late enough that a flush already gave up on the process (addGone): it is alive, so
    // it must not be evicted on the exited schedule. Looked for only then: a Map's miss costs
    // about as much as a hit, and this is every exec.
    if (e.gone && !e.exited) {
      e.gone = false;
      if (this.exitedOrder.delete(key)) e.exitedAtMs = 0;
    }
    e.ppid = ev.ppid;
    // Equal bigints are kept as the object already held (the parent's, from the fork): one heap
    // object fewer for every cached process to carry and the collector to mark.
    if (e.parentStartNs !== ev.parentStartNs) e.parentStartNs = ev.parentStartNs;
    e.comm = ev.comm;
    e.binary = ev.filename;
    e.args = red.args;
    e.argsText = text.text;
    e.argsTruncated = ev.argsTruncated || text.cut;
    e.source = ev.filename ? 'kernel' : 'taskname';
    e.uid = ev.uid;
    e.auid = ev.auid;
    e.creds = ev.creds;
    e.caps = ev.caps;
    e.ns = ev.ns;
    if (ev.cwd) e.cwd = ev.cwd;
    if (e.cgroupId !== ev.cgroupId) e.cgroupId = ev.cgroupId;
    const resolved = this.opts.cgroupPath?.(ev.cgroupId);
    // exec does not move a process out of its container: a v2 path that names no container (a
    // hybrid host whose runtime uses the v1 hierarchies) keeps the container inherited at fork.
    if (resolved !== undefined) {
      const named = this.cgroups.of(resolved);
      if ((!e.containerId && !e.podUid) || named.containerId || named.podUid) this.setCgroup(e, resolved);
    }
    e.flags = execFlags(ev, e.argsTruncated, cloned);
    return e;
  }

  /** The id of a process's current image: its entry's when known, else the one its start gives. */
  currentExecId(pid: number, startNs: bigint): string {
    return this.get(pid, startNs)?.execId ?? this.execIdOf(pid, startNs);
  }

  /**
   * The image an event or flow names as the parent: the previous image after an exec without
   * fork, else the forking process as the cache knows it now.
   */
  parentImage(e: ProcessEntry): ProcessEntry | undefined {
    if (e.prior && e.parentExecId === e.prior.execId) return e.prior;
    return this.parentOf(e);
  }

  onFork(ev: ForkEvent): ProcessEntry {
    const key = processKey(ev.pid, ev.startNs);
    const existing = this.entries.get(key);
    // Fork delivered after the child's exec: the exec is the better record, keep it.
    if (existing) return existing;
    const e = this.create(key, ev.pid, ev.startNs, ev.comm);
    e.ppid = ev.ppid;
    const parent = this.get(ev.ppid, ev.parentStartNs);
    // currentExecId, with the parent looked up once.
    e.parentExecId = parent?.execId ?? this.execIdOf(ev.ppid, ev.parentStartNs);
    e.parentStartNs = parent?.startNs === ev.parentStartNs ? parent.startNs : ev.parentStartNs;
    if (parent) {
      // A forked child runs its parent's image until it execs (when execs are seen at all).
      if (this.opts.execSeen !== false) {
        e.binary = parent.binary;
        e.args = parent.args;
        e.argsText = parent.argsText;
        e.argsTruncated = parent.argsTruncated;
        e.source = parent.source;
      }
      e.uid = parent.uid;
      e.auid = parent.auid;
      if (parent.creds) e.creds = parent.creds;
      if (parent.caps) e.caps = parent.caps;
      if (parent.ns) e.ns = parent.ns;
      e.cwd = parent.cwd;
      e.cgroupId = parent.cgroupId;
      this.setCgroup(e, parent.cgroupPath);
    }
    e.flags = CLONE_FLAGS;
    return e;
  }

  onExit(ev: ExitEvent): ProcessEntry {
    const key = processKey(ev.pid, ev.startNs);
    // Exit of a process never seen (lost exec, or it started during the scan): make a task-name
    // entry so the exit document and any late flows still name it.
    const e = this.entries.get(key) ?? this.create(key, ev.pid, ev.startNs, ev.comm);
    if (!e.ppid) e.ppid = ev.ppid;
    // The kernel's task name at exit is the final image's, better than one inherited at fork.
    if (e.source === 'taskname' && ev.comm) e.comm = ev.comm;
    e.exited = true;
    e.exitNs = ev.timeNs;
    e.exitCode = ev.exitCode;
    e.signal = ev.signal;
    e.exitedAtMs = this.now();
    this.exitedOrder.set(key, e.exitedAtMs); // now the newest
    return e;
  }

  /** A process found by the /proc scan (or an on-demand read). Never overwrites kernel data. */
  onProcfs(s: ProcSnapshot): ProcessEntry {
    const key = processKey(s.pid, s.startNs);
    const existing = this.entries.get(key);
    if (existing && existing.source !== 'taskname') return existing;
    const e = existing ?? this.create(key, s.pid, s.startNs, s.comm);
    const red = this.opts.redactor.redact(s.args.slice(1), s.args[0] || s.exe || undefined);
    e.ppid = s.ppid;
    e.comm = s.comm;
    // Kernel threads and zombies have neither exe nor cmdline: Calico's rule, the task name.
    e.binary = s.exe || (s.args[0]?.startsWith('/') ? s.args[0] : '');
    e.args = e.binary ? red.args : [];
    const text = argsTextOf(e.args);
    e.argsText = text.text;
    e.argsTruncated = s.argsTruncated || text.cut;
    e.source = e.binary ? 'procfs' : 'taskname';
    e.uid = s.uid;
    e.auid = s.auid !== undefined && Number.isInteger(s.auid) ? s.auid : -1;
    if (s.creds) e.creds = s.creds;
    if (s.caps) e.caps = s.caps;
    e.cwd = s.cwd;
    this.setCgroup(e, s.cgroupPath);
    e.flags = e.binary ? ['procFS'] : ['procFS', 'taskname'];
    if (e.argsTruncated) e.flags.push('truncArgs');
    if (e.cwd === '/') e.flags.push('rootcwd');
    return e;
  }

  /** Parent exec_id for a scanned process, once its parent's start time is known. */
  setParentStart(e: ProcessEntry, parentStartNs: bigint): void {
    e.parentExecId = this.currentExecId(e.ppid, parentStartNs);
    e.parentStartNs = parentStartNs;
  }

  parentOf(e: ProcessEntry): ProcessEntry | undefined {
    return e.parentStartNs ? this.get(e.ppid, e.parentStartNs) : undefined;
  }

  /** Evicts exited entries older than the retention. Runs on the agent's GC ticker. */
  gc(): number {
    const cutoff = this.now() - this.opts.exit_retention;
    let n = 0;
    for (const [key, at] of this.exitedOrder) {
      if (at > cutoff) break; // insertion order is exit order
      this.exitedOrder.delete(key);
      this.entries.delete(key);
      n++;
    }
    this.stats.evictions.exited += n;
    this.stats.size = this.entries.size;
    return n;
  }

  *values(): IterableIterator<ProcessEntry> {
    yield* this.entries.values();
  }

  /**
   * A process the agent could not find anywhere (not in the cache, already gone from /proc):
   * a task-name entry that is retained like an exited one, so repeated flows of the same unknown
   * process do not re-read /proc, and it is evicted by the same GC.
   */
  addGone(pid: number, startNs: bigint, comm: string): ProcessEntry {
    const key = processKey(pid, startNs);
    const e = this.entries.get(key) ?? this.create(key, pid, startNs, comm);
    e.exitedAtMs = this.now();
    e.gone = true;
    this.exitedOrder.set(key, e.exitedAtMs); // now the newest
    return e;
  }

  private setCgroup(e: ProcessEntry, path: string): void {
    const named = this.cgroups.of(path);
    e.cgroupPath = path;
    e.containerId = named.containerId;
    e.podUid = named.podUid;
  }

  private create(key: ProcessKey, pid: number, startNs: bigint, comm: string): ProcessEntry {
    if (this.entries.size >= this.opts.cache_max_entries) this.evictForCapacity();
    const e: ProcessEntry = {
      key, pid, ppid: 0, startNs, execId: execId(this.opts.node_name, pid, startNs), imageNs: startNs, parentExecId: '', parentStartNs: 0n,
      comm, binary: '', args: [], argsText: '', argsTruncated: false, source: 'taskname',
      uid: -1, auid: -1, cwd: '', cgroupId: 0n, cgroupPath: '', containerId: '', podUid: '', flags: TASKNAME_FLAGS,
      exited: false, exitNs: 0n, exitCode: 0, signal: 0, exitedAtMs: 0, gone: false,
    };
    this.entries.set(key, e);
    this.stats.size = this.entries.size;
    return e;
  }

  /** Full cache: the oldest exited entry goes first; only when none exited, the oldest entry. */
  private evictForCapacity(): void {
    const key = this.exitedOrder.oldestKey() ?? this.entries.oldestKey();
    if (key === undefined) return;
    this.exitedOrder.delete(key);
    this.entries.delete(key);
    this.stats.evictions.capacity++;
  }
}

