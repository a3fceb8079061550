// `procflow setup` through the real CLI against the real Elasticsearch: idempotent, installs
// templates carrying the schema version, and an index created from a document gets the
// flow-log mapping with ECS aliases that queries can use.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it, type TestContext } from 'node:test';
import { FLOW_CONTRACT, SCHEMA_VERSION, buildTemplates } from '../../schema/index.js';
import { checkTemplates } from '../../schema/install.js';
import { getTestCluster, type TestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';
import { deleteDayIndices, privateDay, sampleFlow, startEsProxy } from './indexer-harness.js';

const bin = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));

describe('procflow setup', () => {
  let cluster: TestCluster | undefined;
  let reason = '';
  const day = privateDay();

  before(async () => {
    const res = await getTestCluster();
    if (res.cluster) cluster = res.cluster;
    else reason = res.reason;
  });
  after(async () => {
    if (!cluster) return;
    await deleteDayIndices(cluster.client, day);
    await cluster.stop();
  });
  const need = (t: TestContext): boolean => {
    if (!cluster) skipOrFail(t, reason);
    return cluster !== undefined;
  };

  /** A real TLS terminator (self-signed certificate for 127.0.0.1) in front of the real cluster. */
  async function tlsFront(): Promise<{ url: string; caFile: string; close(): Promise<void> }> {
    const dir = mkdtempSync(join(tmpdir(), 'procflow-tls-'));
    const key = join(dir, 'key.pem');
    const caFile = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', caFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const target = new URL(cluster!.url);
    const server: TlsServer = createTlsServer({ key: readFileSync(key), cert: readFileSync(caFile) }, (tls) => {
      const up = connect(Number(target.port), target.hostname);
      tls.pipe(up).pipe(tls);
      up.on('error', () => tls.destroy());
      tls.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return {
      url: `https://127.0.0.1:${port}`,
      caFile,
      close: async () => {
        await new Promise<void>((r) => server.close(() => r()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  /** Async, so the TLS front in this process keeps serving while the CLI runs. */
  const runSetup = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, 'setup', '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c));
      child.stderr.on('data', (c: Buffer) => (stderr += c));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });

  const setup = () =>
    spawnSync(process.execPath, [bin, 'setup', '--es-url', cluster!.url, '--wait-timeout', '30s', '--log-level', 'warn'], { encoding: 'utf8', timeout: 60_000 });

  it('installs the templates, and running it again changes nothing and still succeeds', async (t) => {
    if (!need(t)) return;
    const first = setup();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /procflow setup: done/);
    const before = await cluster!.client.indices.getIndexTemplate({ name: 'procflow-*' });

    const second = setup();
    assert.equal(second.status, 0, second.stderr);
    const after = await cluster!.client.indices.getIndexTemplate({ name: 'procflow-*' });
    const shape = (r: typeof before) => r.index_templates.map((x) => [x.name, x.index_template.index_patterns, x.index_template.composed_of]).sort();
    assert.deepEqual(shape(after), shape(before));

    const expected = buildTemplates({ capabilities: { ilm: false }, retentionDays: 1 }).indexTemplates.map((x) => x.name);
    for (const name of expected) {
      const found = after.index_templates.find((x) => x.name === name);
      assert.ok(found, `${name} installed`);
      assert.equal(found.index_template._meta?.schema_version, SCHEMA_VERSION);
    }
    assert.equal(await checkTemplates(cluster!.client), null);
  });

  it('gives an index created from a flow document the flow-log mapping, ECS aliases included', async (t) => {
    if (!need(t)) return;
    const doc = sampleFlow(day, 1, { source_ip: '10.20.30.40', dest_port: 5432, process_name: '/usr/lib/postgresql/16/bin/postgres' });
    const index = FLOW_CONTRACT.index(doc);
    await cluster!.client.index({ index, id: FLOW_CONTRACT.id(doc), document: doc, refresh: true });

    const mapping = await cluster!.client.indices.getMapping({ index });
    const props = mapping[index]!.mappings.properties as Record<string, { type?: string; path?: string; properties?: Record<string, { type: string; path: string }> }>;
    assert.equal(props.source_ip!.type, 'ip');
    assert.equal(props.host!.type, 'keyword');
    assert.equal(props.bytes_in!.type, 'long');
    assert.equal(props['@timestamp']!.type, 'date');
    assert.deepEqual(props.source!.properties!.ip, { type: 'alias', path: 'source_ip' });

    const search = async (query: object) => (await cluster!.client.search({ index, query })).hits.hits.map((h) => h._id);
    const id = FLOW_CONTRACT.id(doc);
    assert.deepEqual(await search({ term: { 'source.ip': '10.20.0.0/16' } }), [id], 'CIDR query through the ECS alias');
    assert.deepEqual(await search({ term: { 'process.executable': '/usr/lib/postgresql/16/bin/postgres' } }), [id]);
    assert.deepEqual(await search({ range: { 'destination.port': { gte: 5000, lt: 6000 } } }), [id]);
    assert.deepEqual(await search({ term: { 'source.ip': '10.99.0.0/16' } }), [], 'and misses what does not match');

    // The mapping is strict: a field outside the contract is refused, not silently mapped.
    await assert.rejects(cluster!.client.index({ index, document: { ...doc, surprise: 1 } }), /strict_dynamic_mapping_exception/);
  });

  it('talks https with --es-ca-file, and says to pass it (or that it cannot be read) instead of "start Elasticsearch"', async (t) => {
    if (!need(t)) return;
    const front = await tlsFront();
    t.after(() => front.close());

    const ok = await runSetup(['--es-url', front.url, '--es-ca-file', front.caFile, '--wait-timeout', '30s']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /procflow setup: done/);

    const untrusted = await runSetup(['--es-url', front.url, '--wait-timeout', '30s']);
    assert.equal(untrusted.status, 1);
    assert.match(untrusted.stderr, /certificate/);
    assert.match(untrusted.stderr, /--es-ca-file/, untrusted.stderr);

    const missing = await runSetup(['--es-url', front.url, '--es-ca-file', '/nonexistent/ca.crt', '--wait-timeout', '30s']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /--es-ca-file/, missing.stderr);
    assert.match(missing.stderr, /\/nonexistent\/ca\.crt/);
  });

  it('on a secured cluster, a user without the privileges is told which, instead of silently losing ILM retention', async (t) => {
    if (!need(t)) return;
    const proxy = await startEsProxy(cluster!.url);
    t.after(() => proxy.close());
    // The user may not read ILM: that is not "the cluster has no ILM".
    proxy.denyPath(/^\/_ilm\//, 403);
    const ilm = await runSetup(['--es-url', proxy.url, '--wait-timeout', '30s']);
    assert.equal(ilm.status, 1, ilm.stdout);
    assert.match(ilm.stderr, /403/);
    assert.match(ilm.stderr, /privilege/);
    assert.doesNotMatch(ilm.stderr, /has no ILM/);

    proxy.denyPath(/^\/_component_template\//, 403);
    const templates = await runSetup(['--es-url', proxy.url, '--wait-timeout', '30s']);
    assert.equal(templates.status, 1, templates.stdout);
    assert.match(templates.stderr, /manage_index_templates/);
  });
});
