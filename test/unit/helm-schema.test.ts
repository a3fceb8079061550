// The Helm chart's facts that come from elsewhere, checked without helm: the `settings` parts of
// values.schema.json are those the commands' settings tables generate (docs-gen/helm-schema.ts),
// the schema takes the CLI's own duration and size syntax, and the chart deploys the image of
// package.json's version. The chart itself is rendered and compared with deploy/kubernetes by
// test/integration/helm-chart.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadSettings } from '../../common/config.js';
import { AGENT_SETTINGS } from '../../agent/config.js';
import { CHART_DIR, CHART_SETTINGS, renderSchema, SCHEMA_PATH, settingSchema } from '../../docs-gen/helm-schema.js';

test('values.schema.json is what the settings tables generate', async () => {
  const current = readFileSync(SCHEMA_PATH, 'utf8');
  assert.equal(current, await renderSchema(current), 'values.schema.json is stale: run `node dist/docs-gen/helm-schema.js` (npm run docs) and commit it');
});

test('the schema\'s duration and size patterns take what the CLI takes, and refuse what it refuses', () => {
  const pattern = (key: 'flush_interval' | 'ring_buffer_size') => new RegExp(settingSchema(AGENT_SETTINGS[key]).pattern as string);
  const cliTakes = (key: string, value: string) => {
    try {
      loadSettings(AGENT_SETTINGS, [`--${key.replaceAll('_', '-')}`, value], {});
      return true;
    } catch {
      return false;
    }
  };
  for (const [key, values] of [['flush_interval', ['15s', '500ms', '2m', '1h', '1d', '15', ' 30 S ', '1.5s', '15 parsecs', 's', '-1s', '']], ['ring_buffer_size', ['8 MiB', '16mb', '1GiB', '512kb', '4096', '8 MB', '8 miB', '8 TiB', 'MiB', '']]] as const) {
    for (const v of values) assert.equal(pattern(key).test(v), cliTakes(key, v), `${key} ${JSON.stringify(v)}`);
  }
});

test('no setting the chart sets itself is a setting the values may set, and each is a real setting', async () => {
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as { properties: Record<string, { properties: { settings: { properties: Record<string, unknown> } } }> };
  for (const [component, { owned }] of Object.entries(CHART_SETTINGS)) {
    const settable = Object.keys(schema.properties[component]!.properties.settings.properties);
    for (const key of owned) assert.ok(!settable.includes(key), `${component}.settings.${key}`);
  }
  assert.ok(Object.keys(AGENT_SETTINGS).includes('hook_mode'));
  for (const key of CHART_SETTINGS.agent.owned) assert.ok(key in AGENT_SETTINGS, `agent setting ${key}`);
});

test('the chart\'s appVersion is package.json\'s version', () => {
  const chart = parse(readFileSync(`${CHART_DIR}Chart.yaml`, 'utf8')) as { appVersion: string };
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(chart.appVersion, pkg.version);
});
