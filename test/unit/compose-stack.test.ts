// docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine: the
// services and images, security and passwords, that every procflow command, flag and
// PROCFLOW_* variable they use exists in the CLI's settings tables, the TLS between agent and
// indexer (the certs step run for real, every certificate and token flag pointing at a file it
// makes in a volume the service mounts, no token on a command line or in the environment),
// that the health checks pass against the real indexer over mTLS, restart policies, and the
// build and runtime stages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join, posix } from 'node:path';
import { parse } from 'yaml';
import { invocationProblems, isPlaceholder, loadCommand } from '../../cli/invocation.js';
import { ES_VERSION } from '../../local-services/elasticsearch.js';
import { loadSettings } from '../../common/config.js';
import { INDEXER_SETTINGS, startIndexer } from '../../indexer/index.js';
import { withDefaults } from '../../indexer/options.js';
import { probe } from '../../deploy/probe.js';
import { skipOrFail } from '../support/environment.js';
import { makeCerts, type Certs } from '../support/make-certs.js';
import { pino } from 'pino';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (p: string) => readFileSync(join(root, p), 'utf8');

interface Service {
  image?: string;
  build?: string | { context: string };
  entrypoint?: string[];
  command?: string[];
  secrets?: string[];
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

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown>; secrets?: Record<string, { environment?: string; file?: string }> };
const services = compose.services;
const procflowServices = Object.entries(services).filter(([, s]) => s.image === 'procflow:local');
// Services that run `procflow <command>` (the certs step runs a shell script instead).
const procflowCommands = procflowServices.filter(([, s]) => !s.entrypoint);
const flagValue = (argv: string[], flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);

const envExample = Object.fromEntries(
  read('.env.example')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => l.split('=') as [string, string]),
);

// The certs step: `make-certs.sh [options] DIR NAME...` into the volumes it mounts under DIR.
const certs = services.certs!;
const MAKE_CERTS_VALUED = ['--days', '--renew-days', '--ca-days', '--agent-name', '--owner', '--token-file'];
const certsPositionals = certs.command!.filter((a, i, all) => !a.startsWith('--') && !MAKE_CERTS_VALUED.includes(all[i - 1]!));
const [certsDir, ...certNames] = certsPositionals as [string, ...string[]];
const volumeOf = (s: Service, path: string) =>
  (s.volumes ?? []).map((v) => v.split(':')).find(([, target]) => path === target || path.startsWith(`${target}/`));

/** Where the certs step writes the file `service` reads at `path` (relative to its DIR). */
function madeBy(service: string, path: string): string {
  const mount = volumeOf(services[service]!, path);
  assert.ok(mount, `${service}: a volume is mounted where ${path} is`);
  const [volume, target] = mount as [string, string];
  assert.ok(volume in compose.volumes, `${service}: ${volume} is a named volume`);
  const there = certs.volumes!.map((v) => v.split(':')).find(([v]) => v === volume);
  assert.ok(there, `the certs step mounts ${volume}`);
  const inCerts = posix.join(there[1]!, posix.relative(target, path));
  assert.ok(inCerts.startsWith(`${certsDir}/`), `${inCerts} is under the certs step's directory ${certsDir}`);
  return posix.relative(certsDir, inCerts);
}

/** The certs step, run for real into a temporary directory (the token from .env.example). */
function runCertsStep(): Certs {
  const tokenDir = mkdtempSync(join(tmpdir(), 'procflow-token-'));
  try {
    const token = join(tokenDir, 'token');
    writeFileSync(token, envExample.PROCFLOW_TOKEN!);
    // As the compose file runs it, less --owner (a test may run as a user that cannot chown).
    const options = certs.command!.slice(0, certs.command!.indexOf(certsDir));
    const args = options.filter((a, i) => a !== '--owner' && options[i - 1] !== '--owner').map((a, i, all) => (all[i - 1] === '--token-file' ? token : a));
    return makeCerts(certNames, args);
  } finally {
    rmSync(tokenDir, { recursive: true, force: true });
  }
}

test('the stack has Elasticsearch, Kibana, setup, certs, indexer and agent, Elastic images at the tested version', () => {
  for (const name of ['elasticsearch', 'kibana', 'setup', 'certs', 'indexer', 'agent']) assert.ok(services[name], `service ${name}`);
  assert.equal(services.elasticsearch!.image, `docker.elastic.co/elasticsearch/elasticsearch:${ES_VERSION}`);
  assert.equal(services.kibana!.image, `docker.elastic.co/kibana/kibana:${ES_VERSION}`);
  assert.deepEqual(procflowServices.map(([n]) => n).sort(), ['agent', 'certs', 'indexer', 'setup']);
  assert.ok(procflowServices.some(([, s]) => s.build === '.'), 'the procflow image is built from the Dockerfile');
});

test('Elasticsearch runs single-node with security on and passwords from .env', () => {
  const env = services.elasticsearch!.environment!;
  assert.equal(env['discovery.type'], 'single-node');
  assert.equal(env['xpack.security.enabled'], 'true');
  assert.match(env.ELASTIC_PASSWORD!, /^\$\{ELASTIC_PASSWORD:\?/);
  assert.equal(services.kibana!.environment!.ELASTICSEARCH_USERNAME, 'kibana_system');
  assert.match(services.kibana!.environment!.ELASTICSEARCH_PASSWORD!, /^\$\{KIBANA_PASSWORD/);
  // Every variable the file interpolates or turns into a secret is documented in .env.example.
  const used = new Set([...read('docker-compose.yml').matchAll(/(?<!\$)\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!));
  for (const secret of Object.values(compose.secrets ?? {})) if (secret.environment) used.add(secret.environment);
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
  for (const [name, s] of procflowCommands) {
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
  assert.ok(services.indexer!.ports!.every((p) => p.startsWith('127.0.0.1:')), 'the indexer is published on loopback only');
});

test('the certs step runs make-certs.sh from the image once, before the indexer and the agent', () => {
  assert.deepEqual(certs.entrypoint, ['/bin/sh', '/opt/procflow/deploy/tls/make-certs.sh']);
  assert.equal(certs.restart, 'no', 'one shot');
  for (const name of ['indexer', 'agent']) assert.equal(services[name]!.depends_on!.certs?.condition, 'service_completed_successfully', name);
  // It runs as root to give the files to the node user (uid 1000) the indexer runs as.
  assert.equal(certs.user, '0:0');
  assert.equal(flagValue(certs.command!, '--owner'), '1000:1000');
  // The CA's volume is mounted by the certs step only.
  const caVolume = certs.volumes!.find((v) => v.endsWith(`${certsDir}/ca`))!.split(':')[0]!;
  for (const [name, s] of Object.entries(services)) if (name !== 'certs') assert.ok(!(s.volumes ?? []).some((v) => v.split(':')[0] === caVolume), `${name} does not mount ${caVolume}`);
  for (const [name, s] of Object.entries(services)) if (name !== 'certs') for (const v of s.volumes ?? []) if (v.split(':')[0]! in compose.volumes && certs.volumes!.some((c) => c.split(':')[0] === v.split(':')[0])) assert.ok(v.endsWith(':ro'), `${name} mounts ${v} read-only`);
});

test('agent and indexer speak mTLS: every certificate and token flag names a file the certs step makes in a volume the service mounts', () => {
  const indexer = services.indexer!.command!;
  const agent = services.agent!.command!;
  assert.equal(new URL(flagValue(agent, '--indexer-url')!).protocol, 'https:');
  // The names the agent and the health check use are in the server certificate.
  assert.ok(certNames.includes(new URL(flagValue(agent, '--indexer-url')!).hostname), 'the agent connects to a name of the certificate');
  const wanted: Array<[string, string, string]> = [
    ['indexer', '--tls-cert-file', 'indexer/tls.crt'], ['indexer', '--tls-key-file', 'indexer/tls.key'], ['indexer', '--tls-client-ca-file', 'indexer/ca.crt'], ['indexer', '--token-file', 'token/token'],
    ['agent', '--indexer-ca-file', 'agent/ca.crt'], ['agent', '--indexer-cert-file', 'agent/tls.crt'], ['agent', '--indexer-key-file', 'agent/tls.key'], ['agent', '--token-file', 'token/token'],
  ];
  const made = runCertsStep();
  try {
    for (const [service, flag, file] of wanted) {
      const path = flagValue(service === 'indexer' ? indexer : agent, flag);
      assert.ok(path, `${service} ${flag}`);
      assert.equal(madeBy(service, path), file, `${service} ${flag} ${path}`);
      assert.ok(existsSync(join(made.dir, file)), `the certs step makes ${file}`);
    }
    assert.equal(made.read('token/token').toString(), envExample.PROCFLOW_TOKEN, 'the token file holds PROCFLOW_TOKEN');
  } finally {
    made.remove();
  }
});

test('the token is on no command line and in no environment: a compose secret that only the certs step sees', () => {
  assert.deepEqual(compose.secrets, { procflow_token: { environment: 'PROCFLOW_TOKEN' } });
  assert.equal(flagValue(certs.command!, '--token-file'), '/run/secrets/procflow_token');
  for (const [name, s] of Object.entries(services)) {
    assert.ok(!(s.command ?? []).some((a) => a === '--token' || a.startsWith('--token=') || a.includes('PROCFLOW_TOKEN')), `${name}: no token on the command line`);
    assert.ok(!Object.keys(s.environment ?? {}).includes('PROCFLOW_TOKEN'), `${name}: no PROCFLOW_TOKEN in the environment`);
    assert.ok(!JSON.stringify(s.environment ?? {}).includes('PROCFLOW_TOKEN'), `${name}: no token in the environment`);
    if (name !== 'certs') assert.equal(s.secrets, undefined, `${name} gets no secret`);
  }
  assert.deepEqual(certs.secrets, ['procflow_token']);
});

test('long-running services restart and have health checks; the indexer check passes against the real indexer over mTLS', async (t) => {
  for (const name of ['elasticsearch', 'kibana', 'indexer', 'agent']) assert.equal(services[name]!.restart, 'unless-stopped', name);
  for (const name of ['elasticsearch', 'kibana', 'indexer', 'agent']) assert.ok(services[name]!.healthcheck?.test?.length, `${name} health check`);
  // The agent's check asks its own listen address, which stays on loopback (the host network).
  const agentCmd = (await loadCommand('agent'))!;
  if (isPlaceholder(agentCmd)) skipOrFail(t, 'procflow agent is still a placeholder; its health endpoint cannot be checked');
  else {
    const listen = flagValue(services.agent!.command!, '--listen') ?? String(agentCmd.settings.listen?.default);
    assert.match(listen, /^(127\.0\.0\.1|\[::1\]|localhost):\d+$/, 'the agent listens on loopback only');
    assert.match(services.agent!.healthcheck!.test.join(' '), new RegExp(`http://${listen.replaceAll('.', '\\.')}/healthz`));
  }
  // The indexer's check is deploy/probe.js with the indexer's own certificate as client certificate.
  const [kind, node, script, url, ...options] = services.indexer!.healthcheck!.test as [string, string, string, string, ...string[]];
  assert.deepEqual([kind, node, script], ['CMD', 'node', '/opt/procflow/dist/deploy/probe.js']);
  assert.ok(existsSync(join(root, 'dist/deploy/probe.js')), 'the probe is built into dist/');
  const m = /^https:\/\/127\.0\.0\.1:(\d+)(\/[a-z]+)$/.exec(url);
  assert.ok(m, `the indexer health check asks https on 127.0.0.1: ${url}`);
  assert.ok(services.indexer!.command!.includes(`0.0.0.0:${m[1]}`), 'on the port the indexer listens on');
  assert.ok(certNames.includes('127.0.0.1'), 'a name of the server certificate');
  const tlsFlags = ['--tls-cert-file', '--tls-key-file', '--tls-client-ca-file'].map((f) => flagValue(services.indexer!.command!, f));
  assert.deepEqual([flagValue(options, '--cert-file'), flagValue(options, '--key-file'), flagValue(options, '--ca-file')], tlsFlags, 'the probe uses the files the indexer serves with');

  // The real indexer, started with the compose command on the certs step's files (Elasticsearch
  // unreachable), and the check as the container runs it.
  const made = runCertsStep();
  t.after(() => made.remove());
  const local = (path: string) => join(made.dir, madeBy('indexer', path));
  const args = services.indexer!.command!.slice(1).map((a) => (a.startsWith('/etc/') ? local(a) : a));
  const opts = loadSettings(INDEXER_SETTINGS, args, {}).config;
  const indexer = await startIndexer(withDefaults({ ...opts, es_url: 'http://127.0.0.1:1', listen: '127.0.0.1:0', install_templates: false }), { log: pino({ level: 'silent' }) });
  t.after(() => indexer.close());
  const port = new URL(indexer.url).port;
  const asRun = (path: string) => probe([`https://127.0.0.1:${port}${path}`, ...options.map((a) => (a.startsWith('/etc/') ? local(a) : a))]);
  assert.deepEqual(await asRun('/healthz'), { ok: true, message: `probe: https://127.0.0.1:${port}/healthz answered 200` });
  const ready = await asRun(m[2]!);
  assert.equal(ready.ok, false, 'not ready while Elasticsearch is unreachable');
  assert.match(ready.message, /answered 503/, 'the TLS handshake (with the client certificate) succeeded and the path exists');
  // Without a client certificate the indexer does not answer at all.
  assert.equal((await probe([`https://127.0.0.1:${port}/healthz`, '--ca-file', local(tlsFlags[2]!)])).ok, false);
  assert.equal(services.agent!.depends_on!.indexer!.condition, 'service_healthy');
});

test('the Dockerfile builds in a full stage and runs on node slim with libelf and zlib', () => {
  const df = read('Dockerfile');
  const stages = [...df.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ image: m[1], name: m[2] }));
  // Which Node.js major: node-runtime.test.ts.
  assert.deepEqual(stages.map((s) => ({ ...s, image: s.image?.replace(/^node:\d+-/, 'node:N-') })), [{ image: 'node:N-bookworm', name: 'build' }, { image: 'node:N-bookworm-slim', name: undefined }]);
  const [build, runtime] = df.split(/^FROM node:\d+-bookworm-slim/m) as [string, string];
  assert.match(build, /RUN npm ci/);
  assert.match(build, /RUN npm run build/);
  assert.match(runtime, /apt-get install[^\n]*\blibelf1\b[^\n]*\bzlib1g\b/);
  assert.doesNotMatch(runtime, /\b(clang|llvm|libelf-dev|g\+\+)\b/, 'no compilers at run time');
  // Every COPY from the build context names a file that exists; every COPY --from=build comes
  // from a path the build produces (or the repository holds).
  for (const m of build.matchAll(/^COPY\s+(?!--)(.+)\s+\S+$/gm)) for (const src of m[1]!.trim().split(/\s+/)) if (src !== '.') assert.ok(existsSync(join(root, src)), `COPY ${src}`);
  const produced = ['package.json', 'node_modules', 'bin', 'dist', 'native/build/Release/procflow.node', 'kibana/procflow.ndjson', 'deploy/tls/make-certs.sh'];
  for (const m of runtime.matchAll(/^COPY --from=build \/src\/(\S+)/gm)) assert.ok(produced.includes(m[1]!), `COPY --from=build ${m[1]}`);
  assert.ok(existsSync(join(root, 'bin/procflow.js')));
  // The certs step's script, where its entrypoint looks, and the openssl CLI it runs.
  assert.match(runtime, /^WORKDIR \/opt\/procflow$/m);
  assert.match(runtime, /^COPY --from=build \/src\/deploy\/tls\/make-certs\.sh \.\/deploy\/tls\/make-certs\.sh$/m);
  assert.match(runtime, /apt-get install[^\n]*\bopenssl\b/);
  assert.match(runtime, /ENTRYPOINT \["node", "\/opt\/procflow\/bin\/procflow.js"\]/);
  // The addon is found where the runtime copies it (native/binding.ts looks there).
  assert.match(read('native/binding.ts'), /native\/build\/Release\/procflow\.node/);
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.build!, /build:kernel/);
  const ignore = read('.dockerignore').split('\n');
  for (const p of ['node_modules', 'dist', '.env', '.git']) assert.ok(ignore.includes(p), `.dockerignore has ${p}`);
});
