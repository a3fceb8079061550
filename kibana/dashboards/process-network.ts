// "procflow: Process network activity": which executables (and arguments) talk to whom.
import type { DashboardSpec } from '../dashboard.js';
import type { LensSpec } from '../lens.js';
import type { SearchSpec } from '../search.js';

export const PROCESS_NETWORK_LENS: LensSpec<'flows'>[] = [
  {
    id: 'procflow-procnet-process-destinations',
    title: 'Executables and their destinations',
    description: 'Executable -> destination address and port, by bytes sent',
    dataView: 'flows',
    columns: {
      process: { op: 'terms', field: 'process_name', size: 20, orderBy: 'bytes_out', label: 'Executable' },
      dest: { op: 'terms', field: 'dest_ip', size: 10, orderBy: 'bytes_out', label: 'Destination IP', dataType: 'ip' },
      port: { op: 'terms', field: 'dest_port', size: 5, orderBy: 'bytes_out', label: 'Port', dataType: 'number' },
      bytes_out: { op: 'sum', field: 'bytes_out', label: 'Bytes out', format: 'bytes' },
      bytes_in: { op: 'sum', field: 'bytes_in', label: 'Bytes in', format: 'bytes' },
      flows: { op: 'sum', field: 'num_flows', label: 'Flows', format: 'number' },
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-procnet-process-args',
    title: 'Executables and arguments',
    description: 'Arguments each executable ran with, by bytes sent',
    dataView: 'flows',
    columns: {
      process: { op: 'terms', field: 'process_name', size: 20, orderBy: 'bytes_out', label: 'Executable' },
      args: { op: 'terms', field: 'process_args', size: 10, orderBy: 'bytes_out', label: 'Argument' },
      bytes_out: { op: 'sum', field: 'bytes_out', label: 'Bytes out', format: 'bytes' },
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-procnet-fanout',
    title: 'Executables by distinct destinations',
    description: 'How many different destination addresses each executable talked to',
    dataView: 'flows',
    columns: {
      process: { op: 'terms', field: 'process_name', size: 15, orderBy: 'dests', label: 'Executable' },
      dests: { op: 'unique_count', field: 'dest_ip', label: 'Distinct destinations' },
    },
    chart: { type: 'xy', seriesType: 'bar_horizontal', x: 'process', y: ['dests'] },
  },
  {
    id: 'procflow-procnet-bytes-by-process',
    title: 'Bytes sent by executable over time',
    description: 'Bytes sent per interval, split by the top executables',
    dataView: 'flows',
    columns: {
      time: { op: 'date_histogram', field: '@timestamp' },
      process: { op: 'terms', field: 'process_name', size: 5, orderBy: 'bytes_out', label: 'Executable' },
      bytes_out: { op: 'sum', field: 'bytes_out', label: 'Bytes out', format: 'bytes' },
    },
    chart: { type: 'xy', seriesType: 'bar_stacked', x: 'time', y: ['bytes_out'], split: 'process' },
  },
];

export const PROCESS_NETWORK_SEARCHES: SearchSpec<'flows'>[] = [
  {
    id: 'procflow-procnet-flows-search',
    title: 'procflow: flows with process',
    description: 'Flow logs with the executable and arguments that sent them',
    dataView: 'flows',
    columns: ['host', 'process_name', 'process_args', 'process_id', 'container_id', 'proto', 'source_ip', 'source_port', 'dest_ip', 'dest_port', 'bytes_out', 'bytes_in'],
  },
];

export const PROCESS_NETWORK: DashboardSpec = {
  id: 'procflow-process-network',
  title: 'procflow: Process network activity',
  description: 'Which executables and arguments talk to which destinations (procflow-flows-*)',
  controls: [
    { id: 'procflow-process-network-host', title: 'Host', dataView: 'flows', field: 'host' },
    { id: 'procflow-process-network-container', title: 'Container', dataView: 'flows', field: 'container_id' },
    { id: 'procflow-process-network-process', title: 'Executable', dataView: 'flows', field: 'process_name' },
  ],
  panels: [
    { ref: { type: 'lens', id: 'procflow-procnet-process-destinations' }, w: 48, h: 16 },
    { ref: { type: 'lens', id: 'procflow-procnet-process-args' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-procnet-fanout' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-procnet-bytes-by-process' }, w: 48, h: 12 },
    { ref: { type: 'search', id: 'procflow-procnet-flows-search' }, w: 48, h: 18 },
  ],
};
