// Imports the saved objects in kibana/*.ndjson through Kibana's saved objects API.
// (Placeholder: the dashboards land with issue 5.)
import type { SettingsTable } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { ProcflowError } from '../common/errors.js';

export const KIBANA_SETTINGS = {
  kibana_url: { doc: 'Kibana URL; when set, setup imports the dashboards', format: 'url-or-empty', default: '' },
  kibana_username: { doc: 'Kibana user (basic auth); defaults to the Elasticsearch user', format: String, default: '' },
  kibana_password: { doc: 'Kibana password (basic auth)', format: String, default: '', sensitive: true },
} satisfies SettingsTable;

export interface KibanaConnection {
  kibana_url: string;
  kibana_username: string;
  kibana_password: string;
}

export async function importKibanaObjects(_c: KibanaConnection, _o: { timeoutMs: number; log: Logger }): Promise<number> {
  throw new ProcflowError('NOT_BUILT', 'kibana: the dashboard importer is not built yet');
}
