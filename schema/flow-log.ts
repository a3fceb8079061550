// Flow log documents (procflow-flows-*): Calico Enterprise flow-log field names, plus
// @timestamp, process attribution, container and community id, with ECS aliases.
import type { DocOf, FieldSpec, FieldTable } from './field-spec.js';

/** The workload and container fields of one side of a flow (Calico's source_/dest_ prefixes). */
const sideIdentity = <P extends 'source' | 'dest'>(side: P) =>
  ({
    [`${side}_workload`]: { type: 'keyword', description: `${side} pod's workload: its controller, a ReplicaSet resolved to its Deployment; the pod's name when bare` },
    [`${side}_workload_kind`]: { type: 'keyword', description: `kind of the ${side} workload: Deployment, DaemonSet, StatefulSet, Job, ReplicaSet, Pod, ...` },
    [`${side}_container_name`]: { type: 'keyword', description: `${side} container name: the process's container on this host's side, the container that declares the port (or the only one) on a peer pod` },
    [`${side}_container_image`]: { type: 'keyword', description: `${side} container image as the pod spec names it` },
    [`${side}_container_image_id`]: { type: 'keyword', docValuesOnly: true, description: `${side} container image id with its digest` },
  }) as { [K in `${P}_workload` | `${P}_workload_kind` | `${P}_container_name` | `${P}_container_image` | `${P}_container_image_id`]: { type: 'keyword'; docValuesOnly?: true; description: string } };

// TCP statistics are counts, times and sizes: never negative. Like the other counters they are
// summed and charted, rarely filtered on: doc values only (see FieldSpec.docValuesOnly).
const tcpStat = (description: string): FieldSpec => ({ type: 'long', min: 0, docValuesOnly: true, description });

export const FLOW_LOG_FIELDS = {
  '@timestamp': { type: 'date', required: true, description: 'end of the aggregation interval' },
  start_time: { type: 'date', docValuesOnly: true, required: true, description: 'start of the aggregation interval', ecs: 'event.start' },
  end_time: { type: 'date', docValuesOnly: true, required: true, description: 'end of the aggregation interval', ecs: 'event.end' },
  host: { type: 'keyword', required: true, description: 'node that reported the flow (ECS host.name cannot alias it: host is a leaf here)' },
  source_ip: { type: 'ip', description: 'source IP address; absent when aggregated away', ecs: 'source.ip' },
  source_port: { type: 'long', docValuesOnly: true, min: 0, max: 65_535, description: 'source port; absent when aggregated away', ecs: 'source.port' },
  source_name: { type: 'keyword', required: true, description: 'source endpoint name (pod, host or "-")' },
  source_name_aggr: { type: 'keyword', required: true, description: 'source aggregated name (pod prefix, host, or pub/pvt)' },
  source_namespace: { type: 'keyword', required: true, description: 'source namespace, "-" outside Kubernetes' },
  source_type: { type: 'keyword', required: true, description: 'source endpoint type: wep, hep, net (Calico)' },
  source_labels: { type: 'keyword', array: true, description: 'source endpoint labels as key=value' },
  dest_ip: { type: 'ip', description: 'dest IP address; absent when aggregated away', ecs: 'destination.ip' },
  dest_port: { type: 'long', min: 0, max: 65_535, description: 'dest port; absent when aggregated away', ecs: 'destination.port' },
  dest_name: { type: 'keyword', required: true, description: 'dest endpoint name (pod, host or "-")' },
  dest_name_aggr: { type: 'keyword', required: true, description: 'dest aggregated name (pod prefix, host, or pub/pvt)' },
  dest_namespace: { type: 'keyword', required: true, description: 'dest namespace, "-" outside Kubernetes' },
  dest_type: { type: 'keyword', required: true, description: 'dest endpoint type: wep, hep, net (Calico)' },
  dest_labels: { type: 'keyword', array: true, description: 'dest endpoint labels as key=value' },
  ...sideIdentity('source'),
  ...sideIdentity('dest'),
  dest_domains: { type: 'keyword', array: true, description: 'domain names the destination address was resolved from on this host (DNS answers seen by the agent, the queried name first, then its CNAMEs), at most --flow-domains-limit', ecs: 'destination.domain' },
  dest_service_name: { type: 'keyword', description: 'Kubernetes Service the destination stands for (its ClusterIP before DNAT, or one of its backends after)', ecs: 'service.target.name' },
  dest_service_namespace: { type: 'keyword', description: 'namespace of that Service' },
  dest_service_port: { type: 'keyword', description: 'name of the Service port ("-" when the port is unnamed)' },
  dest_service_port_num: { type: 'long', docValuesOnly: true, min: 0, max: 65_535, description: 'the Service port number (the port clients connect to); absent when aggregated away' },
  proto: { type: 'keyword', required: true, description: 'transport protocol: tcp, udp', ecs: 'network.transport' },
  reporter: { type: 'keyword', required: true, description: 'src when the reporting host is the source, dst when it is the destination' },
  bytes_in: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'bytes received by the reporter' },
  bytes_out: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'bytes sent by the reporter' },
  packets_in: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'packets (socket messages) received by the reporter' },
  packets_out: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'packets (socket messages) sent by the reporter' },
  num_flows: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'flows aggregated into this log' },
  num_flows_started: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'flows started in the interval' },
  num_flows_completed: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'flows completed in the interval' },
  process_name: { type: 'keyword', required: true, ignoreAbove: 4096, description: 'executable path; the task name when no path could be collected; "*" when over the per-flow limit; "-" when no process owned the socket', ecs: 'process.executable' },
  num_process_names: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'distinct process names in this flow' },
  process_id: { type: 'keyword', required: true, pattern: /^(?:\d+|\*|-)$/, patternText: 'a process id (digits), "*" or "-"', description: 'process id; "*" when several, "-" when unknown' },
  num_process_ids: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'distinct process ids in this flow' },
  process_args: { type: 'keyword', array: true, ignoreAbove: 8191, description: 'arguments (redacted); "*" when over the per-flow limit', ecs: 'process.args' },
  num_process_args: { type: 'long', docValuesOnly: true, required: true, min: 0, description: 'distinct argument lists in this flow' },
  process_exec_id: { type: 'keyword', description: 'exec_id joining the flow to procflow-process-* events', ecs: 'process.entity_id' },
  process_source: { type: 'keyword', description: 'where the attribution came from: kernel, procfs, taskname' },
  process_args_truncated: { type: 'boolean', description: 'the argument list was cut at the capture limit' },
  process_user_id: { type: 'long', min: 0, max: 4_294_967_295, description: 'uid of the process', ecs: 'user.id' },
  process_user_name: { type: 'keyword', description: "user the process runs as, from the passwd file of its own root, else the numeric uid; \"*\" when the processes of this log differ", ecs: 'user.name' },
  process_parent_name: { type: 'keyword', ignoreAbove: 4096, description: 'executable of the parent image (the previous image after an exec without fork); "*" when the processes of this log differ', ecs: 'process.parent.executable' },
  container_id: { type: 'keyword', description: 'container id from the cgroup path', ecs: 'container.id' },
  community_id: { type: 'keyword', docValuesOnly: true, description: 'Community ID flow hash (v1)', ecs: 'network.community_id' },
  tcp_mean_send_congestion_window: tcpStat('mean send congestion window (segments)'),
  tcp_min_send_congestion_window: tcpStat('minimum send congestion window (segments)'),
  tcp_mean_smooth_rtt: tcpStat('mean smoothed RTT (microseconds)'),
  tcp_max_smooth_rtt: tcpStat('maximum smoothed RTT (microseconds)'),
  tcp_mean_min_rtt: tcpStat('mean minimum RTT (microseconds)'),
  tcp_max_min_rtt: tcpStat('maximum minimum RTT (microseconds)'),
  tcp_mean_mss: tcpStat('mean MSS (bytes)'),
  tcp_min_mss: tcpStat('minimum MSS (bytes)'),
  tcp_total_retransmissions: tcpStat('retransmitted segments'),
  tcp_lost_packets: tcpStat('segments the stack counted as lost'),
} as const satisfies FieldTable;

export type FlowLog = DocOf<typeof FLOW_LOG_FIELDS>;

/** Fields that identify a flow log; their values make the deterministic document id. */
export const FLOW_LOG_ID_FIELDS = [
  'host', 'start_time', 'end_time', 'reporter', 'proto',
  'source_ip', 'source_port', 'source_name_aggr', 'source_namespace',
  'dest_ip', 'dest_port', 'dest_name_aggr', 'dest_namespace',
  'process_name', 'process_id', 'process_exec_id',
] as const satisfies readonly (keyof FlowLog)[];
