// Data views (saved type `index-pattern`) for the flow and process indices.
import { DATA_VIEWS, TIME_FIELD, type DataViewKind, type FlowField } from './fields.js';
import { json, savedObject, type SavedObject } from './format.js';

const BYTES: FlowField[] = ['bytes_in', 'bytes_out'];
const MICROSECONDS: FlowField[] = ['tcp_mean_smooth_rtt', 'tcp_max_smooth_rtt', 'tcp_mean_min_rtt', 'tcp_max_min_rtt'];

const FORMATS: Record<DataViewKind, Record<string, unknown>> = {
  flows: {
    ...Object.fromEntries(BYTES.map((f) => [f, { id: 'bytes' }])),
    ...Object.fromEntries(MICROSECONDS.map((f) => [f, { id: 'duration', params: { inputFormat: 'microseconds', outputFormat: 'humanizePrecise', outputPrecision: 1 } }])),
  },
  process: {},
};

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
