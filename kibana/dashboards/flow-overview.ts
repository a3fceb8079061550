// "procflow: Flow overview": how much traffic, between whom, from which processes, over what.
import type { DashboardSpec } from '../dashboard.js';
import type { LensSpec } from '../lens.js';

const TIME = { op: 'date_histogram', field: '@timestamp' } as const;

export const FLOW_OVERVIEW_LENS: LensSpec<'flows'>[] = [
  {
    id: 'procflow-flows-bytes-total',
    title: 'Bytes sent',
    description: 'Total bytes sent by the reporting hosts in the time range',
    dataView: 'flows',
    columns: { bytes_out: { op: 'sum', field: 'bytes_out', label: 'Bytes sent', format: 'bytes' } },
    chart: { type: 'metric', metric: 'bytes_out' },
  },
  {
    id: 'procflow-flows-count-total',
    title: 'Flows',
    description: 'Flows seen in the time range',
    dataView: 'flows',
    columns: { flows: { op: 'sum', field: 'num_flows', label: 'Flows', format: 'number' } },
    chart: { type: 'metric', metric: 'flows' },
  },
  {
    id: 'procflow-flows-distinct-processes',
    title: 'Executables talking',
    description: 'Distinct executables that sent or received bytes',
    dataView: 'flows',
    columns: { processes: { op: 'unique_count', field: 'process_name', label: 'Executables' } },
    chart: { type: 'metric', metric: 'processes' },
  },
  {
    id: 'procflow-flows-bytes-over-time',
    title: 'Bytes in and out over time',
    description: 'Bytes received and sent per interval',
    dataView: 'flows',
    columns: {
      time: TIME,
      bytes_out: { op: 'sum', field: 'bytes_out', label: 'Bytes out', format: 'bytes' },
      bytes_in: { op: 'sum', field: 'bytes_in', label: 'Bytes in', format: 'bytes' },
    },
    chart: { type: 'xy', seriesType: 'area', x: 'time', y: ['bytes_out', 'bytes_in'] },
  },
  {
    id: 'procflow-flows-top-sources',
    title: 'Top source talkers',
    description: 'Source addresses by bytes sent',
    dataView: 'flows',
    columns: {
      source: { op: 'terms', field: 'source_ip', size: 10, orderBy: 'bytes_out', label: 'Source IP', dataType: 'ip' },
      bytes_out: { op: 'sum', field: 'bytes_out', label: 'Bytes out', format: 'bytes' },
      bytes_in: { op: 'sum', field: 'bytes_in', label: 'Bytes in', format: 'bytes' },
      flows: { op: 'sum', field: 'num_flows', label: 'Flows', format: 'number' },
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-flows-top-destinations',
    title: 'Top destination talkers',
    description: 'Destination addresses and ports by bytes sent to them',
    dataView: 'flows',
    columns: {
      dest: { op: 'terms', field: 'dest_ip', size: 10, orderBy: 'bytes_out', label: 'Destination IP', dataType: 'ip' },
      port: { op: 'terms', field: 'dest_port', size: 3, orderBy: 'bytes_out', label: 'Port', dataType: 'number' },
      bytes_out: { op: 'sum', field: 'bytes_out', label: 'Bytes out', format: 'bytes' },
      bytes_in: { op: 'sum', field: 'bytes_in', label: 'Bytes in', format: 'bytes' },
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-flows-top-processes',
    title: 'Top processes by bytes',
    description: 'Executables by bytes sent',
    dataView: 'flows',
    columns: {
      process: { op: 'terms', field: 'process_name', size: 10, orderBy: 'bytes_out', label: 'Executable' },
      bytes_out: { op: 'sum', field: 'bytes_out', label: 'Bytes out', format: 'bytes' },
    },
    chart: { type: 'xy', seriesType: 'bar_horizontal', x: 'process', y: ['bytes_out'] },
  },
  {
    id: 'procflow-flows-protocols',
    title: 'Protocols',
    description: 'Flows by transport protocol',
    dataView: 'flows',
    columns: {
      proto: { op: 'terms', field: 'proto', size: 5, orderBy: 'flows', label: 'Protocol' },
      flows: { op: 'sum', field: 'num_flows', label: 'Flows', format: 'number' },
    },
    chart: { type: 'pie', groups: ['proto'], metric: 'flows' },
  },
  {
    id: 'procflow-flows-ports',
    title: 'Destination ports',
    description: 'Destination ports by flows, split by protocol',
    dataView: 'flows',
    columns: {
      port: { op: 'terms', field: 'dest_port', size: 15, orderBy: 'flows', label: 'Destination port', dataType: 'number' },
      proto: { op: 'terms', field: 'proto', size: 3, orderBy: 'flows', label: 'Protocol' },
      flows: { op: 'sum', field: 'num_flows', label: 'Flows', format: 'number' },
    },
    chart: { type: 'xy', seriesType: 'bar_stacked', x: 'port', y: ['flows'], split: 'proto' },
  },
  {
    id: 'procflow-flows-tcp-retransmissions',
    title: 'TCP retransmissions and lost segments',
    description: 'Retransmitted and lost TCP segments per interval',
    dataView: 'flows',
    query: 'proto : "tcp"',
    columns: {
      time: TIME,
      retrans: { op: 'sum', field: 'tcp_total_retransmissions', label: 'Retransmissions', format: 'number' },
      lost: { op: 'sum', field: 'tcp_lost_packets', label: 'Lost segments', format: 'number' },
    },
    chart: { type: 'xy', seriesType: 'bar_stacked', x: 'time', y: ['retrans', 'lost'] },
  },
  {
    id: 'procflow-flows-tcp-rtt',
    title: 'TCP round-trip time',
    description: 'Mean and worst smoothed RTT per interval (microseconds)',
    dataView: 'flows',
    query: 'proto : "tcp" and tcp_mean_smooth_rtt > 0',
    columns: {
      time: TIME,
      mean_rtt: { op: 'average', field: 'tcp_mean_smooth_rtt', label: 'Mean smoothed RTT (µs)', format: 'number' },
      max_rtt: { op: 'max', field: 'tcp_max_smooth_rtt', label: 'Max smoothed RTT (µs)', format: 'number' },
    },
    chart: { type: 'xy', seriesType: 'line', x: 'time', y: ['mean_rtt', 'max_rtt'] },
  },
  {
    id: 'procflow-flows-started-completed',
    title: 'Flows started vs completed',
    description: 'Connections opened and closed per interval',
    dataView: 'flows',
    columns: {
      time: TIME,
      started: { op: 'sum', field: 'num_flows_started', label: 'Started', format: 'number' },
      completed: { op: 'sum', field: 'num_flows_completed', label: 'Completed', format: 'number' },
    },
    chart: { type: 'xy', seriesType: 'line', x: 'time', y: ['started', 'completed'] },
  },
];

const lens = (id: string) => ({ type: 'lens' as const, id });

export const FLOW_OVERVIEW: DashboardSpec = {
  id: 'procflow-flow-overview',
  title: 'procflow: Flow overview',
  description: 'Bytes in and out, top talkers, top processes, protocols and ports, TCP health (procflow-flows-*)',
  controls: [
    { id: 'procflow-flow-overview-host', title: 'Host', dataView: 'flows', field: 'host' },
    { id: 'procflow-flow-overview-proto', title: 'Protocol', dataView: 'flows', field: 'proto' },
  ],
  panels: [
    { ref: lens('procflow-flows-bytes-total'), w: 16, h: 6 },
    { ref: lens('procflow-flows-count-total'), w: 16, h: 6 },
    { ref: lens('procflow-flows-distinct-processes'), w: 16, h: 6 },
    { ref: lens('procflow-flows-bytes-over-time'), w: 48, h: 12 },
    { ref: lens('procflow-flows-top-sources'), w: 24, h: 14 },
    { ref: lens('procflow-flows-top-destinations'), w: 24, h: 14 },
    { ref: lens('procflow-flows-top-processes'), w: 24, h: 14 },
    { ref: lens('procflow-flows-protocols'), w: 12, h: 14 },
    { ref: lens('procflow-flows-ports'), w: 12, h: 14 },
    { ref: lens('procflow-flows-tcp-retransmissions'), w: 24, h: 12 },
    { ref: lens('procflow-flows-tcp-rtt'), w: 24, h: 12 },
    { ref: lens('procflow-flows-started-completed'), w: 48, h: 10 },
  ],
};
