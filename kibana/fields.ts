// Field names the saved objects may use, typed from the schema tables so a renamed or removed
// field breaks the build instead of a dashboard.
import { DNS_LOG_FIELDS, DNS_PATTERN, FLOW_LOG_FIELDS, PROCESS_EVENT_FIELDS, FLOWS_PATTERN, PROCESS_PATTERN, type FieldTable } from '../schema/index.js';

type LeafPaths<T, P extends string = ''> = {
  [K in keyof T & string]: T[K] extends { type: 'object'; fields: infer F } ? LeafPaths<F, `${P}${K}.`> : `${P}${K}`;
}[keyof T & string];

/** The ECS names a table gives its fields (aliases, or copies where several fields give one). */
type EcsNames<T> = {
  [K in keyof T & string]: T[K] extends { ecs: infer E extends string } ? E : T[K] extends { type: 'object'; fields: infer F } ? EcsNames<F> : never;
}[keyof T & string];

export type FlowField = LeafPaths<typeof FLOW_LOG_FIELDS> | EcsNames<typeof FLOW_LOG_FIELDS>;
export type ProcessField = LeafPaths<typeof PROCESS_EVENT_FIELDS> | EcsNames<typeof PROCESS_EVENT_FIELDS>;
export type DnsField = LeafPaths<typeof DNS_LOG_FIELDS> | EcsNames<typeof DNS_LOG_FIELDS>;

export type DataViewKind = 'flows' | 'process' | 'dns';

export const DATA_VIEWS = {
  flows: { id: 'procflow-flows', title: FLOWS_PATTERN, name: 'procflow flows', fields: FLOW_LOG_FIELDS as FieldTable },
  process: { id: 'procflow-process', title: PROCESS_PATTERN, name: 'procflow process events', fields: PROCESS_EVENT_FIELDS as FieldTable },
  dns: { id: 'procflow-dns', title: DNS_PATTERN, name: 'procflow DNS logs', fields: DNS_LOG_FIELDS as FieldTable },
} as const satisfies Record<DataViewKind, unknown>;

interface FieldsByKind {
  flows: FlowField;
  process: ProcessField;
  dns: DnsField;
}

export type FieldOf<K extends DataViewKind> = FieldsByKind[K];

/** The time field of every data view (every document type has it, required). */
export const TIME_FIELD = '@timestamp' satisfies FlowField & ProcessField & DnsField;
