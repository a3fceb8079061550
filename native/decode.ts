// Decoding of raw kernel records (bpf/procflow.h) into the types of native/types.ts.
import { posix } from 'node:path';
import { flatString } from '../common/flat-string.js';
import {
  LAYOUT,
  FLOW_RECORD_SIZE,
  PF_AF_INET6,
  PF_AF_UNIX,
  PF_DNS_CHANNEL_NET,
  PF_DNS_CHANNEL_NSCD,
  PF_DNS_CHANNEL_VARLINK,
  PF_COMM_LEN,
  PF_PATH_MAX,
  PF_EVENT_EXEC,
  PF_EVENT_EXIT,
  PF_EVENT_FORK,
  PF_EVENT_DNS,
  PF_DNS_MAX,
  PF_DNS_RESPONSE,
  PF_ROLE_CLIENT,
  PF_ROLE_SERVER,
  PF_ROLE_UNKNOWN,
  NS_SLOTS,
  pad8,
} from './layout.js';
import { NAMESPACE_NAMES, type CapabilitySets, type Credentials, type DnsChannel, type DnsEvent, type ExecEvent, type ExitEvent, type FlowRecord, type FlowRole, type ForkEvent, type NamespaceInodes, type ProcessEvent } from './types.js';

const H = LAYOUT.pf_event_header.offsets;
const X = LAYOUT.pf_exec_event.offsets;
const F = LAYOUT.pf_fork_event.offsets;
const E = LAYOUT.pf_exit_event.offsets;
const D = LAYOUT.pf_dns_event.offsets;
/** IANA protocol number of TCP (PF_PROTO_TCP is a macro in procflow.h, not in the BTF). */
const PF_PROTO_TCP_NUMBER = 6;
const K = LAYOUT.pf_flow_key.offsets;
const V = LAYOUT.pf_flow_value.offsets;

const ROLES: Readonly<Record<number, FlowRole>> = {
  [PF_ROLE_UNKNOWN]: 'unknown',
  [PF_ROLE_CLIENT]: 'client',
  [PF_ROLE_SERVER]: 'server',
};

/** A NUL-terminated string of at most `max` bytes at `off`. */
function cString(buf: Buffer, off: number, max: number): string {
  const end = buf.indexOf(0, off);
  const stop = end < 0 || end > off + max ? off + max : end;
  return buf.toString('utf8', off, stop);
}

/**
 * The text of a byte range, reused while the bytes are those of the previous call: consecutive
 * records mostly repeat a program, directory or task name, and a reused string is neither made
 * again nor held once more by every process cache entry that names it.
 */
/** Up to this many bytes, a byte loop compares faster than Buffer.compare's call into C++. */
const COMPARED_IN_JS = 64;

class RepeatedText {
  private readonly last: Buffer;
  private lastLen = -1;
  private lastText = '';

  constructor(maxBytes: number) {
    this.last = Buffer.alloc(maxBytes);
  }

  read(buf: Buffer, start: number, end: number): string {
    const stop = Math.min(end, buf.length);
    const len = stop - start;
    if (len <= 0) return '';
    if (len === this.lastLen && this.repeats(buf, start, len)) return this.lastText;
    this.lastText = buf.toString('utf8', start, stop);
    this.lastLen = len <= this.last.length ? buf.copy(this.last, 0, start, stop) : -1;
    return this.lastText;
  }

  /** Whether the `len` bytes at `start` are the last call's: short ones compared here, as a call into C++ costs more. */
  private repeats(buf: Buffer, start: number, len: number): boolean {
    if (len > COMPARED_IN_JS) return buf.compare(this.last, 0, len, start, start + len) === 0;
    const last = this.last;
    for (let i = 0; i < len; i++) if (buf[start + i] !== last[i]) return false;
    return true;
  }

  /** A NUL-terminated string of at most `max` bytes at `off` (as cString; `max` is a task name's 16 here). */
  readC(buf: Buffer, off: number, max: number): string {
    const limit = Math.min(off + max, buf.length);
    let end = off;
    while (end < limit && buf[end] !== 0) end++;
    return this.read(buf, off, end);
  }
}

const execFilename = new RepeatedText(PF_PATH_MAX);
const execCwd = new RepeatedText(PF_PATH_MAX);
const execComm = new RepeatedText(PF_COMM_LEN);
const forkComm = new RepeatedText(PF_COMM_LEN);
const exitComm = new RepeatedText(PF_COMM_LEN);
const flowComm = new RepeatedText(PF_COMM_LEN);

/** Split the NUL-separated argument area into argv. */
export function splitArgs(buf: Buffer, off: number, len: number): string[] {
  if (len <= 0) return [];
  let text = buf.toString('utf8', off, off + len);
  if (text.endsWith('\0')) text = text.slice(0, -1);
  return text.split('\0');
}

/**
 * Texts of IPv4 addresses seen lately: the records of a drain name a node's few addresses over
 * and over, and a kept text is neither made again nor held again by every flow that names it.
 */
const IPV4_TEXTS = new Map<number, string>();
const IPV4_TEXTS_KEPT = 4096;

function ipv4Text(addr: number): string {
  let text = IPV4_TEXTS.get(addr);
  if (text === undefined) {
    text = `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
    if (IPV4_TEXTS.size >= IPV4_TEXTS_KEPT) IPV4_TEXTS.clear();
    IPV4_TEXTS.set(addr, text);
  }
  return text;
}

/** 16 address bytes in network order to text: IPv4 dotted, IPv6 in RFC 5952 form. */
export function formatAddress(buf: Buffer, off: number, family: 4 | 6): string {
  if (family === 4) return ipv4Text(buf.readUInt32BE(off));
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(off + i * 2));
  // Longest run of zero words (length >= 2) becomes "::".
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestAt < 0) return hex(words);
  // One sequential string, not the template's pieces: it goes into flow logs (common/flat-string.ts).
  return flatString(`${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`);
}

function decodeHeader(buf: Buffer, off: number) {
  return {
    pid: buf.readUInt32LE(off + H.pid),
    ppid: buf.readUInt32LE(off + H.ppid),
    startNs: readU64(buf, off + H.start_ns),
    timeNs: readU64(buf, off + H.time_ns),
    comm: cString(buf, off + H.comm, PF_COMM_LEN),
  };
}

function decodeExec(buf: Buffer, off: number): ExecEvent {
  const filenameLen = buf.readUInt16LE(off + X.filename_len);
  const cwdLen = buf.readUInt16LE(off + X.cwd_len);
  const cwd = execCwd.read(buf, off + X.cwd, off + X.cwd + cwdLen);
  let filename = execFilename.read(buf, off + X.filename, off + X.filename + filenameLen);
  // execve("./x") leaves a relative name in the binprm: anchor it at the cwd.
  // posix.resolve joins pieces: copied into one sequential string, as it goes into every flow log of the process.
  if (filename && !filename.startsWith('/') && cwd.startsWith('/')) filename = flatString(posix.resolve(cwd, filename));
  const uid = buf.readUInt32LE(off + X.uid);
  const gid = buf.readUInt32LE(off + X.gid);
  // Built in one literal (no spread of a header object): one allocation, one hidden class.
  const ev: ExecEvent = {
    kind: 'exec',
    pid: buf.readUInt32LE(off + H.pid),
    ppid: buf.readUInt32LE(off + H.ppid),
    startNs: readU64(buf, off + H.start_ns),
    timeNs: readU64(buf, off + H.time_ns),
    comm: execComm.readC(buf, off + H.comm, PF_COMM_LEN),
    uid,
    gid,
    parentStartNs: readU64(buf, off + X.parent_start_ns),
    cgroupId: cgroupIdAt(buf, off + X.cgroup_id),
    filename,
    args: splitArgs(buf, off + X.args, buf.readUInt32LE(off + X.args_len)),
    argsTruncated: buf[off + X.args_truncated] !== 0,
    cwd,
    errorFlags: buf.readUInt32LE(off + X.error_flags),
    creds: readCreds(buf, off, uid, gid),
    auid: buf.readUInt32LE(off + X.auid),
    caps: readCaps(buf, off),
  };
  const ns = decodeNamespaces(buf, off + X.ns);
  if (ns) ev.ns = ns;
  return ev;
}

/** The previous exec record's cgroup id: records share the bigint while it repeats (a node's execs run in few cgroups). */
let lastCgroupId = 0n;

function cgroupIdAt(buf: Buffer, at: number): bigint {
  const id = readU64(buf, at);
  if (id !== lastCgroupId) lastCgroupId = id;
  return lastCgroupId;
}

// The credentials and capabilities of the previous exec record: records share these objects while
// the values repeat (most execs on a node run as a few users), and their readers never change them.
let lastCreds: Credentials | undefined;
let lastCaps: CapabilitySets | undefined;

function readCreds(buf: Buffer, off: number, uid: number, gid: number): Credentials {
  const euid = buf.readUInt32LE(off + X.euid);
  const egid = buf.readUInt32LE(off + X.egid);
  const suid = buf.readUInt32LE(off + X.suid);
  const sgid = buf.readUInt32LE(off + X.sgid);
  const fsuid = buf.readUInt32LE(off + X.fsuid);
  const fsgid = buf.readUInt32LE(off + X.fsgid);
  const c = lastCreds;
  if (c && c.uid === uid && c.gid === gid && c.euid === euid && c.egid === egid && c.suid === suid && c.sgid === sgid && c.fsuid === fsuid && c.fsgid === fsgid) return c;
  lastCreds = { uid, gid, euid, egid, suid, sgid, fsuid, fsgid };
  return lastCreds;
}

function readCaps(buf: Buffer, off: number): CapabilitySets {
  const permitted = readU64(buf, off + X.cap_permitted);
  const effective = readU64(buf, off + X.cap_effective);
  const inheritable = readU64(buf, off + X.cap_inheritable);
  const c = lastCaps;
  if (c && c.permitted === permitted && c.effective === effective && c.inheritable === inheritable) return c;
  lastCaps = { permitted, effective, inheritable };
  return lastCaps;
}

/**
 * A u64 counter as a number, from its two halves: exact below 2^53 (8 PiB, far beyond one flow's
 * interval), and without the bigint that readBigUInt64LE allocates and Number() then drops
 * (about 80 ns a field, four fields a flow record).
 */
function counter(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 4_294_967_296;
}

/**
 * A u64 as a bigint, exact, with one conversion where the value is below 2^53 (a boottime in ns
 * for the first 104 days, pid start times, cgroup ids, cookies): readBigUInt64LE makes three
 * bigints for every value. Zero (most capability sets of unprivileged tasks) makes none.
 */
function readU64(buf: Buffer, off: number): bigint {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  if (hi === 0 && lo === 0) return 0n;
  return hi < 0x20_0000 ? BigInt(hi * 4_294_967_296 + lo) : buf.readBigUInt64LE(off);
}

/** The namespace slots, or nothing when none was read (the collector did not ask for them). */
function decodeNamespaces(buf: Buffer, off: number): NamespaceInodes | undefined {
  let any = 0;
  for (let i = 0; i < NAMESPACE_NAMES.length; i++) any |= buf.readUInt32LE(off + 4 * i);
  if (!any) return undefined;
  const ns = {} as NamespaceInodes;
  for (const name of NAMESPACE_NAMES) ns[name] = buf.readUInt32LE(off + 4 * NS_SLOTS[name]);
  return ns;
}

const DNS_CHANNELS: Record<number, DnsChannel> = { [PF_DNS_CHANNEL_NET]: 'net', [PF_DNS_CHANNEL_NSCD]: 'nscd', [PF_DNS_CHANNEL_VARLINK]: 'varlink' };

function decodeDns(buf: Buffer, off: number, size: number): DnsEvent {
  const rawFamily = buf.readUInt8(off + D.family);
  const family: 4 | 6 = rawFamily === PF_AF_INET6 ? 6 : 4;
  const unix = rawFamily === PF_AF_UNIX;
  const captured = Math.min(buf.readUInt32LE(off + D.captured_len), size - D.payload, PF_DNS_MAX);
  return {
    kind: 'dns',
    ...decodeHeader(buf, off),
    direction: buf.readUInt8(off + D.direction) === PF_DNS_RESPONSE ? 'response' : 'query',
    proto: unix ? 'unix' : buf.readUInt8(off + D.proto) === PF_PROTO_TCP_NUMBER ? 'tcp' : 'udp',
    channel: DNS_CHANNELS[buf.readUInt8(off + D.channel)] ?? 'net',
    family,
    localIp: unix ? '' : formatAddress(buf, off + D.local_addr, family),
    localPort: buf.readUInt16LE(off + D.local_port),
    remoteIp: unix ? '' : formatAddress(buf, off + D.remote_addr, family),
    remotePort: buf.readUInt16LE(off + D.remote_port),
    cookie: readU64(buf, off + D.cookie),
    // A copy: the batch buffer is reused by the poller.
    payload: Buffer.from(buf.subarray(off + D.payload, off + D.payload + Math.max(0, captured))),
    wireLength: buf.readUInt32LE(off + D.payload_len),
  };
}

/** The header's fields in a new fork or exit event, which the caller completes. */
function headerEvent<K extends 'fork' | 'exit'>(kind: K, buf: Buffer, off: number, comm: RepeatedText) {
  return {
    kind,
    pid: buf.readUInt32LE(off + H.pid),
    ppid: buf.readUInt32LE(off + H.ppid),
    startNs: readU64(buf, off + H.start_ns),
    timeNs: readU64(buf, off + H.time_ns),
    comm: comm.readC(buf, off + H.comm, PF_COMM_LEN),
  };
}

function decodeFork(buf: Buffer, off: number): ForkEvent {
  const ev = headerEvent('fork', buf, off, forkComm) as ForkEvent;
  ev.parentStartNs = readU64(buf, off + F.parent_start_ns);
  return ev;
}

function decodeExit(buf: Buffer, off: number): ExitEvent {
  const ev = headerEvent('exit', buf, off, exitComm) as ExitEvent;
  ev.exitCode = buf.readUInt32LE(off + E.exit_code);
  ev.signal = buf.readUInt32LE(off + E.signal);
  return ev;
}

/**
 * Decode a batch from the ring poller: records back to back, each starting with
 * pf_event_header and padded to 8 bytes. Unknown kinds are skipped by their size.
 */
export function decodeEvents(buf: Buffer): ProcessEvent[] {
  const out: ProcessEvent[] = [];
  let off = 0;
  while (off + LAYOUT.pf_event_header.size <= buf.length) {
    const kind = buf.readUInt32LE(off + H.kind);
    const size = buf.readUInt32LE(off + H.size);
    if (size < LAYOUT.pf_event_header.size || off + size > buf.length) break;
    // Exec records arrive trimmed to the used part of args (see RingPoller::OnRecord).
    if (kind === PF_EVENT_EXEC && size >= X.args) out.push(decodeExec(buf, off));
    else if (kind === PF_EVENT_FORK) out.push(decodeFork(buf, off));
    else if (kind === PF_EVENT_EXIT) out.push(decodeExit(buf, off));
    else if (kind === PF_EVENT_DNS && size >= D.payload) out.push(decodeDns(buf, off, size));
    off += pad8(size);
  }
  return out;
}

/** Decode drained flow map entries (key|value pairs, each padded to 8 bytes). */
export function decodeFlows(buf: Buffer): FlowRecord[] {
  return Array.from(eachFlowRecord(buf));
}

/**
 * The drained entries decoded one at a time, as they are taken: a drain of many thousand flows
 * then never holds every record at once, and each dies young (the garbage collector copies
 * what survives it, and a whole drain's records would).
 */
export function* eachFlowRecord(buf: Buffer): Generator<FlowRecord> {
  const vBase = pad8(LAYOUT.pf_flow_key.size);
  for (let off = 0; off + FLOW_RECORD_SIZE <= buf.length; off += FLOW_RECORD_SIZE) {
    const family: 4 | 6 = buf.readUInt8(off + K.family) === PF_AF_INET6 ? 6 : 4;
    const v = off + vBase;
    yield {
      family,
      proto: buf.readUInt8(off + K.proto),
      localIp: formatAddress(buf, off + K.local_addr, family),
      localPort: buf.readUInt16LE(off + K.local_port),
      remoteIp: formatAddress(buf, off + K.remote_addr, family),
      remotePort: buf.readUInt16LE(off + K.remote_port),
      role: ROLES[buf.readUInt8(v + V.role)] ?? 'unknown',
      pid: buf.readUInt32LE(off + K.tgid),
      pidStartNs: readU64(buf, v + V.pid_start_ns),
      comm: flowComm.readC(buf, v + V.comm, PF_COMM_LEN),
      bytesOut: counter(buf, v + V.bytes_out),
      bytesIn: counter(buf, v + V.bytes_in),
      packetsOut: counter(buf, v + V.packets_out),
      packetsIn: counter(buf, v + V.packets_in),
      tcpStarted: buf.readUInt32LE(v + V.tcp_started),
      tcpCompleted: buf.readUInt32LE(v + V.tcp_completed),
      tcpSrttUs: buf.readUInt32LE(v + V.srtt_us),
      tcpMinRttUs: buf.readUInt32LE(v + V.min_rtt_us),
      tcpCwnd: buf.readUInt32LE(v + V.cwnd),
      tcpMss: buf.readUInt32LE(v + V.mss),
      tcpRetransmits: buf.readUInt32LE(v + V.retransmits),
      tcpLost: buf.readUInt32LE(v + V.lost),
      firstSeenNs: readU64(buf, v + V.first_seen_ns),
      lastSeenNs: readU64(buf, v + V.last_seen_ns),
    };
  }
}
