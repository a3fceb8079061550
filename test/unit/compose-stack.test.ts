// docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine: the
// services and images, security and passwords, that every procflow command, flag and
// PROCFLOW_* variable they use exists in the CLI's settings tables, that the health checks hit
// endpoints the real indexer serves, restart policies, and the build and runtime stages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parse } from 'yaml';
import { invocationProblems, isPlaceholder, loadCommand } from '../../localstack/invocation.js';
import { ES_VERSION } from '../../localstack/elasticsearch.js';
import { startIndexer } from '../../indexer/index.js';
import { withDefaults } from '../../indexer/options.js';
import { skipOrFail } from '../support/environment.js';
import { pino } from 'pino';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (p: string) => readFileSync(join(root, p), 'utf8');

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
  privileged?: boolean;
  pid?: string;
  network_mode?: string;
  user?: string;
  volumes?: string[];
  ports?: string[];
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const procflowServices = Object.entries(services).filter(([, s]) => s.image === 'procflow:local');
const envExample = Object.fromEntries(
  read('.env.example')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => l.split('=') as [string, string]),
);

test('the stack has Elasticsearch, Kibana, setup, indexer and agent, Elastic images at the tested version', () => {
  for (const name of ['elasticsearch', 'kibana', 'setup', 'indexer', 'agent']) assert.ok(services[name], `service ${name}`);
  assert.equal(services.elasticsearch!.image, `docker.elastic.co/elasticsearch/elasticsearch:${ES_VERSION}`);
  assert.equal(services.kibana!.image, `docker.elastic.co/kibana/kibana:${ES_VERSION}`);
  assert.deepEqual(procflowServices.map(([n]) => n).sort(), ['agent', 'indexer', 'setup']);
  assert.ok(procflowServices.some(([, s]) => s.build === '.'), 'the procflow image is built from the Dockerfile');
});

test('Elasticsearch runs single-node with security on and passwords from .env', () => {
  const env = services.elasticsearch!.environment!;
  assert.equal(env['discovery.type'], 'single-node');
  assert.equal(env['xpack.security.enabled'], 'true');
  assert.match(env.ELASTIC_PASSWORD!, /^\$\{ELASTIC_PASSWORD:\?/);
  assert.equal(services.kibana!.environment!.ELASTICSEARCH_USERNAME, 'kibana_system');
  assert.match(services.kibana!.environment!.ELASTICSEARCH_PASSWORD!, /^\$\{KIBANA_PASSWORD/);
  // Every variable the file interpolates is documented in .env.example.
  const used = new Set([...read('docker-compose.yml').matchAll(/(?<!\$)\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!));
  assert.deepEqual([...used].sort(), Object.keys(envExample).sort());
  assert.ok(read('.gitignore').split('\n').includes('.env'), '.env (real passwords) is never committed');
});

test('every procflow command, flag and PROCFLOW_* variable in the compose file exists in the CLI', async (t) => {
  const sample = envExample;
  // The checker itself rejects what the CLI would reject.
  assert.deepEqual(await invocationProblems(['indexer', '--no-such-flag', 'x']), ['procflow indexer: unknown flag --no-such-flag']);
  assert.deepEqual(await invocationProblems(['indexer'], { PROCFLOW_NO_SUCH: '1' }), ['procflow indexer: unknown environment variable PROCFLOW_NO_SUCH']);
  assert.equal((await invocationProblems(['indexer', '--listen', 'not-a-host-port'])).length, 1);
  assert.deepEqual(await invocationProblems(['nope']), ['procflow has no command "nope"']);
  for (const [name, s] of procflowServices) {
    assert.ok(s.command?.length, `${name} has a command`);
    const cmd = await loadCommand(s.command![0]!);
    assert.ok(cmd, `${name}: procflow ${s.command![0]} exists`);
    if (isPlaceholder(cmd)) {
      skipOrFail(t, `procflow ${s.command![0]} (service ${name}) is still a placeholder; its flags cannot be checked yet`);
      continue;
    }
    const problems = await invocationProblems(s.command!, s.environment ?? {}, sample);
    assert.deepEqual(problems, [], `service ${name}`);
  }
});

test('setup imports the dashboards into the Kibana service and installs templates', () => {
  const setup = services.setup!;
  assert.equal(setup.command![0], 'setup');
  assert.ok(setup.command!.includes('--kibana-url'));
  assert.equal(setup.command![setup.command!.indexOf('--kibana-url') + 1], 'http://kibana:5601');
  assert.equal(setup.environment!.PROCFLOW_ES_URL, 'http://elasticsearch:9200');
  assert.equal(setup.depends_on!.kibana!.condition, 'service_healthy');
  assert.equal(setup.restart, 'no', 'one shot');
});

test('the agent runs privileged in the host pid and network namespaces with tracefs and cgroups', () => {
  const agent = services.agent!;
  assert.equal(agent.privileged, true);
  assert.equal(agent.pid, 'host');
  assert.equal(agent.network_mode, 'host');
  assert.equal(agent.user, '0:0');
  const targets = agent.volumes!.map((v) => v.split(':')[1]);
  for (const p of ['/sys/kernel/tracing', '/sys/kernel/debug', '/sys/fs/cgroup']) assert.ok(targets.includes(p), `mounts ${p}`);
  // On the host network the agent reaches the indexer through its published port.
  const url = agent.command![agent.command!.indexOf('--indexer-url') + 1]!;
  const published = services.indexer!.ports!.map((p) => p.split(':').slice(-2)[0]);
  assert.ok(published.includes(new URL(url).port), `${url} is published by the indexer`);
  assert.equal(agent.environment!.PROCFLOW_TOKEN, services.indexer!.environment!.PROCFLOW_TOKEN, 'agent and indexer share the token');
});

test('long-running services restart and have health checks; the indexer check hits a path it serves', async (t) => {
  for (const name of ['elasticsearch', 'kibana', 'indexer', 'agent']) assert.equal(services[name]!.restart, 'unless-stopped', name);
  for (const name of ['elasticsearch', 'kibana', 'indexer', 'agent']) assert.ok(services[name]!.healthcheck?.test?.length, `${name} health check`);
  // The agent's check asks its own listen address (the default, as compose passes no --listen).
  const agentCmd = (await loadCommand('agent'))!;
  if (isPlaceholder(agentCmd)) skipOrFail(t, 'procflow agent is still a placeholder; its health endpoint cannot be checked');
  else {
    assert.ok(!services.agent!.command!.includes('--listen'));
    const listen = String(agentCmd.settings.listen?.default);
    assert.match(services.agent!.healthcheck!.test.join(' '), new RegExp(`http://${listen.replaceAll('.', '\\.')}/healthz`));
  }
  const check = services.indexer!.healthcheck!.test.join(' ');
  const m = /http:\/\/127\.0\.0\.1:(\d+)(\/[a-z]+)/.exec(check);
  assert.ok(m, 'the indexer health check fetches a URL');
  assert.ok(services.indexer!.command!.includes(`0.0.0.0:${m[1]}`), 'on the port the indexer listens on');
  // Start the real indexer (Elasticsearch unreachable) and ask the path the check asks.
  const indexer = await startIndexer(withDefaults({ es_url: 'http://127.0.0.1:1', token: 't', listen: '127.0.0.1:0', install_templates: false }), { log: pino({ level: 'silent' }) });
  t.after(() => indexer.close());
  const res = await fetch(`${indexer.url}${m[2]}`);
  assert.notEqual(res.status, 404, `${m[2]} exists on the indexer`);
  assert.equal((await fetch(`${indexer.url}/healthz`)).status, 200);
  for (const dep of Object.values(services.agent!.depends_on!)) assert.equal(dep.condition, 'service_healthy');
});

test('the Dockerfile builds in a full stage and runs on node slim with libelf and zlib', () => {
  const df = read('Dockerfile');
  const stages = [...df.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ image: m[1], name: m[2] }));
  assert.deepEqual(stages, [{ image: 'node:20-bookworm', name: 'build' }, { image: 'node:20-bookworm-slim', name: undefined }]);
  const [build, runtime] = df.split(/^FROM node:20-bookworm-slim/m) as [string, string];
  assert.match(build, /RUN npm ci/);
  assert.match(build, /RUN npm run build/);
  assert.match(runtime, /apt-get install[^\n]*\blibelf1\b[^\n]*\bzlib1g\b/);
  assert.doesNotMatch(runtime, /\b(clang|llvm|libelf-dev|g\+\+)\b/, 'no compilers at run time');
  // Every COPY from the build context names a file that exists; every COPY --from=build comes
  // from a path the build produces (or the repository holds).
  for (const m of build.matchAll(/^COPY\s+(?!--)(.+)\s+\S+$/gm)) for (const src of m[1]!.trim().split(/\s+/)) if (src !== '.') assert.ok(existsSync(join(root, src)), `COPY ${src}`);
  const produced = ['package.json', 'node_modules', 'bin', 'dist', 'native/build/Release/procflow.node', 'kibana/procflow.ndjson'];
  for (const m of runtime.matchAll(/^COPY --from=build \/src\/(\S+)/gm)) assert.ok(produced.includes(m[1]!), `COPY --from=build ${m[1]}`);
  assert.ok(existsSync(join(root, 'bin/procflow.js')));
  assert.match(runtime, /ENTRYPOINT \["node", "\/opt\/procflow\/bin\/procflow.js"\]/);
  // The addon is found where the runtime copies it (native/binding.ts looks there).
  assert.match(read('native/binding.ts'), /native\/build\/Release\/procflow\.node/);
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.build!, /build:kernel/);
  const ignore = read('.dockerignore').split('\n');
  for (const p of ['node_modules', 'dist', '.env', '.git']) assert.ok(ignore.includes(p), `.dockerignore has ${p}`);
});
