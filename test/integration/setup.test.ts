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
import { FLOW_CONTRACT, PROCESS_CONTRACT, SCHEMA_VERSION, buildTemplates, dailyIndex } from '../../schema/index.js';
import { checkTemplates } from '../../schema/install.js';
import { getTestCluster, type TestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';
import { deleteDayIndices, privateDay, sampleFlow, sampleProcessEvent, startEsProxy } from './indexer-harness.js';

const bin = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));

describe('procflow setup', () => {
  let cluster: TestCluster | undefined;
  let reason = '';
  const day = privateDay();
  const nextDay = new Date(day.getTime() + 86_400_000);

  before(async () => {
    const res = await getTestCluster();
    if (res.cluster) cluster = res.cluster;
    else reason = res.reason;
  });
  after(async () => {
    if (!cluster) return;
    await deleteDayIndices(cluster.client, day);
    await deleteDayIndices(cluster.client, nextDay);
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

    const expected = buildTemplates({ capabilities: { ilm: false, logsdb: null }, retentionDays: 1 }).indexTemplates.map((x) => x.name);
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

  const settingsOf = async (index: string) => (await cluster!.client.indices.getSettings({ index, flat_settings: true }))[index]!.settings as Record<string, unknown>;
  const indexTemplateMode = async (name: string) =>
    ((await cluster!.client.indices.getIndexTemplate({ name })).index_templates[0]!.index_template.template?.settings as { index?: { mode?: string } } | undefined)?.index?.mode;

  it('installs logsdb where the cluster takes it, says so, and keeps procflow\'s sort and mappings in it', async (t) => {
    if (!need(t)) return;
    const res = setup();
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /index mode of flow, process and DNS indices: logsdb with synthetic _source\)/);

    const flow = sampleFlow(nextDay, 1);
    const flows = FLOW_CONTRACT.index(flow);
    await cluster!.client.index({ index: flows, id: FLOW_CONTRACT.id(flow), document: flow, refresh: true });
    const fs = await settingsOf(flows);
    assert.equal(fs['index.mode'], 'logsdb');
    assert.deepEqual([fs['index.sort.field'], fs['index.sort.order']], [['host', 'process_name', 'dest_name', '@timestamp'], ['asc', 'asc', 'asc', 'desc']]);
    const props = (await cluster!.client.indices.getMapping({ index: flows }))[flows]!.mappings.properties as Record<string, { type?: string; properties?: unknown; index?: boolean }>;
    assert.equal(props.host!.type, 'keyword', 'no host.name object pushed in by logsdb');
    assert.equal(props.host!.properties, undefined);
    assert.equal(props.bytes_in!.index, false);

    const proc = sampleProcessEvent(nextDay, 1, 'process_exec');
    const procIndex = PROCESS_CONTRACT.index(proc);
    await cluster!.client.index({ index: procIndex, id: PROCESS_CONTRACT.id(proc), document: proc, refresh: true });
    const ps = await settingsOf(procIndex);
    assert.equal(ps['index.mode'], 'logsdb');
    assert.deepEqual(ps['index.sort.field'], ['node_name', '@timestamp']);
    const hostName = (await cluster!.client.indices.getMapping({ index: procIndex }))[procIndex]!.mappings.properties!.host as { properties: { name: unknown } };
    assert.deepEqual(hostName.properties.name, { type: 'alias', path: 'node_name' }, 'the ECS alias stays an alias');

    // Doc-values-only fields still answer filters, through their ECS names too.
    const hits = async (query: object) => (await cluster!.client.search({ index: flows, query })).hits.hits.length;
    assert.equal(await hits({ range: { bytes_in: { gte: flow.bytes_in, lte: flow.bytes_in } } }), 1);
    assert.equal(await hits({ range: { 'event.start': { gte: flow.start_time } } }), 1);
    assert.equal(await hits({ term: { 'source.port': flow.source_port } }), 1);
    assert.equal(await hits({ term: { 'source.port': 1 } }), 0);
  });

  it('keeps the standard index mode where the cluster is older than 8.17 or refuses logsdb, says why, and names a licence without synthetic _source', async (t) => {
    if (!need(t)) return;
    const proxy = await startEsProxy(cluster!.url);
    t.after(async () => {
      await proxy.close();
      // The next suites get the templates this cluster really takes.
      assert.equal(setup().status, 0);
    });
    const run = async () => {
      const res = await runSetup(['--es-url', proxy.url, '--wait-timeout', '30s']);
      assert.equal(res.status, 0, res.stderr);
      return res.stdout;
    };

    proxy.rewrite(/^\/_nodes/, (body) => {
      for (const n of Object.values((body.nodes ?? {}) as Record<string, { version: string }>)) n.version = '8.16.3';
      return body;
    });
    assert.match(await run(), /standard \(no logsdb on this cluster\): Elasticsearch 8\.16\.3 is older than 8\.17/);
    assert.equal(await indexTemplateMode('procflow-flows'), undefined);
    assert.equal(await checkTemplates(cluster!.client), null, 'either mode is the current schema');

    proxy.rewrite(null);
    proxy.denyPath(/^\/_index_template\/_simulate/, 400);
    assert.match(await run(), /standard \(no logsdb on this cluster\): the cluster refused index\.mode logsdb for flows/);
    assert.equal(await indexTemplateMode('procflow-dns'), undefined);

    // A basic licence on the default distribution: Elasticsearch keeps logsdb but stores _source.
    proxy.denyPath(null);
    proxy.rewrite(/^\/_index_template\/_simulate/, (body) => {
      const index = ((body.template as { settings: { index: Record<string, unknown> } }).settings.index);
      index.mapping = { source: { mode: 'stored' } };
      return body;
    });
    assert.match(await run(), /logsdb with stored _source\)/);
    assert.equal(await indexTemplateMode('procflow-flows'), 'logsdb');
  });

  it('upgrades a cluster holding schema 4 templates: today\'s index keeps its settings and takes writes, the next day\'s is logsdb, queries span both', async (t) => {
    if (!need(t)) return;
    // Schema 4 as setup installed it: the standard mode, every field indexed.
    const v4 = buildTemplates({ capabilities: { ilm: false, logsdb: null }, retentionDays: 1 });
    const asV4 = (o: unknown): unknown =>
      JSON.parse(JSON.stringify(o), (key, value: unknown) => {
        if (key === 'schema_version') return 4;
        if (value && typeof value === 'object' && (value as { index?: unknown }).index === false && (value as { doc_values?: unknown }).doc_values !== false) {
          const { index: _index, ...rest } = value as Record<string, unknown>;
          return rest;
        }
        return value;
      });
    for (const c of v4.components) await cluster!.client.cluster.putComponentTemplate({ name: c.name, ...(asV4(c.body) as object) } as never);
    for (const x of v4.indexTemplates) await cluster!.client.indices.putIndexTemplate({ name: x.name, ...(asV4(x.body) as object) } as never);
    assert.match(String(await checkTemplates(cluster!.client)), new RegExp(`schema version 4, expected ${SCHEMA_VERSION}; run procflow setup`));

    // Today's index is made by schema 4.
    const before = sampleFlow(day, 500, { process_name: '/usr/bin/upgrade-test' });
    const today = FLOW_CONTRACT.index(before);
    await cluster!.client.indices.delete({ index: today }, { ignore: [404] });
    await cluster!.client.index({ index: today, id: FLOW_CONTRACT.id(before), document: before, op_type: 'create', refresh: true });

    const res = setup();
    assert.equal(res.status, 0, res.stderr);
    assert.equal(await checkTemplates(cluster!.client), null);

    // Index mode and sort are fixed when an index is made: today's keeps schema 4's, and takes the rest of the day's documents.
    assert.equal((await settingsOf(today))['index.mode'], undefined);
    const later = sampleFlow(day, 501, { process_name: '/usr/bin/upgrade-test' });
    await cluster!.client.index({ index: today, id: FLOW_CONTRACT.id(later), document: later, op_type: 'create', refresh: true });
    const tomorrowDoc = sampleFlow(nextDay, 502, { process_name: '/usr/bin/upgrade-test' });
    const tomorrow = dailyIndex('flows', tomorrowDoc['@timestamp']);
    await cluster!.client.indices.delete({ index: tomorrow }, { ignore: [404] });
    await cluster!.client.index({ index: tomorrow, id: FLOW_CONTRACT.id(tomorrowDoc), document: tomorrowDoc, op_type: 'create', refresh: true });
    assert.equal((await settingsOf(tomorrow))['index.mode'], 'logsdb');
    assert.deepEqual((await settingsOf(tomorrow))['index.sort.field'], ['host', 'process_name', 'dest_name', '@timestamp'], 'the next day\'s index takes the new sort');

    // One query over both days: a term, a range on a field indexed in one and doc values only in the other, an aggregation.
    const found = await cluster!.client.search({
      index: `${today},${tomorrow}`,
      size: 10,
      query: { bool: { filter: [{ term: { 'process.executable': '/usr/bin/upgrade-test' } }, { range: { bytes_in: { gte: 0 } } }] } },
      aggs: { out: { sum: { field: 'bytes_out' } } },
    });
    assert.equal(found.hits.hits.length, 3);
    assert.equal((found.aggregations!.out as { value: number }).value, before.bytes_out + later.bytes_out + tomorrowDoc.bytes_out);
  });
});
