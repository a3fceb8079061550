// Dashboards: a grid of by-reference panels (saved lens objects and searches) and a row of
// options-list controls. Panels are laid out left to right on Kibana's 48-column grid.
import { DATA_VIEWS, type DataViewKind, type FieldOf } from './fields.js';
import { json, savedObject, type Reference, type SavedObject } from './format.js';

export interface ControlSpec<K extends DataViewKind = DataViewKind> {
  id: string;
  title: string;
  dataView: K;
  field: FieldOf<K>;
}

export interface PanelSpec {
  /** Id of the saved lens or search object shown. */
  ref: { type: 'lens' | 'search'; id: string };
  w: number;
  h: number;
}

export interface DashboardSpec {
  id: string;
  title: string;
  description: string;
  panels: PanelSpec[];
  controls: ControlSpec[];
  timeFrom?: string;
}

const GRID_COLUMNS = 48;

/** Positions panels in rows: a panel that does not fit the current row starts the next one. */
function layout(panels: PanelSpec[]): Array<{ x: number; y: number; w: number; h: number }> {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  return panels.map((p) => {
    if (x + p.w > GRID_COLUMNS) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const pos = { x, y, w: p.w, h: p.h };
    x += p.w;
    rowHeight = Math.max(rowHeight, p.h);
    return pos;
  });
}

export function dashboardObject(spec: DashboardSpec): SavedObject {
  const references: Reference[] = [];
  const positions = layout(spec.panels);
  const panels = spec.panels.map((p, n) => {
    const panelIndex = `${spec.id}-panel-${n + 1}`;
    references.push({ name: `${panelIndex}:panel_${panelIndex}`, type: p.ref.type, id: p.ref.id });
    return {
      type: p.ref.type,
      gridData: { ...positions[n]!, i: panelIndex },
      panelIndex,
      embeddableConfig: { enhancements: {} },
      panelRefName: `panel_${panelIndex}`,
    };
  });
  const controls = Object.fromEntries(
    spec.controls.map((c, order) => {
      references.push({ name: `controlGroup_${c.id}:optionsListDataView`, type: 'index-pattern', id: DATA_VIEWS[c.dataView].id });
      return [
        c.id,
        {
          order,
          width: 'medium',
          grow: true,
          type: 'optionsListControl',
          explicitInput: { id: c.id, fieldName: c.field, title: c.title, searchTechnique: 'prefix', selectedOptions: [], enhancements: {} },
        },
      ];
    }),
  );
  return savedObject(
    'dashboard',
    spec.id,
    {
      title: spec.title,
      description: spec.description,
      controlGroupInput: {
        chainingSystem: 'HIERARCHICAL',
        controlStyle: 'oneLine',
        ignoreParentSettingsJSON: json({ ignoreFilters: false, ignoreQuery: false, ignoreTimerange: false, ignoreValidations: false }),
        panelsJSON: json(controls),
        showApplySelections: false,
      },
      kibanaSavedObjectMeta: { searchSourceJSON: json({ query: { query: '', language: 'kuery' }, filter: [] }) },
      optionsJSON: json({ useMargins: true, syncColors: false, syncCursor: true, syncTooltips: false, hidePanelTitles: false }),
      panelsJSON: json(panels),
      refreshInterval: { pause: false, value: 30_000 },
      timeFrom: spec.timeFrom ?? 'now-24h',
      timeRestore: true,
      timeTo: 'now',
    },
    references,
  );
}
