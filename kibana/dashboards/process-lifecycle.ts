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
    { id: 'procflow-process-lifecycle-binary', title: 'Binary', dataView: 'process', field: 'process_exec.process.binary' },
  ],
  panels: [
    { ref: { type: 'lens', id: 'procflow-lifecycle-events-over-time' }, w: 48, h: 12 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-top-binaries' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-parent-child' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-nonzero-exits' }, w: 24, h: 14 },
    { ref: { type: 'lens', id: 'procflow-lifecycle-signals' }, w: 24, h: 14 },
    { ref: { type: 'search', id: 'procflow-lifecycle-events-search' }, w: 48, h: 18 },
  ],
};
