// Process events (procflow-process-*), in the shape of Tetragon's process_exec / process_exit
// events: { process_exec: { process, parent }, node_name, time } and
// { process_exit: { process, parent, signal, status, time }, node_name, time }.
import { withoutEcs, type DocOf, type FieldTable } from './field-spec.js';

const id32 = (description: string) => ({ type: 'long', min: 0, max: 4_294_967_295, description }) as const;

/** One namespace: its inode number and whether it is the host's (Tetragon's Namespace). */
const namespace = (what: string) => ({
  type: 'object',
  description: `${what} namespace`,
  fields: {
    inum: { type: 'long', min: 0, max: 4_294_967_295, description: 'namespace inode number (as /proc/PID/ns links name it)' },
    is_host: { type: 'boolean', description: "the host's namespace (that of pid 1)" },
  },
}) as const;

const capabilitySet = (what: string) => ({ type: 'keyword', array: true, description: `${what} capabilities, e.g. CAP_NET_ADMIN` }) as const;

export const PROCESS_FIELDS = {
  exec_id: { type: 'keyword', required: true, description: 'unique id of this process image on this node: a new one at every exec, as Tetragon', ecs: 'process.entity_id' },
  pid: { type: 'long', required: true, min: 0, description: 'process id', ecs: 'process.pid' },
  uid: id32('real user id'),
  auid: id32('audit login user id (loginuid), 4294967295 when no login set it'),
  cwd: { type: 'keyword', ignoreAbove: 4096, description: 'working directory at exec', ecs: 'process.working_directory' },
  binary: { type: 'keyword', required: true, ignoreAbove: 4096, description: 'executable path (the task name when unknown)', ecs: 'process.executable' },
  arguments: { type: 'keyword', ignoreAbove: 8191, description: 'arguments after argv[0], space separated, redacted' },
  flags: { type: 'keyword', description: 'how the record was made, as Tetragon: execve, clone (exec after fork), procFS, rootcwd, truncArgs, errorFilename, errorArgs, errorCWD, errorCgroupID, taskname (no path: the task name stands in)' },
  start_time: { type: 'date', description: 'when this image started: the exec, or the fork for a process that has not exec()ed' },
  parent_exec_id: { type: 'keyword', description: 'exec_id of the parent: the previous image after an exec without fork, else the forking process', ecs: 'process.parent.entity_id' },
  docker: { type: 'keyword', description: 'container id from the cgroup path' },
  cgroup_id: { type: 'keyword', description: 'cgroup v2 id' },
  user: {
    type: 'object',
    description: 'the user the process runs as',
    fields: { name: { type: 'keyword', description: "user name from the passwd file of the process's own root, else the numeric uid", ecs: 'user.name' } },
  },
  process_credentials: {
    type: 'object',
    description: 'the ids the image runs with (setuid and setgid applied)',
    fields: {
      uid: id32('real user id'),
      gid: id32('real group id'),
      euid: id32('effective user id'),
      egid: id32('effective group id'),
      suid: id32('saved user id'),
      sgid: id32('saved group id'),
      fsuid: id32('filesystem user id'),
      fsgid: id32('filesystem group id'),
    },
  },
  cap: {
    type: 'object',
    description: 'capability sets (opt-in: --process-capabilities)',
    fields: { permitted: capabilitySet('permitted'), effective: capabilitySet('effective'), inheritable: capabilitySet('inheritable') },
  },
  ns: {
    type: 'object',
    description: 'Linux namespaces (opt-in: --process-namespaces)',
    fields: {
      uts: namespace('UTS'),
      ipc: namespace('IPC'),
      mnt: namespace('mount'),
      pid: namespace('PID'),
      pid_for_children: namespace("children's PID"),
      net: namespace('network'),
      time: namespace('time'),
      time_for_children: namespace("children's time"),
      cgroup: namespace('cgroup'),
      user: namespace('user'),
    },
  },
  pod: {
    type: 'object',
    description: 'Kubernetes pod, when known',
    fields: {
      namespace: { type: 'keyword', description: 'pod namespace', ecs: 'orchestrator.namespace' },
      name: { type: 'keyword', description: 'pod name' },
      pod_labels: { type: 'flattened', description: 'pod labels as a map (filter with pod_labels.<key>: <value>)' },
      workload: { type: 'keyword', description: "the pod's workload: its controller, a ReplicaSet resolved to its Deployment; the pod's name when bare" },
      workload_kind: { type: 'keyword', description: 'Deployment, DaemonSet, StatefulSet, Job, ReplicaSet, Pod, ...' },
      container: {
        type: 'object',
        description: 'container within the pod',
        fields: {
          id: { type: 'keyword', description: 'container id', ecs: 'container.id' },
          name: { type: 'keyword', description: 'container name', ecs: 'container.name' },
          image: {
            type: 'object',
            description: "the container's image",
            fields: {
              id: { type: 'keyword', description: 'image id with its digest, e.g. docker.io/library/nginx@sha256:...', ecs: 'container.image.hash.all' },
              name: { type: 'keyword', description: 'image name as the pod spec gives it, e.g. nginx:1.27', ecs: 'container.image.name' },
            },
          },
        },
      },
    },
  },
} as const satisfies FieldTable;

/** The same fields for the parent and the ancestors: ECS names describe the event's own process only. */
const RELATIVE_FIELDS = withoutEcs(PROCESS_FIELDS);

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
      parent: { type: 'object', description: 'its parent: the previous image after an exec without fork', fields: RELATIVE_FIELDS },
      ancestors: { type: 'object', array: true, description: 'ancestors beyond the parent, nearest first (opt-in: --process-ancestors)', fields: RELATIVE_FIELDS },
    },
  },
  process_exit: {
    type: 'object',
    description: 'present on process_exit events',
    fields: {
      process: { type: 'object', required: true, description: 'the process that exited', fields: PROCESS_FIELDS },
      parent: { type: 'object', description: 'its parent', fields: RELATIVE_FIELDS },
      ancestors: { type: 'object', array: true, description: 'ancestors beyond the parent, nearest first (opt-in: --process-ancestors)', fields: RELATIVE_FIELDS },
      signal: { type: 'keyword', description: 'terminating signal name, e.g. SIGKILL; absent on a normal exit' },
      status: { type: 'long', min: 0, max: 255, description: 'exit status (0-255)' },
      time: { type: 'date', description: 'exit time' },
    },
  },
} as const satisfies FieldTable;

export type ProcessInfo = DocOf<typeof PROCESS_FIELDS>;
export type ProcessEventDoc = DocOf<typeof PROCESS_EVENT_FIELDS>;
