// What Kibana would ask Elasticsearch for each saved object, derived from the saved objects
// themselves (not from their TypeScript definitions), so the checks run what ships:
// a Lens layer's columns become nested bucket aggregations with the metrics inside, a saved
// search becomes a sorted document query, a control becomes a terms aggregation.
import type { SavedObject } from './format.js';
import { kqlToDsl, type QueryDsl } from './kql.js';

export interface TimeRange {
  from: Date;
  to: Date;
}

/** A field a saved object reads, and how. */
export interface FieldUse {
  object: string;
  field: string;
  use: 'date_histogram' | 'terms' | 'numeric' | 'cardinality' | 'filter' | 'column' | 'control' | 'time' | 'format';
}

export interface PanelRequest {
  object: string;
  index: string;
  body: Record<string, unknown>;
  /** Names of the nested bucket aggregations, outermost first (empty for metric-only panels). */
  bucketAggs: string[];
  metricAggs: string[];
}

interface LensColumnState {
  operationType: string;
  sourceField?: string;
  params?: { size?: number; orderBy?: { type: string; columnId?: string }; orderDirection?: 'asc' | 'desc' };
}

interface LensLayer {
  columns: Record<string, LensColumnState>;
  columnOrder: string[];
}

// Lens's median is a 50th percentile, which has no one-value aggregation here: it stays untranslated (an error) rather than wrong.
const METRIC_AGG: Record<string, string> = { sum: 'sum', average: 'avg', max: 'max', min: 'min', unique_count: 'cardinality' };

const INTERVALS = ['1s', '5s', '10s', '30s', '1m', '5m', '10m', '30m', '1h', '3h', '12h', '1d', '7d'];
const MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Kibana's "auto" interval: the first round interval that gives at most ~100 buckets. */
export function autoInterval(range: TimeRange): string {
  const span = range.to.getTime() - range.from.getTime();
  return INTERVALS.find((i) => Number(i.slice(0, -1)) * MS[i.slice(-1)]! >= span / 100) ?? '7d';
}

export function dataViewIndex(objects: SavedObject[], id: string): { index: string; timeField: string } {
  const dv = objects.find((o) => o.type === 'index-pattern' && o.id === id);
  if (!dv) throw new Error(`kibana: data view ${id} is not among the saved objects`);
  return { index: String(dv.attributes.title), timeField: String(dv.attributes.timeFieldName) };
}

function timeFilter(timeField: string, range: TimeRange): QueryDsl {
  return { range: { [timeField]: { gte: range.from.toISOString(), lte: range.to.toISOString(), format: 'strict_date_optional_time' } } };
}

function lensLayers(o: SavedObject): Array<{ layerId: string; layer: LensLayer; dataViewId: string }> {
  const state = o.attributes.state as { datasourceStates: { formBased: { layers: Record<string, LensLayer> } } };
  return Object.entries(state.datasourceStates.formBased.layers).map(([layerId, layer]) => {
    const ref = o.references.find((r) => r.name === `indexpattern-datasource-layer-${layerId}`);
    if (!ref) throw new Error(`kibana: lens ${o.id} layer ${layerId} has no data view reference`);
    return { layerId, layer, dataViewId: ref.id };
  });
}

/** The search request a Lens object's layer sends (one per layer). */
export function lensRequests(objects: SavedObject[], o: SavedObject, range: TimeRange): PanelRequest[] {
  const kql = kqlToDsl(((o.attributes.state as { query?: { query?: string } }).query?.query) ?? '');
  return lensLayers(o).map(({ layer, dataViewId }) => {
    const { index, timeField } = dataViewIndex(objects, dataViewId);
    const buckets = layer.columnOrder.filter((id) => ['date_histogram', 'terms'].includes(layer.columns[id]!.operationType));
    const metrics = layer.columnOrder.filter((id) => !buckets.includes(id));
    const metricAggs: Record<string, unknown> = {};
    for (const id of metrics) {
      const c = layer.columns[id]!;
      if (c.operationType === 'count') continue; // doc_count
      const agg = METRIC_AGG[c.operationType];
      if (!agg) throw new Error(`kibana: lens ${o.id} column ${id}: operation ${c.operationType} is not translated`);
      metricAggs[id] = { [agg]: { field: c.sourceField } };
    }
    // Innermost first: each bucket level carries the metrics (terms order by them).
    let inner: Record<string, unknown> = metricAggs;
    for (const id of [...buckets].reverse()) {
      const c = layer.columns[id]!;
      let agg: Record<string, unknown>;
      if (c.operationType === 'date_histogram') {
        agg = {
          date_histogram: {
            field: c.sourceField,
            fixed_interval: autoInterval(range),
            min_doc_count: 0,
            extended_bounds: { min: range.from.getTime(), max: range.to.getTime() },
          },
        };
      } else {
        const orderCol = c.params?.orderBy?.columnId;
        const orderIsCount = !orderCol || layer.columns[orderCol]?.operationType === 'count';
        agg = { terms: { field: c.sourceField, size: c.params?.size ?? 5, order: { [orderIsCount ? '_count' : orderCol]: c.params?.orderDirection ?? 'desc' } } };
      }
      if (Object.keys(inner).length) agg.aggs = inner;
      inner = { [id]: agg, ...metricAggs };
    }
    return {
      object: o.id,
      index,
      body: { size: 0, track_total_hits: true, query: { bool: { filter: [timeFilter(timeField, range), kql.query] } }, aggs: inner },
      bucketAggs: buckets,
      metricAggs: Object.keys(metricAggs),
    };
  });
}

/** The document query a saved search sends. */
export function searchRequest(objects: SavedObject[], o: SavedObject, range: TimeRange): PanelRequest & { columns: string[] } {
  const source = JSON.parse((o.attributes.kibanaSavedObjectMeta as { searchSourceJSON: string }).searchSourceJSON) as { query: { query: string }; indexRefName: string };
  const ref = o.references.find((r) => r.name === source.indexRefName);
  if (!ref) throw new Error(`kibana: search ${o.id} has no reference named ${source.indexRefName}`);
  const { index, timeField } = dataViewIndex(objects, ref.id);
  const columns = o.attributes.columns as string[];
  return {
    object: o.id,
    index,
    columns,
    body: {
      size: 100,
      query: { bool: { filter: [timeFilter(timeField, range), kqlToDsl(source.query.query).query] } },
      sort: (o.attributes.sort as Array<[string, string]>).map(([f, d]) => ({ [f]: d })),
      fields: columns,
      _source: false,
    },
    bucketAggs: [],
    metricAggs: [],
  };
}

export interface ControlDef {
  dashboard: string;
  id: string;
  field: string;
  dataViewId: string;
}

export function dashboardControls(o: SavedObject): ControlDef[] {
  const input = o.attributes.controlGroupInput as { panelsJSON?: string } | undefined;
  const panels = JSON.parse(input?.panelsJSON ?? '{}') as Record<string, { type: string; explicitInput: { fieldName: string } }>;
  return Object.entries(panels).map(([id, p]) => {
    const ref = o.references.find((r) => r.name === `controlGroup_${id}:optionsListDataView`);
    if (!ref) throw new Error(`kibana: dashboard ${o.id} control ${id} has no data view reference`);
    return { dashboard: o.id, id, field: p.explicitInput.fieldName, dataViewId: ref.id };
  });
}

/** The terms request an options-list control sends to fill its list. */
export function controlRequest(objects: SavedObject[], c: ControlDef, range: TimeRange): PanelRequest {
  const { index, timeField } = dataViewIndex(objects, c.dataViewId);
  return {
    object: `${c.dashboard}/${c.id}`,
    index,
    body: { size: 0, query: { bool: { filter: [timeFilter(timeField, range)] } }, aggs: { suggestions: { terms: { field: c.field, size: 10 } } } },
    bucketAggs: ['suggestions'],
    metricAggs: [],
  };
}

/** Every field the saved objects read, with how they read it. */
export function fieldUses(objects: SavedObject[]): FieldUse[] {
  const uses: FieldUse[] = [];
  for (const o of objects) {
    if (o.type === 'index-pattern') {
      uses.push({ object: o.id, field: String(o.attributes.timeFieldName), use: 'time' });
      for (const f of Object.keys(JSON.parse(String(o.attributes.fieldFormatMap)) as object)) uses.push({ object: o.id, field: f, use: 'format' });
    } else if (o.type === 'lens') {
      for (const { layer } of lensLayers(o)) {
        for (const c of Object.values(layer.columns)) {
          if (!c.sourceField || c.operationType === 'count') continue;
          const use = c.operationType === 'date_histogram' ? 'date_histogram' : c.operationType === 'terms' ? 'terms' : c.operationType === 'unique_count' ? 'cardinality' : 'numeric';
          uses.push({ object: o.id, field: c.sourceField, use });
        }
      }
      const q = (o.attributes.state as { query?: { query?: string } }).query?.query ?? '';
      for (const f of kqlToDsl(q).fields) uses.push({ object: o.id, field: f, use: 'filter' });
    } else if (o.type === 'search') {
      for (const f of o.attributes.columns as string[]) uses.push({ object: o.id, field: f, use: 'column' });
      for (const [f] of o.attributes.sort as Array<[string, string]>) uses.push({ object: o.id, field: f, use: 'time' });
      const source = JSON.parse((o.attributes.kibanaSavedObjectMeta as { searchSourceJSON: string }).searchSourceJSON) as { query: { query: string } };
      for (const f of kqlToDsl(source.query.query).fields) uses.push({ object: o.id, field: f, use: 'filter' });
    } else if (o.type === 'dashboard') {
      for (const c of dashboardControls(o)) uses.push({ object: o.id, field: c.field, use: 'control' });
    }
  }
  return uses;
}

/** Rows of a nested bucket response: one per innermost bucket, with its doc count and metrics. */
export function bucketRows(aggs: Record<string, unknown>, bucketAggs: string[], metricAggs: string[]): Array<{ keys: unknown[]; docCount: number; metrics: Record<string, number | null> }> {
  const rows: Array<{ keys: unknown[]; docCount: number; metrics: Record<string, number | null> }> = [];
  const walk = (level: Record<string, unknown>, depth: number, keys: unknown[]) => {
    const name = bucketAggs[depth];
    if (name === undefined) return;
    const buckets = (level[name] as { buckets: Array<Record<string, unknown>> }).buckets;
    for (const b of buckets) {
      const k = [...keys, b.key_as_string ?? b.key];
      if (depth === bucketAggs.length - 1) {
        rows.push({ keys: k, docCount: b.doc_count as number, metrics: Object.fromEntries(metricAggs.map((m) => [m, (b[m] as { value: number | null }).value])) });
      } else walk(b, depth + 1, k);
    }
  };
  walk(aggs, 0, []);
  return rows;
}
