// "procflow: Process lifecycle": exec and exit events, busy binaries, failures, parent/child.
import type { DashboardSpec } from '../dashboard.js';
import type { LensSpec } from '../lens.js';
import type { SearchSpec } from '../search.js';

export const PROCESS_LIFECYCLE_LENS: LensSpec<'process'>[] = [
  {
    id: 'procflow-lifecycle-events-over-time',
    title: 'Exec and exit events over time',
    description: 'process_exec and process_exit events per interval',
    dataView: 'process',
    columns: {
      time: { op: 'date_histogram', field: '@timestamp' },
      type: { op: 'terms', field: 'event_type', size: 2, orderBy: 'events', label: 'Event' },
      events: { op: 'count', label: 'Events' },
    },
    chart: { type: 'xy', seriesType: 'bar_stacked', x: 'time', y: ['events'], split: 'type' },
  },
  {
    id: 'procflow-lifecycle-top-binaries',
    title: 'Top executed binaries',
    description: 'Binaries by number of exec events',
    dataView: 'process',
    query: 'event_type : "process_exec"',
    columns: {
      binary: { op: 'terms', field: 'process_exec.process.binary', size: 15, orderBy: 'execs', label: 'Binary' },
      execs: { op: 'count', label: 'Execs' },
    },
    chart: { type: 'xy', seriesType: 'bar_horizontal', x: 'binary', y: ['execs'] },
  },
  {
    id: 'procflow-lifecycle-nonzero-exits',
    title: 'Non-zero exit codes',
    description: 'Binaries that exited with a non-zero status, by status',
    dataView: 'process',
    query: 'event_type : "process_exit" and process_exit.status > 0',
    columns: {
      binary: { op: 'terms', field: 'process_exit.process.binary', size: 15, orderBy: 'exits', label: 'Binary' },
      status: { op: 'terms', field: 'process_exit.status', size: 5, orderBy: 'exits', label: 'Exit status', dataType: 'number' },
      exits: { op: 'count', label: 'Exits' },
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-lifecycle-signals',
    title: 'Killed by signal',
    description: 'Exits caused by a signal, by signal and binary',
    dataView: 'process',
    query: 'event_type : "process_exit" and process_exit.signal : *',
    columns: {
      signal: { op: 'terms', field: 'process_exit.signal', size: 10, orderBy: 'exits', label: 'Signal' },
      binary: { op: 'terms', field: 'process_exit.process.binary', size: 10, orderBy: 'exits', label: 'Binary' },
      exits: { op: 'count', label: 'Exits' },
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-lifecycle-parent-child',
    title: 'Parent and child binaries',
    description: 'Which parents start which binaries',
    dataView: 'process',
    query: 'event_type : "process_exec"',
    columns: {
      parent: { op: 'terms', field: 'process_exec.parent.binary', size: 15, orderBy: 'execs', label: 'Parent binary' },
      child: { op: 'terms', field: 'process_exec.process.binary', size: 10, orderBy: 'execs', label: 'Child binary' },
      execs: { op: 'count', label: 'Execs' },
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-lifecycle-ancestry',
    title: 'Process tree',
    description: 'Ancestors (with --process-ancestors), parent and binary of each exec: the branches of the process tree that ran',
    dataView: 'process',
    query: 'event_type : "process_exec"',
    columns: {
      ancestor: { op: 'terms', field: 'process_exec.ancestors.binary', size: 10, orderBy: 'execs', label: 'Ancestor binary' },
      parent: { op: 'terms', field: 'process_exec.parent.binary', size: 10, orderBy: 'execs', label: 'Parent binary' },
      child: { op: 'terms', field: 'process_exec.process.binary', size: 10, orderBy: 'execs', label: 'Binary' },
      execs: { op: 'count', label: 'Execs' },
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-lifecycle-exec-without-fork',
    title: 'Execs without fork',
    description: 'Images that replaced another in the same process (sh -c "exec ..."): previous image and the new one',
    dataView: 'process',
    query: 'event_type : "process_exec" and process_exec.process.flags : execve and not process_exec.process.flags : *clone* and not process_exec.process.flags : *procFS*',
    columns: {
      parent: { op: 'terms', field: 'process_exec.parent.binary', size: 10, orderBy: 'execs', label: 'Previous image' },
      child: { op: 'terms', field: 'process_exec.process.binary', size: 10, orderBy: 'execs', label: 'New image' },
      execs: { op: 'count', label: 'Execs' },
    },
    chart: { type: 'table' },
  },
  {
    id: 'procflow-lifecycle-users',
    title: 'Execs by user',
    description: 'Exec events by the user the image runs as, and by audit login uid',
    dataView: 'process',
    query: 'event_type : "process_exec"',
    columns: {
      user: { op: 'terms', field: 'user.name', size: 10, orderBy: 'execs', label: 'User' },
      auid: { op: 'terms', field: 'process_exec.process.auid', size: 5, orderBy: 'execs', label: 'Login uid', dataType: 'number' },
      execs: { op: 'count', label: 'Execs' },
    },
    chart: { type: 'table' },
  },
];

export const PROCESS_LIFECYCLE_SEARCHES: SearchSpec<'process'>[] = [
  {
    id: 'procflow-lifecycle-events-search',
    title: 'procflow: process events',
    description: 'Exec and exit events with binary, arguments, parent and exit status',
    dataView: 'process',
    columns: [
      'node_name',
      'event_type',
      'process_exec.process.binary',
      'process_exec.process.arguments',
      'process_exec.parent.binary',
      'process_exec.process.exec_id',
      'process_exec.process.parent_exec_id',
      'process_exec.process.flags',
      'user.name',
      'process_exit.process.binary',
      'process_exit.status',
      'process_exit.signal',
    ],
  },
];

export const PROCESS_LIFECYCLE: DashboardSpec = {
  id: 'procflow-process-lifecycle',
  title: 'procflow: Process lifecycle',
  description: 'Exec and exit events, top binaries, non-zero exits, parent/child (procflow-process-*)',
  controls: [
    { id: 'procflow-process-lifecycle-node', title: 'Node', dataView: 'process', field: 'node_name' },
    // process.executable is filled from exec and exit events alike, so picking a binary keeps both.
    { id: 'procflow-process-lifecycle-binary', title: 'Binary', dataView: 'process', field: 'process.executable' },
  ],
  panels: [
    { ref: { type: 'lens', id: 'procflow-lifecycle-events-over-time' }, w: 48, h: 12 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-top-binaries' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-parent-child' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-nonzero-exits' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-signals' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-ancestry' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-exec-without-fork' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-users' }, w: 24, h: 14 },
    { ref: { type: 'search', id: 'procflow-lifecycle-events-search' }, w: 48, h: 18 },
  ],
};
