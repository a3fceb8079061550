// An interval's DNS log entries -> DNS log documents (schema/dns-log.ts): the names of the
// client and server endpoints, the process that asked (resolved at flush, as flows are, so a
// late exec event still names it), the answer records in Calico's words.
import type { DnsLog } from '../../schema/index.js';
import { containerById, type Endpoint } from '../identity/pod-lookup.js';
import { imageAt, processName, type ProcessEntry } from '../process/process-cache.js';
import type { DnsLogEntry, LocalResolver } from './aggregate.js';
import { qclassName, qtypeName, rcodeName } from './message.js';

/** A local resolver as a DNS log names its server: by the service behind the socket. */
const LOCAL_RESOLVERS: Record<LocalResolver, Pick<Endpoint, 'name' | 'nameAggr' | 'namespace'>> = {
  nscd: { name: 'nscd', nameAggr: 'nscd', namespace: '-' },
  varlink: { name: 'systemd-resolved', nameAggr: 'systemd-resolved', namespace: '-' },
};

/** The record types whose data is an address (dns.resolved_ip). */
const A = 1;
const AAAA = 28;

/** The asking process as the aggregator keys it: pid, start time and task name, unforgeable by a task name. */
export function processKey(pid: number, startNs: bigint, comm: string): string {
  return `${pid}/${startNs}/${comm}`;
}

export function parseProcessKey(key: string): { pid: number; startNs: bigint; comm: string } {
  const a = key.indexOf('/');
  const b = key.indexOf('/', a + 1);
  return { pid: Number(key.slice(0, a)), startNs: BigInt(key.slice(a + 1, b)), comm: key.slice(b + 1) };
}

export interface DnsDocumentContext {
  node_name: string;
  /** The process behind a key (the flows' attribution: cache, then /proc, then the task name). */
  resolve(pid: number, startNs: bigint, comm: string): ProcessEntry;
  /** Endpoint of an address on this host's side (the client) and of a peer (the server). */
  local(ip: string): Endpoint;
  peer(ip: string): Endpoint;
  userName(e: ProcessEntry): string | undefined;
  parentName(e: ProcessEntry): string | undefined;
}

export function dnsLogDocument(entry: DnsLogEntry, start: string, end: string, ctx: DnsDocumentContext): DnsLog {
  const key = parseProcessKey(entry.processKey);
  const known = key.pid > 0;
  // The image that asked: an exec after the last response belongs to a later image.
  const p = known ? imageAt(ctx.resolve(key.pid, key.startNs, key.comm), entry.lastNs) : undefined;
  const client = ctx.local(entry.clientIp);
  const server = entry.resolver ? LOCAL_RESOLVERS[entry.resolver] : ctx.peer(entry.serverIp);
  const resolved = new Set<string>();
  for (const set of entry.rrsets) if (set.type === A || set.type === AAAA) for (const ip of set.rdata) resolved.add(ip);
  const doc: DnsLog = {
    '@timestamp': end,
    start_time: start,
    end_time: end,
    host: ctx.node_name,
    type: 'log',
    count: entry.count,
    proto: entry.proto,
    ...(entry.clientIp ? { client_ip: entry.clientIp } : {}),
    client_name: client.name,
    client_name_aggr: client.nameAggr,
    client_namespace: client.namespace,
    servers: [entry.resolver
      ? { name: server.name, name_aggr: server.nameAggr, namespace: server.namespace }
      : { ip: entry.serverIp, port: entry.serverPort, name: server.name, name_aggr: server.nameAggr, namespace: server.namespace }],
    qname: entry.qname,
    qclass: qclassName(entry.qclass, 'calico'),
    qtype: qtypeName(entry.qtype, 'calico'),
    rcode: rcodeName(entry.rcode, 'calico'),
    rrsets: entry.rrsets.map((s) => ({ name: s.name, class: qclassName(s.class, 'calico'), type: qtypeName(s.type, 'calico'), rdata: s.rdata })),
    latency_count: entry.latency?.count ?? 0,
    process_name: p ? processName(p) : '-',
    process_id: p ? String(p.pid) : '-',
    process_args: p?.argsText ? [p.argsText] : [],
  };
  if (resolved.size) doc.dns_resolved_ip = [...resolved];
  if (client.labels?.length) doc.client_labels = client.labels;
  if (client.pod) {
    doc.client_workload = client.pod.workload.name;
    doc.client_workload_kind = client.pod.workload.kind;
    const c = p?.containerId ? containerById(client.pod, p.containerId) : undefined;
    if (c) {
      doc.client_container_name = c.name;
      doc.client_container_image = c.image;
    }
  }
  const l = entry.latency;
  if (l) {
    doc.latency_mean = Math.round(l.mean);
    doc.latency_max = Math.round(l.max);
    doc.latency_min = Math.round(l.min);
    doc.latency_p50 = Math.round(l.p50);
    doc.latency_p90 = Math.round(l.p90);
    doc.latency_p99 = Math.round(l.p99);
  }
  if (p) {
    doc.process_exec_id = p.execId;
    doc.process_source = p.source;
    if (p.uid >= 0) doc.process_user_id = p.uid;
    const user = ctx.userName(p);
    if (user) doc.process_user_name = user;
    const parent = ctx.parentName(p);
    if (parent) doc.process_parent_name = parent;
    if (p.containerId) doc.container_id = p.containerId;
  }
  return doc;
}
