// DNS log documents (procflow-dns-*): Calico Enterprise's DNS log field names, aggregated per
// interval the same way (one document per client process, client, server, question, response
// code and answers), plus the process that asked and ECS aliases. Values follow Calico too:
// rcode "NoError", "NXDomain", qtype "A", qclass "IN".
import type { DocOf, FieldSpec, FieldTable } from './field-spec.js';

// Latencies and counts are charted, rarely filtered on: doc values only (FieldSpec.docValuesOnly).
const nanos = (description: string): FieldSpec => ({ type: 'long', min: 0, docValuesOnly: true, description });

export const DNS_LOG_FIELDS = {
  '@timestamp': { type: 'date', required: true, description: 'end of the aggregation interval' },
  start_time: { type: 'date', docValuesOnly: true, required: true, description: 'start of the aggregation interval', ecs: 'event.start' },
  end_time: { type: 'date', docValuesOnly: true, required: true, description: 'end of the aggregation interval', ecs: 'event.end' },
  host: { type: 'keyword', required: true, description: 'node that saw the messages (the client\'s node)' },
  type: { type: 'keyword', required: true, description: 'log (Calico\'s type: one aggregated DNS log)' },
  count: { type: 'long', docValuesOnly: true, required: true, min: 1, description: 'responses aggregated into this log' },
  proto: { type: 'keyword', required: true, description: 'transport the messages used: udp, tcp; unix for a lookup through a local resolver\'s socket (nscd, systemd-resolved\'s varlink service), which has no client_ip and names the resolver in servers', ecs: 'network.transport' },
  client_ip: { type: 'ip', description: 'address the query came from (absent for proto unix)', ecs: 'client.ip' },
  client_name: { type: 'keyword', required: true, description: 'client endpoint name: its pod, else this host' },
  client_name_aggr: { type: 'keyword', required: true, description: 'client aggregated name: pod prefix or host' },
  client_namespace: { type: 'keyword', required: true, description: 'client pod namespace, "-" outside Kubernetes' },
  client_labels: { type: 'keyword', array: true, description: 'client pod labels as key=value' },
  client_workload: { type: 'keyword', description: "client pod's workload (a ReplicaSet resolved to its Deployment)" },
  client_workload_kind: { type: 'keyword', description: 'kind of the client workload' },
  client_container_name: { type: 'keyword', description: 'container of the asking process', ecs: 'container.name' },
  client_container_image: { type: 'keyword', description: 'that container\'s image as the pod spec names it', ecs: 'container.image.name' },
  servers: {
    type: 'object',
    array: true,
    description: 'the DNS server the query went to (Calico\'s servers; one per log here, since the server is part of the aggregation)',
    fields: {
      ip: { type: 'ip', description: 'server address', ecs: 'server.ip' },
      port: { type: 'long', min: 0, max: 65_535, description: 'server port', ecs: 'server.port' },
      name: { type: 'keyword', description: 'server endpoint name: its pod, this host, or "-"; nscd or systemd-resolved for proto unix' },
      name_aggr: { type: 'keyword', description: 'server aggregated name: pod prefix, host, or pub/pvt' },
      namespace: { type: 'keyword', description: 'server pod namespace, "-" outside Kubernetes' },
    },
  },
  qname: { type: 'keyword', required: true, ignoreAbove: 1024, description: 'the queried name, lower case, without the final dot; "" for a response without a question', ecs: 'dns.question.name' },
  qclass: { type: 'keyword', required: true, description: 'query class: IN, CH, ...; #N when unassigned', ecs: 'dns.question.class' },
  qtype: { type: 'keyword', required: true, description: 'query type: A, AAAA, CNAME, ...; #N when not known', ecs: 'dns.question.type' },
  rcode: { type: 'keyword', required: true, description: 'response code: NoError, NXDomain, ServFail, Refused, ...; #N when unassigned', ecs: 'dns.response_code' },
  rrsets: {
    type: 'object',
    array: true,
    description: 'the answer section as record sets (one per name, class and type), sorted',
    fields: {
      name: { type: 'keyword', ignoreAbove: 1024, description: 'owner name', ecs: 'dns.answers.name' },
      class: { type: 'keyword', description: 'record class', ecs: 'dns.answers.class' },
      type: { type: 'keyword', description: 'record type', ecs: 'dns.answers.type' },
      rdata: { type: 'keyword', array: true, ignoreAbove: 1024, description: 'record data, sorted: an address, a name, text; base64 for types without a text form', ecs: 'dns.answers.data' },
    },
  },
  dns_resolved_ip: { type: 'ip', array: true, description: 'the addresses in the answers (A and AAAA)', ecs: 'dns.resolved_ip' },
  latency_count: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'responses whose query was seen, so their latency measured' },
  latency_mean: nanos('mean latency, query to response (nanoseconds)'),
  latency_max: nanos('largest latency (nanoseconds)'),
  latency_min: nanos('smallest latency (nanoseconds)'),
  latency_p50: nanos('median latency (nanoseconds, within about 6%)'),
  latency_p90: nanos('90th percentile latency (nanoseconds, within about 6%)'),
  latency_p99: nanos('99th percentile latency (nanoseconds, within about 6%)'),
  process_name: { type: 'keyword', required: true, ignoreAbove: 4096, description: 'executable path of the process that asked; the task name when no path could be collected; "-" when the socket\'s owner was not seen', ecs: 'process.executable' },
  process_id: { type: 'keyword', required: true, pattern: /^(?:\d+|-)$/, patternText: 'a process id (digits) or "-"', description: 'process id of the process that asked; "-" when unknown' },
  process_args: { type: 'keyword', array: true, ignoreAbove: 8191, description: 'its arguments (redacted)', ecs: 'process.args' },
  process_exec_id: { type: 'keyword', description: 'exec_id joining the log to procflow-process-* events and flows', ecs: 'process.entity_id' },
  process_source: { type: 'keyword', description: 'where the attribution came from: kernel, procfs, taskname' },
  process_user_id: { type: 'long', min: 0, max: 4_294_967_295, description: 'uid of the process', ecs: 'user.id' },
  process_user_name: { type: 'keyword', description: 'user the process runs as', ecs: 'user.name' },
  process_parent_name: { type: 'keyword', ignoreAbove: 4096, description: 'executable of its parent image', ecs: 'process.parent.executable' },
  container_id: { type: 'keyword', description: 'container id from the cgroup path', ecs: 'container.id' },
} as const satisfies FieldTable;

export type DnsLog = DocOf<typeof DNS_LOG_FIELDS>;

/** Fields that identify a DNS log (with the rrsets); their values make the deterministic id. */
export const DNS_LOG_ID_FIELDS = [
  'host', 'start_time', 'end_time', 'proto', 'client_ip', 'servers', 'qname', 'qclass', 'qtype', 'rcode', 'rrsets',
  'process_name', 'process_id', 'process_exec_id',
] as const satisfies readonly (keyof DnsLog)[];
