// The agent's own HTTP port on a real agent (synthetic source): with --api-token-file, /metrics
// and /v1/events need a listed token (401 with WWW-Authenticate otherwise, rotation without a
// restart) while /healthz stays open and says only whether the agent is healthy; an address off
// loopback without a token file is refused before anything starts; a Unix socket (0600, a stale
// one replaced) serves `procflow events`. Also the start-up warnings about exposed secrets.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadSettings } from '../../common/config.js';
import { ConfigError } from '../../common/errors.js';
import { AGENT_SETTINGS, agentDefaults, type AgentConfig } from '../../agent/config.js';
import events from '../../cli/commands/events.js';
import { startAgent, startupWarnings, validateAgentConfig, type RunningAgent } from '../../agent/run.js';
import { SyntheticCollector, execEvent } from '../../agent/synthetic.js';

const CLI = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));
const S = 1_000_000_000n;
const silent = pino({ level: 'silent' });

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-api-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function agentOn(t: TestContext, over: Partial<AgentConfig>): Promise<{ running: RunningAgent; collector: SyntheticCollector }> {
  const collector = new SyntheticCollector();
  const running = await startAgent(agentDefaults({ output: 'ndjson', process_events: false, node_name: 'api-node', flush_interval: 3_600_000, procfs_scan: false, listen: '127.0.0.1:0', ...over }), { collector, log: silent });
  t.after(() => running.shutdown());
  return { running, collector };
}

const get = (url: string, token?: string) => fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});

/** `procflow events` as a child process: resolves with its first `count` lines, or its exit and stderr. */
function eventsCli(args: string[], count: number, produce: () => void): Promise<{ lines: string[]; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'events', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setInterval(produce, 300);
  const deadline = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n').filter(Boolean);
      if (lines.length >= count) {
        clearInterval(timer);
        clearTimeout(deadline);
        child.kill('SIGINT');
        resolve({ lines: lines.slice(0, count), code: null, stderr });
      }
    });
    child.once('exit', (code) => {
      clearInterval(timer);
      clearTimeout(deadline);
      resolve({ lines: out.split('\n').filter(Boolean), code, stderr });
    });
  });
}

/** An agent whose --api-token-file holds `tokens`; its base URL, the file and its directory. */
async function agentWithApiTokens(t: TestContext, tokens: string): Promise<{ base: string; tokenFile: string; dir: string }> {
  const dir = tempDir(t);
  const tokenFile = join(dir, 'api-tokens');
  writeFileSync(tokenFile, tokens);
  const { running } = await agentOn(t, { api_token_file: tokenFile });
  return { base: running.server.url, tokenFile, dir };
}

test('with --api-token-file, /metrics and /v1/events need a listed token; /healthz stays open and shows only the status', async (t) => {
  const { base, tokenFile, dir } = await agentWithApiTokens(t, '# scrapers\nprom-token\n\nevents-token\n');

  for (const path of ['/metrics', '/v1/events']) {
    const res = await get(`${base}${path}`);
    assert.equal(res.status, 401, `${path} without a token`);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    assert.equal((await get(`${base}${path}`, 'wrong')).status, 401, `${path} with a wrong token`);
  }
  const metrics = await get(`${base}/metrics`, 'prom-token');
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /procflow_agent_/);
  const stream = await get(`${base}/v1/events`, 'events-token');
  assert.equal(stream.status, 200, 'any listed token is valid');
  await stream.body?.cancel();

  const open = await get(`${base}/healthz`);
  assert.equal(open.status, 200, 'probes need no token');
  assert.deepEqual(Object.keys(await open.json() as object).sort(), ['lastFlush', 'status']);
  const full = await (await get(`${base}/healthz`, 'prom-token')).json() as Record<string, unknown>;
  assert.ok('cacheSize' in full && 'kernelHooks' in full, 'the details need a token');

  // Rotation: the new file takes effect without a restart, and the dropped token stops working.
  writeFileSync(join(dir, 'api-tokens.new'), 'rotated-token\n');
  renameSync(join(dir, 'api-tokens.new'), tokenFile);
  const end = Date.now() + 8000;
  while ((await get(`${base}/metrics`, 'rotated-token')).status !== 200) {
    assert.ok(Date.now() < end, 'the rotated token was never accepted');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal((await get(`${base}/metrics`, 'prom-token')).status, 401);
});

test('an address that keeps sending wrong API tokens is refused without a check, even with the right one', async (t) => {
  const { base } = await agentWithApiTokens(t, 'prom-token\n');
  assert.equal((await get(`${base}/metrics`, 'prom-token')).status, 200);
  for (let i = 0; i < 10; i++) assert.equal((await get(`${base}/metrics`, `guess-${i}`)).status, 401);
  assert.equal((await get(`${base}/metrics`, 'prom-token')).status, 401, 'out of tries: the right token is not even compared');
  assert.equal((await get(`${base}/healthz`)).status, 200, 'probes still answer');
});

test('the default loopback listen without a token file needs no token', async (t) => {
  const { running } = await agentOn(t, {});
  assert.equal((await get(`${running.server.url}/metrics`)).status, 200);
  assert.ok('cacheSize' in (await (await get(`${running.server.url}/healthz`)).json() as object));
});

test('--listen off loopback without --api-token-file is refused at config time; loopback, sockets and a token file are fine', () => {
  for (const listen of ['0.0.0.0:9464', '[::]:9464', '10.1.2.3:9464', 'node-1.example:9464']) {
    assert.throws(() => validateAgentConfig(agentDefaults({ output: 'ndjson', listen })), (err: Error) =>
      err instanceof ConfigError && err.message.includes(`--listen ${listen} is not a loopback address`)
      && /bind to loopback .*or set --api-token-file/.test(err.hint ?? ''), listen);
  }
  for (const listen of ['127.0.0.1:9464', '127.0.0.2:0', '[::1]:9464', 'localhost:9464', 'unix:/run/procflow/agent.sock']) {
    assert.doesNotThrow(() => validateAgentConfig(agentDefaults({ output: 'ndjson', listen })), listen);
  }
  assert.doesNotThrow(() => validateAgentConfig(agentDefaults({ output: 'ndjson', listen: '0.0.0.0:9464', api_token_file: '/etc/procflow/api-tokens' })));
});

test('procflow agent --listen 0.0.0.0:... exits before touching the kernel, saying what to do', () => {
  const r = spawnSync(process.execPath, [CLI, 'agent', '--output', 'ndjson', '--listen', '0.0.0.0:0'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--listen 0\.0\.0\.0:0 is not a loopback address/);
  assert.match(r.stderr, /hint: bind to loopback .*--api-token-file FILE \(PROCFLOW_API_TOKEN_FILE\)/);
});

test('--listen unix:PATH: a 0600 socket (a stale one replaced, removed at stop) that procflow events reads', async (t) => {
  const dir = tempDir(t);
  const sock = join(dir, 'agent.sock');
  // A socket file left by a process that died without cleaning up.
  const stale = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  assert.equal(stale.signal, 'SIGKILL');
  assert.ok(statSync(sock).isSocket(), 'the stale socket is there');
  const { running, collector } = await agentOn(t, { listen: `unix:${sock}` });
  assert.equal(running.server.url, `unix:${sock}`);
  assert.equal(statSync(sock).mode & 0o777, 0o600);
  let pid = 500;
  const got = await eventsCli(['--agent-url', `unix:${sock}`], 1, () => collector.emit([execEvent(pid++, 5n * S, '/usr/bin/id', ['-u'])]));
  assert.match(got.lines[0] ?? got.stderr, /^🚀 process api-node \/usr\/bin\/id -u$/);
  await running.shutdown();
  assert.equal(existsSync(sock), false, 'the socket file is removed at stop');
});

test('a --listen unix:PATH that is a regular file is left alone and refused', async (t) => {
  const file = join(tempDir(t), 'not-a-socket');
  writeFileSync(file, 'keep me\n');
  await assert.rejects(startAgent(agentDefaults({ output: 'ndjson', procfs_scan: false, listen: `unix:${file}` }), { collector: new SyntheticCollector(), log: silent }),
    (err: Error) => err instanceof ConfigError && /exists and is not a socket/.test(err.message));
  assert.equal(statSync(file).size, 8);
});

test('procflow events against an agent that wants a token: refused without --agent-token-file, streams with it', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'api-tokens'), 'cli-token\n');
  writeFileSync(join(dir, 'mine'), '# my copy\ncli-token\n');
  const { running, collector } = await agentOn(t, { api_token_file: join(dir, 'api-tokens') });
  const refused = await eventsCli(['--agent-url', running.server.url], 1, () => {});
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /HTTP 401/);
  assert.match(refused.stderr, /hint: pass --agent-token-file FILE \(PROCFLOW_AGENT_TOKEN_FILE\)/);
  let pid = 600;
  const got = await eventsCli(['--agent-url', running.server.url, '--agent-token-file', join(dir, 'mine')], 1, () => collector.emit([execEvent(pid++, 6n * S, '/usr/bin/whoami', [])]));
  assert.match(got.lines[0] ?? got.stderr, /^🚀 process api-node \/usr\/bin\/whoami$/);
});

test('start-up warnings: --token in the process list, both token sources, cleartext to another host', () => {
  const c = (over: Partial<AgentConfig>) => agentDefaults({ indexer_url: 'https://indexer.example:8080', token: 't', ...over });
  const msgs = (over: Partial<AgentConfig>, argv: string[] = []) => startupWarnings(c(over), argv).map((w) => w.msg);
  assert.deepEqual(msgs({}), [], 'https with the token from the environment warns about nothing');
  assert.deepEqual(msgs({ indexer_url: 'http://127.0.0.1:8080' }), [], 'cleartext on loopback stays on the host');
  assert.match(msgs({}, ['node', 'procflow', 'agent', '--token', 't']).join('\n'), /--token, which every user of this host can read in the process list; pass it in PROCFLOW_TOKEN or --token-file/);
  assert.equal(msgs({}, ['node', 'procflow', 'agent', '--token=t']).length, 1);
  assert.deepEqual(msgs({ token_file: '/run/token' }, ['node', 'procflow', 'agent', '--token-file', '/run/token']), ['agent: both --token-file and --token (PROCFLOW_TOKEN) are set; the token file is used']);
  const cleartext = msgs({ indexer_url: 'http://indexer.procflow.svc:8080' });
  assert.equal(cleartext.length, 1);
  assert.match(cleartext[0]!, /cleartext.*--tls-cert-file.*--indexer-ca-file/);
  assert.deepEqual(msgs({ output: 'ndjson', indexer_url: 'http://x:1' }, ['--token', 't']), [], 'nothing is shipped with --output ndjson');
});

test('--listen and procflow events --agent-url take unix:PATH as well as their usual form, and say so when refused', () => {
  assert.equal(loadSettings(AGENT_SETTINGS, ['--listen', 'unix:/run/procflow/agent.sock'], {}).config.listen, 'unix:/run/procflow/agent.sock');
  assert.equal(loadSettings(AGENT_SETTINGS, [], { PROCFLOW_LISTEN: '[::1]:9464' }).config.listen, '[::1]:9464');
  assert.throws(() => loadSettings(AGENT_SETTINGS, ['--listen', 'unix:'], {}), /--listen \(PROCFLOW_LISTEN\) must be HOST:PORT .*or unix:\/path\/to\.sock; got "unix:"/);
  assert.equal(loadSettings(events.settings, ['--agent-url', 'unix:/tmp/a.sock'], {}).config.agent_url, 'unix:/tmp/a.sock');
  assert.throws(() => loadSettings(events.settings, ['--agent-url', 'ftp://x'], {}), /--agent-url \(PROCFLOW_AGENT_URL\) must be an http\(s\) URL .*or unix:\/path\/to\.sock/);
});
