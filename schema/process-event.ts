// Process events (procflow-process-*), in the shape of Tetragon's process_exec / process_exit
// events: { process_exec: { process, parent }, node_name, time } and
// { process_exit: { process, parent, signal, status, time }, node_name, time }.
import type { DocOf, FieldTable } from './field-spec.js';

export const PROCESS_FIELDS = {
  exec_id: { type: 'keyword', required: true, description: 'unique id of this process start on this node' },
  pid: { type: 'long', required: true, min: 0, description: 'process id' },
  uid: { type: 'long', min: 0, max: 4_294_967_295, description: 'user id' },
  cwd: { type: 'keyword', ignoreAbove: 4096, description: 'working directory at exec' },
  binary: { type: 'keyword', required: true, ignoreAbove: 4096, description: 'executable path (the task name when unknown)' },
  arguments: { type: 'keyword', ignoreAbove: 8191, description: 'arguments after argv[0], space separated, redacted' },
  flags: { type: 'keyword', description: 'how the record was made: execve, procFS, taskname, truncArgs, ...' },
  start_time: { type: 'date', description: 'process start time' },
  parent_exec_id: { type: 'keyword', description: 'exec_id of the parent' },
  docker: { type: 'keyword', description: 'container id from the cgroup path' },
  cgroup_id: { type: 'keyword', description: 'cgroup v2 id' },
  pod: {
    type: 'object',
    description: 'Kubernetes pod, when known',
    fields: {
      namespace: { type: 'keyword', description: 'pod namespace' },
      name: { type: 'keyword', description: 'pod name' },
      pod_labels: { type: 'keyword', array: true, description: 'pod labels as key=value' },
      container: {
        type: 'object',
        description: 'container within the pod',
        fields: { id: { type: 'keyword', description: 'container id' } },
      },
    },
  },
} as const satisfies FieldTable;

export const PROCESS_EVENT_TYPES = ['process_exec', 'process_exit'] as const;
export type ProcessEventType = (typeof PROCESS_EVENT_TYPES)[number];

export const PROCESS_EVENT_FIELDS = {
  '@timestamp': { type: 'date', required: true, description: 'event time' },
  event_type: { type: 'keyword', required: true, description: 'process_exec or process_exit', ecs: 'event.action' },
  node_name: { type: 'keyword', required: true, description: 'node that saw the event', ecs: 'host.name' },
  time: { type: 'date', required: true, description: 'event time (Tetragon field)' },
  process_exec: {
    type: 'object',
    description: 'present on process_exec events',
    fields: {
      process: { type: 'object', required: true, description: 'the process that exec()ed', fields: PROCESS_FIELDS },
      parent: { type: 'object', description: 'its parent', fields: PROCESS_FIELDS },
    },
  },
  process_exit: {
    type: 'object',
    description: 'present on process_exit events',
    fields: {
      process: { type: 'object', required: true, description: 'the process that exited', fields: PROCESS_FIELDS },
      parent: { type: 'object', description: 'its parent', fields: PROCESS_FIELDS },
      signal: { type: 'keyword', description: 'terminating signal name, e.g. SIGKILL; absent on a normal exit' },
      status: { type: 'long', min: 0, max: 255, description: 'exit status (0-255)' },
      time: { type: 'date', description: 'exit time' },
    },
  },
} as const satisfies FieldTable;

export type ProcessInfo = DocOf<typeof PROCESS_FIELDS>;
export type ProcessEventDoc = DocOf<typeof PROCESS_EVENT_FIELDS>;
