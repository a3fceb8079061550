// process_exec / process_exit documents in Tetragon's shape, and the export policy for them:
// filters (namespace, pod, binary) and a rate limit whose drops are counted.
import type { ProcessEventDoc, ProcessInfo } from '../../schema/index.js';
import type { BootClock } from './clock.js';
import { containerById, type PodLookup } from '../identity/pod-lookup.js';
import { NAMESPACE_NAMES, type NamespaceInodes } from '../../native/types.js';
import { capabilityNames } from './capabilities.js';
import type { UserNames } from './user-names.js';
import type { ProcessCache, ProcessEntry } from './process-cache.js';
import { signalName } from './signals.js';
import { forgetInfo, keepInfo, reusableInfo } from './info-memo.js';
import { ConfigError } from '../../common/errors.js';
import { RE2JS } from 're2js';

/** What process events carry beyond Tetragon's defaults, and where user names come from. */
export interface ProcessEventOptions {
  /** Ancestors beyond the parent listed per event (Tetragon's --enable-ancestors); 0: none. */
  process_ancestors: number;
  /** The namespaces block (the collector must read them: its `namespaces` option). */
  process_namespaces: boolean;
  /** The capability sets block. */
  process_capabilities: boolean;
  userNames?: UserNames;
  /** The host's namespaces (those of pid 1), to say is_host. */
  hostNamespaces?: NamespaceInodes;
}

/** The text of the shared (frozen) flag lists, made once per list; other lists are joined each time. */
const FLAG_TEXTS = new Map<readonly string[], string>();

function flagsText(flags: readonly string[]): string {
  if (!Object.isFrozen(flags)) return flags.join(' ');
  let text = FLAG_TEXTS.get(flags);
  if (text === undefined) {
    text = flags.join(' ');
    FLAG_TEXTS.set(flags, text);
  }
  return text;
}

export class ProcessEventBuilder {
  constructor(
    private readonly node: string,
    private readonly cache: ProcessCache,
    private readonly clock: BootClock,
    private readonly pods: PodLookup,
    private readonly opts: ProcessEventOptions = { process_ancestors: 0, process_namespaces: false, process_capabilities: false },
  ) {}

  /**
   * An image's record. Shared by the documents that name the image (its exec and exit, its
   * children's parent) while the image is unchanged (info-memo.ts): documents are never
   * changed after they are made. Records with pod metadata are made afresh each time (the pod's
   * labels and containers are the pod index's to change).
   */
  info(e: ProcessEntry): ProcessInfo {
    // Looked up before the reuse check, as it always was: the lookup may read the passwd file.
    const user = e.uid >= 0 ? this.opts.userNames?.nameOf(e.uid, e.exited ? 0 : e.pid, e.containerId) : undefined;
    const pod = e.podUid ? this.pods.byUid(e.podUid) : undefined;
    if (!pod) {
      const kept = reusableInfo(e, user);
      if (kept) return kept;
    }
    const p: ProcessInfo = {
      exec_id: e.execId,
      pid: e.pid,
      binary: e.binary || e.comm,
      arguments: e.argsText,
      flags: flagsText(e.flags),
      start_time: this.clock.toIso(e.imageNs),
    };
    if (e.uid >= 0) {
      p.uid = e.uid;
      if (user) p.user = { name: user };
    }
    if (e.auid >= 0) p.auid = e.auid;
    if (e.cwd) p.cwd = e.cwd;
    if (e.parentExecId) p.parent_exec_id = e.parentExecId;
    if (e.containerId) p.docker = e.containerId;
    if (e.cgroupId) p.cgroup_id = this.cgroupIdText(e.cgroupId);
    if (e.creds) p.process_credentials = { ...e.creds };
    if (this.opts.process_capabilities && e.caps) {
      p.cap = { permitted: capabilityNames(e.caps.permitted), effective: capabilityNames(e.caps.effective), inheritable: capabilityNames(e.caps.inheritable) };
    }
    if (this.opts.process_namespaces && e.ns) p.ns = this.namespaces(e.ns);
    if (pod) {
      p.pod = { namespace: pod.namespace, name: pod.name, pod_labels: { ...pod.labelMap }, workload: pod.workload.name, workload_kind: pod.workload.kind };
      if (e.containerId) {
        const c = containerById(pod, e.containerId);
        p.pod.container = c ? { id: e.containerId, name: c.name, image: { id: c.imageId, name: c.image } } : { id: e.containerId };
      }
    } else {
      keepInfo(e, user, p);
    }
    return p;
  }

  private lastCgroupId = 0n;
  private lastCgroupIdText = '0';

  /** The cgroup id as text; most records in a row name the same cgroup. */
  private cgroupIdText(id: bigint): string {
    if (id !== this.lastCgroupId) {
      this.lastCgroupId = id;
      this.lastCgroupIdText = String(id);
    }
    return this.lastCgroupIdText;
  }

  private namespaces(ns: NamespaceInodes): NonNullable<ProcessInfo['ns']> {
    const out: NonNullable<ProcessInfo['ns']> = {};
    const host = this.opts.hostNamespaces;
    for (const name of NAMESPACE_NAMES) {
      if (!ns[name]) continue;
      out[name] = host?.[name] ? { inum: ns[name], is_host: host[name] === ns[name] } : { inum: ns[name] };
    }
    return out;
  }

  /** The parent's record: from the cache when known, else the bare ids. */
  private parent(e: ProcessEntry): ProcessInfo | undefined {
    const p = this.cache.parentImage(e);
    if (p) return this.info(p);
    if (!e.parentExecId) return undefined;
    return { exec_id: e.parentExecId, pid: e.ppid, binary: '' };
  }

  /** Ancestors beyond the parent, nearest first, as far as the cache knows them (opt-in). */
  private ancestors(e: ProcessEntry): ProcessInfo[] | undefined {
    if (this.opts.process_ancestors <= 0) return undefined;
    const out: ProcessInfo[] = [];
    const seen = new Set<ProcessEntry>([e]);
    let p = this.cache.parentImage(e);
    if (p) seen.add(p);
    for (p = p && this.cache.parentImage(p); p && !seen.has(p) && out.length < this.opts.process_ancestors; p = this.cache.parentImage(p)) {
      seen.add(p);
      out.push(this.info(p));
    }
    return out.length ? out : undefined;
  }

  exec(e: ProcessEntry, timeNs: bigint): ProcessEventDoc {
    const time = this.clock.toIso(timeNs);
    const parent = this.parent(e);
    const ancestors = this.ancestors(e);
    const body: NonNullable<ProcessEventDoc['process_exec']> = { process: this.info(e) };
    if (parent) body.parent = parent;
    if (ancestors) body.ancestors = ancestors;
    return { '@timestamp': time, event_type: 'process_exec', node_name: this.node, time, process_exec: body };
  }

  exit(e: ProcessEntry, timeNs: bigint): ProcessEventDoc {
    const time = this.clock.toIso(timeNs);
    const parent = this.parent(e);
    const ancestors = this.ancestors(e);
    // Filled in the order the documents have always had: process, parent, ancestors, signal, status, time.
    const body = { process: this.info(e) } as NonNullable<ProcessEventDoc['process_exit']>;
    if (parent) body.parent = parent;
    if (ancestors) body.ancestors = ancestors;
    if (e.signal) body.signal = signalName(e.signal);
    body.status = e.exitCode;
    body.time = time;
    // An exited image is named again only as the parent of a child that outlives it: its record
    // is made again then, rather than kept for as long as the exited entry stays in the cache.
    forgetInfo(e);
    return { '@timestamp': time, event_type: 'process_exit', node_name: this.node, time, process_exit: body };
  }
}

export interface EventFilterOptions {
  /** Pod namespaces to export ("-" = processes outside any pod); empty = all. */
  namespaces?: string[];
  /** Only pods whose name matches. */
  podRegex?: string;
  /** Only binaries whose path matches. */
  binaryRegex?: string;
  /** Never binaries whose path matches. */
  denyBinaryRegex?: string;
}

/** A substring matcher over one pattern. */
interface Matcher {
  test(s: string): boolean;
}

/*
 * Filters come from settings and from anyone who can reach the agent's port (/v1/events?binary=),
 * so they are compiled with RE2's linear-time engine (re2js): a pattern like (a+)+$ cannot freeze
 * the agent the way a backtracking RegExp can. RE2 syntax: no backreferences or lookaround.
 */
function compile(what: string, src: string | undefined): Matcher | undefined {
  if (!src) return undefined;
  let pattern: RE2JS;
  try {
    pattern = RE2JS.compile(src);
  } catch (err) {
    throw new ConfigError(`${what}: invalid regular expression ${JSON.stringify(src)}: ${(err as Error).message} (filters use RE2 syntax, which runs in linear time: no backreferences or lookaround)`);
  }
  return { test: (s) => pattern.matcher(s).find() };
}

/** Which events leave the host (and which `procflow events` shows: it uses the same rules). */
export class EventFilter {
  private readonly namespaces: Set<string> | undefined;
  private readonly pod: Matcher | undefined;
  private readonly binary: Matcher | undefined;
  private readonly deny: Matcher | undefined;

  constructor(o: EventFilterOptions) {
    this.namespaces = o.namespaces?.length ? new Set(o.namespaces) : undefined;
    this.pod = compile('pod filter', o.podRegex);
    this.binary = compile('binary filter', o.binaryRegex);
    this.deny = compile('binary deny filter', o.denyBinaryRegex);
  }

  get active(): boolean {
    return Boolean(this.namespaces || this.pod || this.binary || this.deny);
  }

  matches(doc: ProcessEventDoc): boolean {
    const p = (doc.process_exec ?? doc.process_exit)?.process;
    if (!p) return false;
    if (this.namespaces && !this.namespaces.has(p.pod?.namespace ?? '-')) return false;
    if (this.pod && !this.pod.test(p.pod?.name ?? '')) return false;
    if (this.binary && !this.binary.test(p.binary)) return false;
    if (this.deny && this.deny.test(p.binary)) return false;
    return true;
  }
}

/** Token bucket: `ratePerSecond` sustained with a burst of one second's worth; 0 = unlimited. */
export class RateLimiter {
  private tokens: number;
  private last: number;
  dropped = 0;

  constructor(private readonly ratePerSecond: number, private readonly now: () => number = Date.now) {
    this.tokens = ratePerSecond;
    this.last = now();
  }

  take(): boolean {
    if (this.ratePerSecond <= 0) return true;
    const t = this.now();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.dropped++;
    return false;
  }
}
