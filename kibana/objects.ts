// Every saved object procflow ships, in import order (data views, searches, lens, dashboards),
// and the NDJSON that kibana/procflow.ndjson holds.
import { dashboardObject, type DashboardSpec } from './dashboard.js';
import { DATA_VIEW_KINDS, dataViewObject } from './data-views.js';
import { DNS, DNS_LENS, DNS_SEARCHES } from './dashboards/dns.js';
import { FLOW_OVERVIEW, FLOW_OVERVIEW_LENS } from './dashboards/flow-overview.js';
import { PROCESS_LIFECYCLE, PROCESS_LIFECYCLE_LENS, PROCESS_LIFECYCLE_SEARCHES } from './dashboards/process-lifecycle.js';
import { PROCESS_NETWORK, PROCESS_NETWORK_LENS, PROCESS_NETWORK_SEARCHES } from './dashboards/process-network.js';
import { WORKLOADS, WORKLOADS_LENS } from './dashboards/workloads.js';
import type { SavedObject } from './format.js';
import { lensObject, type LensSpec } from './lens.js';
import { searchObject, type SearchSpec } from './search.js';

export const NDJSON_FILE = 'procflow.ndjson';

export const LENS_SPECS: LensSpec[] = [...FLOW_OVERVIEW_LENS, ...PROCESS_NETWORK_LENS, ...WORKLOADS_LENS, ...PROCESS_LIFECYCLE_LENS, ...DNS_LENS];
export const SEARCH_SPECS: SearchSpec[] = [...PROCESS_NETWORK_SEARCHES, ...PROCESS_LIFECYCLE_SEARCHES, ...DNS_SEARCHES];
export const DASHBOARD_SPECS: DashboardSpec[] = [FLOW_OVERVIEW, PROCESS_NETWORK, WORKLOADS, PROCESS_LIFECYCLE, DNS];

export function buildSavedObjects(): SavedObject[] {
  return [
    ...DATA_VIEW_KINDS.map(dataViewObject),
    ...SEARCH_SPECS.map(searchObject),
    ...LENS_SPECS.map(lensObject),
    ...DASHBOARD_SPECS.map(dashboardObject),
  ];
}

export function toNdjson(objects: SavedObject[] = buildSavedObjects()): string {
  return objects.map((o) => JSON.stringify(o)).join('\n') + '\n';
}
