// Data views (saved type `index-pattern`), one per document kind in DATA_VIEWS.
import { DATA_VIEWS, TIME_FIELD, type DataViewKind, type DnsField, type FlowField } from './fields.js';
import { json, savedObject, type SavedObject } from './format.js';

const BYTES: FlowField[] = ['bytes_in', 'bytes_out'];
const MICROSECONDS: FlowField[] = ['tcp_mean_smooth_rtt', 'tcp_max_smooth_rtt', 'tcp_mean_min_rtt', 'tcp_max_min_rtt'];
const NANOSECONDS: DnsField[] = ['latency_mean', 'latency_max', 'latency_min', 'latency_p50', 'latency_p90', 'latency_p99'];

const duration = (inputFormat: string) => ({ id: 'duration', params: { inputFormat, outputFormat: 'humanizePrecise', outputPrecision: 1 } });

const FORMATS: Record<DataViewKind, Record<string, unknown>> = {
  flows: {
    ...Object.fromEntries(BYTES.map((f) => [f, { id: 'bytes' }])),
    ...Object.fromEntries(MICROSECONDS.map((f) => [f, duration('microseconds')])),
  },
  process: {},
  // The agent measures DNS latency in nanoseconds (Calico's unit); shown as durations.
  dns: Object.fromEntries(NANOSECONDS.map((f) => [f, duration('nanoseconds')])),
};

export const DATA_VIEW_KINDS = Object.keys(DATA_VIEWS) as DataViewKind[];

export function dataViewObject(kind: DataViewKind): SavedObject {
  const dv = DATA_VIEWS[kind];
  return savedObject(
    'index-pattern',
    dv.id,
    {
      fieldAttrs: '{}',
      fieldFormatMap: json(FORMATS[kind]),
      fields: '[]',
      name: dv.name,
      runtimeFieldMap: '{}',
      sourceFilters: '[]',
      timeFieldName: TIME_FIELD,
      title: dv.title,
      typeMeta: '{}',
    },
    [],
  );
}
