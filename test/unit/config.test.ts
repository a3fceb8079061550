import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envOf, flagOf, formatHelp, loadSettings, type SettingsTable } from '../../common/config.js';
import { ConfigError } from '../../common/errors.js';

const table = {
  es_url: { doc: 'Elasticsearch URL', format: 'url-or-empty', default: 'http://127.0.0.1:9200' },
  flush_interval: { doc: 'flush interval', format: 'duration', default: 15_000 },
  max_body: { doc: 'body limit', format: 'size', default: 1024 },
  token: { doc: 'bearer token', format: String, default: '', sensitive: true },
  verbose: { doc: 'more output', format: Boolean, default: false },
  output: { doc: 'output format', format: ['compact', 'json'], default: 'compact', short: 'o' },
} satisfies SettingsTable;

interface Cfg { es_url: string; flush_interval: number; max_body: number; token: string; verbose: boolean; output: string }

test('defaults, then environment, then flags win', () => {
  const env = { PROCFLOW_ES_URL: 'http://env:9200', PROCFLOW_FLUSH_INTERVAL: '2m' };
  const { config } = loadSettings<Cfg>(table, ['--flush-interval', '500ms', '--max-body=10mb', '--verbose', '-o', 'json'], env);
  assert.equal(config.es_url, 'http://env:9200');
  assert.equal(config.flush_interval, 500);
  assert.equal(config.max_body, 10 * 1024 * 1024);
  assert.equal(config.verbose, true);
  assert.equal(config.output, 'json');
  assert.equal(loadSettings<Cfg>(table, [], env).config.flush_interval, 120_000);
});

test('a config file sits between defaults and the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-config-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ token: 'from-file', es_url: 'http://file:9200' }));
  const { config } = loadSettings<Cfg>(table, ['--config', file], { PROCFLOW_ES_URL: 'http://env:9200' });
  assert.equal(config.token, 'from-file');
  assert.equal(config.es_url, 'http://env:9200');
});

test('unknown flags and bad values are errors that say what to do', () => {
  assert.throws(() => loadSettings(table, ['--no-such-thing']), (e: unknown) => e instanceof ConfigError && /unknown option/.test(e.message) && /--help/.test(e.hint ?? ''));
  assert.throws(() => loadSettings(table, ['--flush-interval', 'soon']), /duration/);
  assert.throws(() => loadSettings(table, ['--es-url', 'not a url']), /http\(s\) URL/);
  assert.throws(() => loadSettings(table, ['-o', 'yaml']), ConfigError);
  assert.throws(() => loadSettings(table, ['--es-url']), /needs a value/);
});

test('help lists every setting with its flag and environment variable, masking secrets', () => {
  const help = formatHelp('procflow x', 'does x', { ...table, token: { ...table.token, default: 'hunter2' } });
  for (const key of Object.keys(table)) {
    assert.ok(help.includes(flagOf(key)), `help lacks ${flagOf(key)}`);
    assert.ok(help.includes(envOf(key)), `help lacks ${envOf(key)}`);
  }
  assert.ok(!help.includes('hunter2'));
  assert.equal(loadSettings(table, ['--help', '--es-url', 'nope']).help, true);
});

test('limits that would wedge the agent or the indexer refuse zero, from flags, env and files alike', async () => {
  const { AGENT_SETTINGS } = await import('../../agent/config.js');
  const { INDEXER_SETTINGS } = await import('../../indexer/options.js');
  for (const [tbl, key] of [[AGENT_SETTINGS, 'cache_max_entries'], [AGENT_SETTINGS, 'batch_max_docs'], [AGENT_SETTINGS, 'batch_max_size'], [INDEXER_SETTINGS, 'max_batch_docs']] as const) {
    assert.throws(() => loadSettings(tbl, [flagOf(key), '0'], {}), (err: unknown) => err instanceof ConfigError && err.message.includes(`${flagOf(key)} (${envOf(key)}) must be at least 1, got 0`), key);
    assert.throws(() => loadSettings(tbl, [], { [envOf(key)]: '0' }), ConfigError, key);
    assert.doesNotThrow(() => loadSettings(tbl, [flagOf(key), '1'], {}), key);
  }
});
