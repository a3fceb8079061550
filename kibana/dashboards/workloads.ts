// "procflow: Workloads and Services": traffic by Kubernetes workload and by the Service it went
// to, and who (parent image, user) launched the processes behind it.
import type { DashboardSpec } from '../dashboard.js';
import type { LensSpec } from '../lens.js';

const bytes = { op: 'sum', field: 'bytes_out', label: 'Bytes out', format: 'bytes' } as const;

export const WORKLOADS_LENS: LensSpec<'flows'>[] = [
  {
    id: 'procflow-workloads-source-dest',
    title: 'Workload to workload',
    description: 'Source workload -> destination workload, by bytes sent (pods of a Deployment count as one)',
    dataView: 'flows',
    query: 'reporter : "src" and source_workload : *',
    columns: {
      src: { op: 'terms', field: 'source_workload', size: 15, orderBy: 'bytes_out', label: 'Source workload' },
      src_kind: { op: 'terms', field: 'source_workload_kind', size: 3, orderBy: 'bytes_out', label: 'Kind' },
      dst: { op: 'terms', field: 'dest_workload', size: 10, orderBy: 'bytes_out', label: 'Destination workload' },
      bytes_out: bytes,
      flows: { op: 'sum', field: 'num_flows', label: 'Flows', format: 'number' },
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-workloads-by-service',
    title: 'Traffic by Service',
    description: 'Bytes sent to each Kubernetes Service (its ClusterIP or its backends) and Service port',
    dataView: 'flows',
    query: 'reporter : "src" and dest_service_name : *',
    columns: {
      ns: { op: 'terms', field: 'dest_service_namespace', size: 10, orderBy: 'bytes_out', label: 'Namespace' },
      svc: { op: 'terms', field: 'dest_service_name', size: 15, orderBy: 'bytes_out', label: 'Service' },
      port: { op: 'terms', field: 'dest_service_port', size: 5, orderBy: 'bytes_out', label: 'Port name' },
      bytes_out: bytes,
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-workloads-service-over-time',
    title: 'Services over time',
    description: 'Bytes sent to the busiest Services per interval',
    dataView: 'flows',
    query: 'reporter : "src" and dest_service_name : *',
    columns: {
      time: { op: 'date_histogram', field: '@timestamp' },
      svc: { op: 'terms', field: 'dest_service_name', size: 8, orderBy: 'bytes_out', label: 'Service' },
      bytes_out: bytes,
    },
    chart: { type: 'xy', seriesType: 'bar_stacked', x: 'time', y: ['bytes_out'], split: 'svc' },
  },
  {
    id: 'procflow-workloads-containers',
    title: 'Containers and images talking',
    description: 'The process side of each flow: container and image, by bytes sent',
    dataView: 'flows',
    query: 'reporter : "src" and source_container_name : *',
    columns: {
      container: { op: 'terms', field: 'source_container_name', size: 15, orderBy: 'bytes_out', label: 'Container' },
      image: { op: 'terms', field: 'source_container_image', size: 5, orderBy: 'bytes_out', label: 'Image' },
      bytes_out: bytes,
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-workloads-launchers',
    title: 'Who launched the talkers',
    description: 'Parent image and user of the processes behind flows, by bytes sent',
    dataView: 'flows',
    columns: {
      parent: { op: 'terms', field: 'process_parent_name', size: 10, orderBy: 'bytes_out', label: 'Parent' },
      process: { op: 'terms', field: 'process_name', size: 10, orderBy: 'bytes_out', label: 'Executable' },
      user: { op: 'terms', field: 'process_user_name', size: 5, orderBy: 'bytes_out', label: 'User' },
      bytes_out: bytes,
    },
    chart: { type: 'table' },
  },
];

const lens = (id: string) => ({ type: 'lens' as const, id });

export const WORKLOADS: DashboardSpec = {
  id: 'procflow-workloads',
  title: 'procflow: Workloads and Services',
  description: 'Flows by Kubernetes workload, Service, container and image, and who launched the processes (procflow-flows-*)',
  controls: [
    { id: 'procflow-workloads-namespace', title: 'Namespace', dataView: 'flows', field: 'source_namespace' },
    { id: 'procflow-workloads-workload', title: 'Workload', dataView: 'flows', field: 'source_workload' },
    { id: 'procflow-workloads-service', title: 'Service', dataView: 'flows', field: 'dest_service_name' },
  ],
  panels: [
    { ref: lens('procflow-workloads-source-dest'), w: 24, h: 16 },
    { ref: lens('procflow-workloads-by-service'), w: 24, h: 16 },
    { ref: lens('procflow-workloads-service-over-time'), w: 48, h: 12 },
    { ref: lens('procflow-workloads-containers'), w: 24, h: 14 },
    { ref: lens('procflow-workloads-launchers'), w: 24, h: 14 },
  ],
};
