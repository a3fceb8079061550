// The TypeScript surface of the kernel collection (bpf/ + native/), as the agent consumes it.
// The addon wrapper (native/index.ts) implements `KernelCollector`; the agent depends only on
// these types, so it can be driven by recorded or synthetic events in unit tests and benchmarks.
//
// Clock: every `*Ns` field is CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns, and
// task->start_boottime for process start times), as a bigint. `bootTimeToEpochMs` converts.

/** Hook flavours a collector can be forced to (auto: the best per hook); native/src/HookPlanner.cc plans them. */
export const HOOK_MODES = ['auto', 'tp_btf', 'raw_tp', 'tracepoint', 'fentry', 'kprobe'] as const;
export type HookMode = (typeof HOOK_MODES)[number];

export type ProcessEventKind = 'exec' | 'fork' | 'exit' | 'dns';

interface ProcessEventBase {
  kind: ProcessEventKind;
  /** Thread-group id (what user space calls the pid). */
  pid: number;
  /** Parent's thread-group id. */
  ppid: number;
  /** Start time of this process (task->start_boottime of the group leader), boottime ns. */
  startNs: bigint;
  /** When the kernel saw the event, boottime ns. */
  timeNs: bigint;
  /** Task name (comm) at the time of the event, at most 15 characters. */
  comm: string;
}

/** The ids a task runs with (Tetragon's process_credentials). */
export interface Credentials {
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  suid: number;
  sgid: number;
  fsuid: number;
  fsgid: number;
}

/** Capability sets as bit masks (bit n is capability n). */
export interface CapabilitySets {
  permitted: bigint;
  effective: bigint;
  inheritable: bigint;
}

/** Namespace inode numbers by Tetragon's names; 0 where the kernel has none or it was not read. */
export type NamespaceInodes = Record<(typeof NAMESPACE_NAMES)[number], number>;

/** Tetragon's namespace names; native/layout.ts finds each one's slot (PF_NS_<NAME>) in the generated layout. */
export const NAMESPACE_NAMES = ['uts', 'ipc', 'mnt', 'pid', 'pid_for_children', 'net', 'time', 'time_for_children', 'cgroup', 'user'] as const;

export interface ExecEvent extends ProcessEventBase {
  kind: 'exec';
  uid: number;
  gid: number;
  creds: Credentials;
  /** Audit login uid; 4294967295 when no login set it. */
  auid: number;
  caps: CapabilitySets;
  /** Present when the collector was opened with `namespaces: true`. */
  ns?: NamespaceInodes;
  /** Parent's start time, boottime ns, so the parent's exec_id can be derived. */
  parentStartNs: bigint;
  /** cgroup v2 id of the task (0 when unknown). */
  cgroupId: bigint;
  /** Executable path as the kernel resolved it (from the binprm). */
  filename: string;
  /** Full argument vector including argv[0], possibly truncated (see `argsTruncated`). */
  args: string[];
  argsTruncated: boolean;
  /** Current working directory; '' when the kernel could not read it. */
  cwd: string;
  /** Bit set of EVENT_ERROR_* partial-failure flags from bpf/procflow.h. */
  errorFlags: number;
}

export interface ForkEvent extends ProcessEventBase {
  kind: 'fork';
  parentStartNs: bigint;
}

export interface ExitEvent extends ProcessEventBase {
  kind: 'exit';
  /** Exit status as in WEXITSTATUS (0-255) when the process exited normally. */
  exitCode: number;
  /** Terminating signal number, 0 when it exited normally. */
  signal: number;
}

/**
 * One DNS packet the kernel captured on the socket of the process that asked: a query it sent to
 * the server port, or a response from it. `pid` (and `startNs`, `comm`) are the socket's owner as
 * recorded when it addressed the server port; 0 when that was not seen. `ppid` is 0.
 */
export interface DnsEvent extends ProcessEventBase {
  kind: 'dns';
  direction: 'query' | 'response';
  /** unix: a lookup through a local resolver's socket (channel nscd or varlink); no addresses or ports. */
  proto: 'udp' | 'tcp' | 'unix';
  /** net: DNS messages in packets; nscd, varlink: the protocol of the local resolver's socket. */
  channel: DnsChannel;
  family: 4 | 6;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  /** Socket cookie: the packets of one socket share it (TCP messages are reassembled by it). */
  cookie: bigint;
  /** The payload as captured (a UDP message, or a TCP segment with its length prefixes). */
  payload: Buffer;
  /** Bytes of the payload on the wire; more than payload.length when the capture cut it. */
  wireLength: number;
}

export type DnsChannel = 'net' | 'nscd' | 'varlink';

export const DNS_LOCAL_MODES = ['auto', 'syscalls', 'off'] as const;
export type DnsLocalMode = (typeof DNS_LOCAL_MODES)[number];

export type ProcessEvent = ExecEvent | ForkEvent | ExitEvent | DnsEvent;

/** Which side of the connection this host's socket is on. */
export type FlowRole = 'client' | 'server' | 'unknown';

/** One drained entry of the in-kernel flow map: counters since the previous drain. */
export interface FlowRecord {
  family: 4 | 6;
  /** IANA protocol number: 6 TCP, 17 UDP. */
  proto: number;
  /** Local address and port of the socket. */
  localIp: string;
  localPort: number;
  /** Remote address and port. */
  remoteIp: string;
  remotePort: number;
  role: FlowRole;
  /** Owning process: thread-group id and its start time (boottime ns). */
  pid: number;
  pidStartNs: bigint;
  comm: string;
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  packetsIn: number;
  /** TCP connections of this key that were established / closed in this interval. */
  tcpStarted: number;
  tcpCompleted: number;
  /** Latest TCP stats from struct tcp_sock (0 for UDP). */
  tcpSrttUs: number;
  tcpMinRttUs: number;
  tcpCwnd: number;
  tcpMss: number;
  tcpRetransmits: number;
  tcpLost: number;
  firstSeenNs: bigint;
  lastSeenNs: bigint;
}

export interface HookReport {
  /** Logical hook, e.g. "exec", "exit", "tcp_send", "udp_recv", "tcp_state". */
  hook: string;
  /** What was attached: "kprobe", "tracepoint", "raw_tp", "tp_btf", "cgroup" (udp_peer), or "none". */
  via: string;
  /** Program and target, e.g. "tp_btf/sched_process_exec". */
  target: string;
  /** Why this one was chosen, or why nothing could be attached. */
  reason: string;
}

export interface KernelCounters {
  /** Ring buffer reservations that failed (events lost in the kernel). */
  eventsLost: number;
  /** Events dropped in user space because the JS side did not keep up. */
  eventsDroppedUser: number;
  /** Flow map insertions refused because the map was full. */
  flowMapFull: number;
  /** Events delivered to JavaScript. */
  eventsDelivered: number;
  /** Per-socket TCP state insertions refused (LRU map; should stay 0). */
  sockMapFull?: number;
  /** Exec events the kernel produced (delivered or lost). */
  execSeen?: number;
  /** Flow accounting calls in the kernel (send/receive events). */
  flowUpdates?: number;
  /** DNS packets the kernel captured (delivered or lost). */
  dnsSeen?: number;
  /** DNS packets longer than the capture size: their tail was not copied. */
  dnsCut?: number;
}

export interface KernelCollectorOptions {
  /** Maximum flow map entries (bounded; overflow is counted). */
  flowMapEntries?: number;
  /** Open TCP sockets whose state the kernel keeps (an LRU table). */
  socketMapEntries?: number;
  /** Maximum bytes of arguments captured per exec. */
  maxArgsBytes?: number;
  /** Ring buffer size in bytes (power of two). */
  ringBufferBytes?: number;
  /**
   * Force a hook flavour for tests: 'auto' (default: the best per hook), 'tp_btf' (BTF
   * tracepoints), 'raw_tp' (raw tracepoints), 'tracepoint' (classic tracefs tracepoints), 'kprobe' (the seed design's
   * kprobes; where the kernel cannot attach them they are still loaded, so the verifier checks
   * them, and the hooks report `via: 'none'`). Hooks without the forced flavour use the best.
   */
  hookMode?: HookMode;
  /** Do not account flows of this process (e.g. the agent's own shipping traffic). */
  ignorePid?: number;
  /**
   * Resolve the peers of unconnected UDP sockets (sendto/recvfrom) when the socket hooks are
   * tracepoints (default true): through cgroup sock_addr hooks on the cgroup v2 root (they run
   * only for UDP messages carrying an address), else through syscall tracepoints, which put
   * every task on the slow syscall path (tens of ns per syscall host-wide). false attaches
   * neither, and such flows then report remote 0.0.0.0:0.
   */
  udpPeers?: boolean;
  /** Read each exec'ing task's namespace inode numbers (about 20 kernel reads more per exec). */
  namespaces?: boolean;
  /** Capture DNS packets (cgroup skb programs on the cgroup v2 root; default true). */
  dns?: boolean;
  /** The DNS server port whose packets are captured (default 53). */
  dnsPort?: number;
  /**
   * Lookups through local resolver sockets (nscd, systemd-resolved's varlink): off; auto (the
   * default: fentry or kprobes on unix_stream_sendmsg/recvmsg, else nothing); syscalls (also
   * syscall tracepoints where neither exists, which slow every syscall of every task).
   */
  dnsLocal?: DnsLocalMode;
  /** The resolver sockets: path and protocol (at most 16). */
  dnsLocalSockets?: { path: string; protocol: 'nscd' | 'varlink' }[];
}

export interface KernelCollector {
  /** What got attached, one entry per logical hook. */
  readonly hooks: HookReport[];
  /** Start polling the ring buffer; `onEvents` receives batches, never single events. */
  start(onEvents: (batch: ProcessEvent[]) => void): void;
  /**
   * Read-and-delete every flow map entry (batch lookup-and-delete where supported). The records
   * may be decoded as they are iterated: take them all before the next drain.
   */
  drainFlows(): Iterable<FlowRecord>;
  counters(): KernelCounters;
  /** Detach all programs, free maps and stop the polling thread. Idempotent. */
  close(): void;
}
