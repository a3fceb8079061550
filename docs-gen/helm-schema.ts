// Generates the `settings` parts of the Helm chart's values.schema.json from the commands'
// settings tables, so `agent.settings.hook_mode: bogus` or a misspelt setting fails `helm
// install` and `helm lint` with the allowed values, and a new setting needs no schema edit. The
// rest of the schema is written by hand; `node dist/docs-gen/helm-schema.js` rewrites the three
// `settings` objects in place (npm run docs), `--check` exits 1 when the file differs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DURATION_UNITS, formatDefault, SIZE_UNITS, type Setting, type SettingsTable } from '../common/config.js';
import { loadCommand } from '../cli/invocation.js';
import { writeOrCheck } from './generated-file.js';

export const CHART_DIR = fileURLToPath(new URL('../../deploy/helm/procflow/', import.meta.url));
export const SCHEMA_PATH = `${CHART_DIR}values.schema.json`;

const ES_CONNECTION = ['es_url', 'es_username', 'es_password', 'es_api_key', 'es_ca_file', 'es_cert_file', 'es_key_file'];

/**
 * The settings the chart sets itself from other values (or cannot pass), by command and
 * component of the values: the `settings` maps may not hold them. Sensitive settings are left
 * out as well, as a flag would show them in the process list (the Secret carries those).
 */
export const CHART_SETTINGS = {
  agent: {
    command: 'agent',
    owned: ['indexer_url', 'token_file', 'indexer_ca_file', 'indexer_cert_file', 'indexer_key_file', 'api_token_file', 'node_name', 'output', 'kubernetes_api_url', 'kubernetes_token_file', 'kubernetes_ca_file'],
  },
  indexer: { command: 'indexer', owned: [...ES_CONNECTION, 'listen', 'token_file', 'tls_cert_file', 'tls_key_file', 'tls_client_ca_file', 'retention_days'] },
  setup: { command: 'setup', owned: [...ES_CONNECTION, 'kibana_url', 'kibana_ca_file', 'retention_days'] },
} as const;

type JsonSchema = Record<string, unknown>;

/** A regular expression matching any of `units`, in any case (JSON Schema patterns have no flags). */
const anyCase = (units: string[]) => units.map((u) => [...u].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c)).join('')).join('|');
const withUnits = (units: Record<string, number>) => `^\\s*\\d+(\\.\\d+)?\\s*(${anyCase(Object.keys(units))})?\\s*$`;

/** One setting as a JSON Schema property: the values the CLI's parser takes, written as YAML would hold them. */
export function settingSchema(s: Setting): JsonSchema {
  const description = `${s.doc} (default: ${formatDefault(s)})`;
  const f = s.format;
  const bounds = { ...(s.min !== undefined ? { minimum: s.min } : {}), ...(s.max !== undefined ? { maximum: s.max } : {}) };
  if (f === Boolean) return { description, type: 'boolean' };
  if (Array.isArray(f)) return { description, enum: [...f] };
  if (f === Array) return { description, type: 'array', items: { type: 'string', pattern: '^[^,]*$' } };
  if (f === 'duration') return { description, type: ['string', 'integer'], pattern: withUnits(DURATION_UNITS), minimum: 0, ...bounds };
  if (f === 'size') return { description, type: ['string', 'integer'], pattern: withUnits(SIZE_UNITS), minimum: 0, ...bounds };
  if (f === 'nat') return { description, type: 'integer', minimum: 0, ...bounds };
  if (f === 'port') return { description, type: 'integer', minimum: 0, maximum: 65_535, ...bounds };
  if (f === 'int') return { description, type: 'integer', ...bounds };
  if (f === Number) return { description, type: 'number', ...bounds };
  return { description, type: 'string' };
}

/** The `settings` object of one component of the values. */
export async function settingsSchema(component: keyof typeof CHART_SETTINGS): Promise<JsonSchema> {
  const { command, owned } = CHART_SETTINGS[component];
  const table: SettingsTable = (await loadCommand(command))!.settings;
  const properties = Object.fromEntries(
    Object.entries(table)
      .filter(([key, s]) => !(owned as readonly string[]).includes(key) && !s.sensitive)
      .map(([key, s]) => [key, settingSchema(s)]),
  );
  return {
    $comment: `generated from the settings of procflow ${command} by docs-gen/helm-schema.ts (npm run docs); edit those, not this`,
    description: `procflow ${command}'s settings by name, passed as flags (--foo-bar for foo_bar); the chart sets ${owned.join(', ')} itself`,
    type: 'object',
    additionalProperties: false,
    properties,
  };
}

/** values.schema.json with its three `settings` objects generated anew. */
export async function renderSchema(current: string): Promise<string> {
  const schema = JSON.parse(current) as { properties: Record<string, { properties: Record<string, unknown> }> };
  for (const component of Object.keys(CHART_SETTINGS) as Array<keyof typeof CHART_SETTINGS>) {
    const target = schema.properties[component];
    if (!target?.properties) throw new Error(`helm-schema: values.schema.json has no properties.${component}.properties to put the settings in`);
    target.properties.settings = await settingsSchema(component);
  }
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const current = readFileSync(SCHEMA_PATH, 'utf8');
  writeOrCheck(SCHEMA_PATH, current, await renderSchema(current), 'helm-schema: deploy/helm/procflow/values.schema.json', 'node dist/docs-gen/helm-schema.js');
}
