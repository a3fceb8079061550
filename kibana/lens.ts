// A small description language for Lens visualizations, and the saved `lens` object it becomes.
// Each panel names its columns (buckets and metrics) once; the Lens state, the references and
// the Elasticsearch aggregation the checks run (es-query.ts) are all derived from it.
import { DATA_VIEWS, TIME_FIELD, type DataViewKind, type FieldOf } from './fields.js';
import { savedObject, type SavedObject } from './format.js';

export type MetricOp = 'sum' | 'average' | 'max' | 'min' | 'unique_count';

export type LensColumn<F extends string = string> =
  | { op: 'date_histogram'; field: F; label?: string }
  | { op: 'terms'; field: F; size: number; orderBy: string; label: string; dataType?: 'string' | 'ip' | 'number' }
  | { op: MetricOp; field: F; label: string; format?: 'bytes' | 'number' }
  | { op: 'count'; label: string };

export type LensChart =
  | { type: 'xy'; seriesType: 'bar_stacked' | 'line' | 'area' | 'bar_horizontal' | 'bar'; x: string; y: string[]; split?: string }
  | { type: 'table' }
  | { type: 'pie'; groups: string[]; metric: string }
  | { type: 'metric'; metric: string };

export interface LensSpec<K extends DataViewKind = DataViewKind> {
  id: string;
  title: string;
  description: string;
  dataView: K;
  /** KQL applied to this panel only (a small subset; see kql.ts). */
  query?: string;
  /** Column id -> column; the order is the Lens column order (buckets nest in this order). */
  columns: Record<string, LensColumn<FieldOf<K>>>;
  chart: LensChart;
}

export const RECORDS_FIELD = '___records___';

export const layerIdOf = (spec: LensSpec): string => `${spec.id}-layer`;

function columnState(c: LensColumn): Record<string, unknown> {
  switch (c.op) {
    case 'date_histogram':
      return {
        label: c.label ?? TIME_FIELD,
        dataType: 'date',
        operationType: 'date_histogram',
        sourceField: c.field,
        isBucketed: true,
        scale: 'interval',
        params: { interval: 'auto', includeEmptyRows: true, dropPartials: false },
      };
    case 'terms':
      return {
        label: c.label,
        dataType: c.dataType ?? 'string',
        operationType: 'terms',
        sourceField: c.field,
        isBucketed: true,
        scale: 'ordinal',
        params: {
          size: c.size,
          orderBy: { type: 'column', columnId: c.orderBy },
          orderDirection: 'desc',
          otherBucket: false,
          missingBucket: false,
          parentFormat: { id: 'terms' },
          include: [],
          exclude: [],
          includeIsRegex: false,
          excludeIsRegex: false,
        },
        customLabel: true,
      };
    case 'count':
      return { label: c.label, dataType: 'number', operationType: 'count', sourceField: RECORDS_FIELD, isBucketed: false, scale: 'ratio', params: { emptyAsNull: true }, customLabel: true };
    default:
      return {
        label: c.label,
        dataType: 'number',
        operationType: c.op,
        sourceField: c.field,
        isBucketed: false,
        scale: 'ratio',
        params: { emptyAsNull: true, ...(c.format ? { format: { id: c.format, params: { decimals: c.format === 'bytes' ? 1 : 0 } } } : {}) },
        customLabel: true,
      };
  }
}

function visualizationState(spec: LensSpec): { type: string; state: Record<string, unknown> } {
  const layerId = layerIdOf(spec);
  const chart = spec.chart;
  switch (chart.type) {
    case 'xy':
      return {
        type: 'lnsXY',
        state: {
          legend: { isVisible: true, position: 'right', legendSize: 'auto' },
          valueLabels: 'hide',
          fittingFunction: 'None',
          preferredSeriesType: chart.seriesType,
          axisTitlesVisibilitySettings: { x: false, yLeft: true, yRight: true },
          tickLabelsVisibilitySettings: { x: true, yLeft: true, yRight: true },
          gridlinesVisibilitySettings: { x: true, yLeft: true, yRight: true },
          layers: [
            {
              layerId,
              layerType: 'data',
              seriesType: chart.seriesType,
              xAccessor: chart.x,
              accessors: chart.y,
              ...(chart.split ? { splitAccessor: chart.split } : {}),
              position: 'top',
              showGridlines: false,
            },
          ],
        },
      };
    case 'table':
      return {
        type: 'lnsDatatable',
        state: { layerId, layerType: 'data', columns: Object.keys(spec.columns).map((columnId) => ({ columnId, isTransposed: false })) },
      };
    case 'pie':
      return {
        type: 'lnsPie',
        state: {
          shape: 'donut',
          layers: [
            {
              layerId,
              layerType: 'data',
              primaryGroups: chart.groups,
              metrics: [chart.metric],
              numberDisplay: 'percent',
              categoryDisplay: 'default',
              legendDisplay: 'default',
              nestedLegend: false,
            },
          ],
        },
      };
    case 'metric':
      return { type: 'lnsMetric', state: { layerId, layerType: 'data', metricAccessor: chart.metric } };
  }
}

/** The saved `lens` object for a spec. */
export function lensObject(spec: LensSpec): SavedObject {
  const layerId = layerIdOf(spec);
  const dataViewId = DATA_VIEWS[spec.dataView].id;
  const columns = Object.fromEntries(Object.entries(spec.columns).map(([id, c]) => [id, columnState(c)]));
  const vis = visualizationState(spec);
  return savedObject(
    'lens',
    spec.id,
    {
      title: spec.title,
      description: spec.description,
      visualizationType: vis.type,
      state: {
        datasourceStates: {
          formBased: { layers: { [layerId]: { columns, columnOrder: Object.keys(spec.columns), incompleteColumns: {} } } },
        },
        visualization: vis.state,
        query: { query: spec.query ?? '', language: 'kuery' },
        filters: [],
        internalReferences: [],
        adHocDataViews: {},
      },
    },
    [{ type: 'index-pattern', id: dataViewId, name: `indexpattern-datasource-layer-${layerId}` }],
  );
}
