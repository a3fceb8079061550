import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envOf, flagOf, formatDefault, formatDuration, formatHelp, formatSize, loadSettings, type SettingsTable } from '../../common/config.js';
import { ConfigError } from '../../common/errors.js';

const table = {
  es_url: { doc: 'Elasticsearch URL', format: 'url-or-empty', default: 'http://127.0.0.1:9200' },
  flush_interval: { doc: 'flush interval', format: 'duration', default: 15_000 },
  max_body: { doc: 'body limit', format: 'size', default: 1024 },
  token: { doc: 'bearer token', format: String, default: '', sensitive: true },
  verbose: { doc: 'more output', format: Boolean, default: false },
  output: { doc: 'output format', format: ['compact', 'json'], default: 'compact', short: 'o' },
} satisfies SettingsTable;


test('defaults, then environment, then flags win', () => {
  const env = { PROCFLOW_ES_URL: 'http://env:9200', PROCFLOW_FLUSH_INTERVAL: '2m' };
  const { config } = loadSettings(table, ['--flush-interval', '500ms', '--max-body=10mb', '--verbose', '-o', 'json'], env);
  assert.equal(config.es_url, 'http://env:9200');
  assert.equal(config.flush_interval, 500);
  assert.equal(config.max_body, 10 * 1024 * 1024);
  assert.equal(config.verbose, true);
  assert.equal(config.output, 'json');
  assert.equal(loadSettings(table, [], env).config.flush_interval, 120_000);
});

test('a config file sits between defaults and the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-config-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ token: 'from-file', es_url: 'http://file:9200' }));
  const { config } = loadSettings(table, ['--config', file], { PROCFLOW_ES_URL: 'http://env:9200' });
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

const rejects = (argv: string[], env: Record<string, string>, pattern: RegExp) =>
  assert.throws(() => loadSettings(table, argv, env), (e: unknown) => e instanceof ConfigError && pattern.test(e.message), `${argv.join(' ')} ${JSON.stringify(env)}`);

test('booleans take true/false, 1/0, yes/no, on/off from flags, the environment and config files alike', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-config-'));
  const file = (value: unknown) => {
    const path = join(dir, `${Math.random()}.json`);
    writeFileSync(path, JSON.stringify({ verbose: value }));
    return path;
  };
  const verbose = (argv: string[], env: Record<string, string> = {}) => loadSettings(table, argv, env).config.verbose;
  for (const [word, value] of [['0', false], ['no', false], ['OFF', false], ['False', false], ['1', true], ['yes', true], ['On', true], ['TRUE', true]] as const) {
    assert.equal(verbose([`--verbose=${word}`]), value, `--verbose=${word}`);
    assert.equal(verbose(['--verbose', word]), value, `--verbose ${word}`);
    assert.equal(verbose([], { PROCFLOW_VERBOSE: word }), value, `PROCFLOW_VERBOSE=${word}`);
    assert.equal(verbose(['--config', file(word)]), value, `config file "${word}"`);
  }
  assert.equal(verbose(['--config', file(0)]), false);
  assert.equal(verbose(['--config', file(true)]), true);
  // A bare flag is true, and does not swallow the next flag.
  const bare = loadSettings(table, ['--verbose', '-o', 'json'], { PROCFLOW_VERBOSE: 'no' }).config;
  assert.equal(bare.verbose, true);
  assert.equal(bare.output, 'json');
  for (const [argv, env] of [[['--verbose=maybe'], {}], [[], { PROCFLOW_VERBOSE: 'nope' }], [[], { PROCFLOW_VERBOSE: '' }], [['--config', file('enabled')], {}], [['--config', file(2)], {}]] as const) {
    rejects([...argv], env, /--verbose \(PROCFLOW_VERBOSE\) must be true or false/);
  }
});

test('the agent reads PROCFLOW_KUBERNETES=0 and PROCFLOW_PROCFS_SCAN=0 as off', async () => {
  const { AGENT_SETTINGS } = await import('../../agent/config.js');
  const { config } = loadSettings(AGENT_SETTINGS, ['--output', 'ndjson'], { PROCFLOW_KUBERNETES: '0', PROCFLOW_PROCFS_SCAN: '0' });
  assert.equal(config.kubernetes, false);
  assert.equal(config.procfs_scan, false);
  assert.equal(loadSettings(AGENT_SETTINGS, ['--procfs-scan=no'], {}).config.procfs_scan, false);
  const { INDEXER_SETTINGS } = await import('../../indexer/options.js');
  assert.equal(loadSettings(INDEXER_SETTINGS, ['--install-templates', 'false'], {}).config.install_templates, false);
});

test('every refused value names the flag and the environment variable, says what it should look like, and shows the value once', async () => {
  const setup = ((await import('../../cli/commands/setup.js')) as { default: { settings: SettingsTable } }).default.settings;
  const flows = ((await import('../../cli/commands/flows.js')) as { default: { settings: SettingsTable } }).default.settings;
  const { INDEXER_SETTINGS } = await import('../../indexer/options.js');
  const message = (tbl: SettingsTable, argv: string[]): string => {
    try {
      loadSettings(tbl, argv, {});
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message;
    }
    assert.fail(`${argv.join(' ')} was accepted`);
  };
  assert.equal(message(setup, ['--wait-timeout', 'forever']), 'config: --wait-timeout (PROCFLOW_WAIT_TIMEOUT) must be a duration like 15s, 500ms, 2m, 1d; got "forever"');
  assert.match(message(INDEXER_SETTINGS, ['--max-batch-docs', 'many']), /^config: --max-batch-docs \(PROCFLOW_MAX_BATCH_DOCS\) must be a whole number, 1 or more; got "many"$/);
  const url = message(INDEXER_SETTINGS, ['--es-url', 'not-a-url']);
  assert.match(url, /^config: --es-url \(PROCFLOW_ES_URL\) must be one or more http\(s\) URLs/);
  assert.doesNotMatch(url, /es_url/);
  assert.equal(url.split('not-a-url').length, 2, url);
  assert.match(message(INDEXER_SETTINGS, ['--listen=127.0.0.1:99999']), /^config: --listen \(PROCFLOW_LISTEN\) must be HOST:PORT with a port from 0 to 65535/);
  assert.match(message(table, ['--max-body', '10 parsecs']), /^config: --max-body \(PROCFLOW_MAX_BODY\) must be a size like/);
  assert.match(message(table, ['-o', 'yaml']), /^config: --output \(PROCFLOW_OUTPUT\) must be one of compact, json; got "yaml"$/);
  // Secrets are not echoed back.
  assert.doesNotMatch(message({ pin: { doc: 'a secret number', format: 'nat', default: 0, sensitive: true } }, ['--pin', 'hunter2']), /hunter2/);
  assert.equal(loadSettings(INDEXER_SETTINGS, ['--listen=127.0.0.1:65535'], {}).config.listen, '127.0.0.1:65535');
  assert.equal(loadSettings(flows, ['--since', '2d'], {}).config.since, 2 * 86_400_000);
});

test('a missing, unreadable or malformed --config file is named with what to do, not a raw ENOENT or SyntaxError', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-config-'));
  const check = (path: string, pattern: RegExp, env: Record<string, string> = {}) =>
    assert.throws(
      () => loadSettings(table, env.PROCFLOW_CONFIG ? [] : ['--config', path], env),
      (e: unknown) => e instanceof ConfigError && e.message.includes(JSON.stringify(path)) && pattern.test(e.message) && !/ENOENT/.test(e.message) && Boolean(e.hint),
      path,
    );
  check(join(dir, 'nonexistent.json'), /does not exist/);
  check(join(dir, 'nonexistent.json'), /does not exist/, { PROCFLOW_CONFIG: join(dir, 'nonexistent.json') });
  check(dir, /cannot be read \(EISDIR\)/);
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{"token": "x",}');
  check(broken, /is not valid JSON/);
  const list = join(dir, 'list.json');
  writeFileSync(list, '["token"]');
  check(list, /does not hold a JSON object/);
  const unknown = join(dir, 'unknown.json');
  writeFileSync(unknown, '{"flush-interval": "1s"}');
  check(unknown, /unknown setting "flush-interval"/);
});

test('help prints durations and sizes as people write them, and every printed default reads back as itself', async () => {
  const help = formatHelp('procflow x', 'does x', { ...table, flush_interval: { ...table.flush_interval, default: 60_000 }, max_body: { ...table.max_body, default: 16 * 1024 * 1024 } });
  assert.match(help, /\[default: 1m\]/);
  assert.match(help, /\[default: 16 MiB\]/);
  assert.doesNotMatch(help, /60000|16777216/);
  assert.equal(formatDuration(86_400_000), '1d');
  assert.equal(formatDuration(1500), '1500ms');
  assert.equal(formatSize(4096), '4 KiB');
  assert.equal(formatSize(1000), '1000 B');
  const { COMMAND_NAMES, loadCommand } = await import('../../cli/invocation.js');
  for (const name of COMMAND_NAMES) {
    const settings = (await loadCommand(name))!.settings;
    for (const [key, s] of Object.entries(settings)) {
      if (s.format !== 'duration' && s.format !== 'size') continue;
      const shown = formatDefault(s);
      const { config } = loadSettings(settings as SettingsTable, [flagOf(key), shown], {});
      assert.equal(config[key], s.default, `procflow ${name} ${flagOf(key)} ${shown}`);
    }
  }
});
