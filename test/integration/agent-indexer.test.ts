// Agent shipper -> real indexer -> real Elasticsearch, on a synthetic source: documents land
// with the right attribution; an indexer outage in the middle of a run and an agent restart
// with a non-empty spool lose nothing and duplicate nothing. Documents that can never be
// accepted (invalid, refused by the indexer, too large, unreadable on disk) stay on the agent
// without holding back or taking down the good documents beside them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { unpackBatch } from '../support/batches.js';
import { pino } from 'pino';
import { startIndexer, withDefaults, type Indexer } from '../../indexer/index.js';
import { FLOW_CONTRACT, dailyIndex, type FlowLog, type ProcessEventDoc } from '../../schema/index.js';
import { agentDefaults, type AgentConfig } from '../../agent/config.js';
import { startAgent, type RunningAgent } from '../../agent/run.js';
import { Shipper } from '../../agent/delivery/shipper.js';
import { SpoolSink } from '../../agent/delivery/sink.js';
import { Spool } from '../../agent/delivery/spool.js';
import { SyntheticCollector, execEvent, flowRecord } from '../../agent/synthetic.js';
import { getTestCluster, type TestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';
import { createTestCa } from '../support/tls.js';
import { sampleFlow } from './indexer-harness.js';

const TOKEN = 'agent-it-token';
const silent = pino({ level: 'silent' });

/** A day nobody else writes to, so this suite owns its daily indices. */
const day = new Date(Date.UTC(2002, 0, 1) + Math.floor(Math.random() * 3000) * 86_400_000);
const at = (sec: number) => day.getTime() + 3_600_000 + sec * 1000;

describe('agent -> indexer -> Elasticsearch', () => {
  let cluster: TestCluster | undefined;
  let reason = '';
  let indexer: Indexer | undefined;
  let port = 0;
  const spoolDir = mkdtempSync(join(tmpdir(), 'procflow-agent-it-'));
  const agents: RunningAgent[] = [];

  const startIdx = async () => {
    indexer = await startIndexer(withDefaults({ es_url: cluster!.url, token: TOKEN, retention_days: 36_500, listen: `127.0.0.1:${port}`, retry_after: 1000, shutdown_timeout: 2000 }), { log: silent });
    port = Number(new URL(indexer.url).port);
  };
  const stopIdx = async () => {
    await indexer?.close();
    indexer = undefined;
  };
  const agentConfig = (): AgentConfig => agentDefaults({
    indexer_url: `http://127.0.0.1:${port}`, token: TOKEN, node_name: 'agent-it', flush_interval: 3_600_000, attribution_delay: 0,
    procfs_scan: false, spool_dir: spoolDir, listen: '127.0.0.1:0', process_events_rate: 0, retry_max_delay: 1000, shutdown_timeout: 500,
  });

  before(async () => {
    const res = await getTestCluster();
    if (!res.cluster) return void (reason = res.reason);
    cluster = res.cluster;
    await startIdx();
  });
  after(async () => {
    for (const a of agents) await a.shutdown();
    await stopIdx();
    rmSync(spoolDir, { recursive: true, force: true });
    if (cluster) {
      await cluster.client.indices.delete({ index: [dailyIndex('flows', day.getTime()), dailyIndex('process', day.getTime())], ignore_unavailable: true }, { ignore: [404] });
      await cluster.stop();
    }
  });
  const need = (t: TestContext): boolean => {
    if (!cluster) skipOrFail(t, reason);
    return cluster !== undefined;
  };

  /** One interval: an exec and `n` flows of that process, flushed with end time `sec`. */
  async function interval(agent: RunningAgent, collector: SyntheticCollector, pid: number, sec: number, n: number): Promise<void> {
    const start = agent.agent.clock.fromEpochMs(at(sec) - 5000);
    collector.emit([execEvent(pid, start, `/usr/bin/tool-${pid}`, ['--run', String(sec)], { timeNs: start })]);
    collector.addFlows(Array.from({ length: n }, (_, i) => flowRecord({ pid, pidStartNs: start, localPort: 30_000 + pid * 10 + i, bytesOut: 100 * (i + 1), bytesIn: 7 })));
    await agent.agent.flush(at(sec));
  }

  it('ships through an indexer outage and an agent restart without loss or duplicates', { timeout: 120_000 }, async (t) => {
    if (!need(t)) return;
    const c1 = new SyntheticCollector();
    const a1 = await startAgent(agentConfig(), { collector: c1, log: silent });
    agents.push(a1);

    await interval(a1, c1, 101, 0, 5);
    assert.equal(await a1.shipper!.drained(20_000), true, 'first interval delivered');

    // Indexer down: the batches wait in the spool and go out when it is back.
    await stopIdx();
    await interval(a1, c1, 102, 15, 5);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(a1.spool!.size > 0, 'batches wait on disk while the indexer is down');
    assert.ok(a1.shipper!.stats.failures > 0);
    await startIdx();
    assert.equal(await a1.shipper!.drained(30_000), true, 'spool drained after the indexer came back');

    // Agent restarted while the indexer is down: the next agent resumes the spool.
    await stopIdx();
    await interval(a1, c1, 103, 30, 5);
    await a1.shutdown();
    agents.pop();
    assert.ok(a1.spool!.size > 0, 'the stopped agent left its batches spooled');
    const c2 = new SyntheticCollector();
    const a2 = await startAgent(agentConfig(), { collector: c2, log: silent });
    agents.push(a2);
    assert.ok(a2.spool!.resumed > 0, 'the new agent found the spool');
    await startIdx();
    assert.equal(await a2.shipper!.drained(30_000), true);

    const flowsIndex = dailyIndex('flows', day.getTime());
    const procIndex = dailyIndex('process', day.getTime());
    await cluster!.client.indices.refresh({ index: [flowsIndex, procIndex] });
    const flows = await cluster!.client.search<FlowLog>({ index: flowsIndex, size: 100, query: { term: { host: 'agent-it' } } });
    const docs = flows.hits.hits.map((h) => h._source!);
    assert.equal(docs.length, 15, 'every flow exactly once');
    assert.equal(new Set(docs.map((d) => d.community_id)).size, 15);
    for (const pid of [101, 102, 103]) {
      const mine = docs.filter((d) => d.process_id === String(pid));
      assert.equal(mine.length, 5);
      for (const d of mine) {
        assert.equal(d.process_name, `/usr/bin/tool-${pid}`);
        assert.equal(d.process_source, 'kernel');
      }
      assert.equal(mine.reduce((n, d) => n + d.bytes_out, 0), 1500);
    }
    const procs = await cluster!.client.search<ProcessEventDoc>({ index: procIndex, size: 100, query: { term: { node_name: 'agent-it' } } });
    assert.deepEqual(procs.hits.hits.map((h) => h._source!.process_exec!.process.binary).sort(), ['/usr/bin/tool-101', '/usr/bin/tool-102', '/usr/bin/tool-103']);
  });

  /** A spool and shipper of their own, sending to `url` (the suite's indexer by default). */
  function shipping(t: TestContext, url = `http://127.0.0.1:${port}`) {
    const dir = mkdtempSync(join(tmpdir(), 'procflow-agent-it-ship-'));
    const c = agentDefaults({ spool_dir: dir, spool_max_size: 64 * 1024 ** 2, indexer_url: url, token: TOKEN, retry_max_delay: 500, ship_concurrency: 2 });
    const spool = new Spool(c);
    const outcomes: { docs: number; outcome: string }[] = [];
    const shipper = new Shipper({ ...c, spool, log: silent, backoff: { baseMs: 50 }, onAttempt: (a) => outcomes.push({ docs: a.docs, outcome: a.outcome }) });
    t.after(async () => {
      await shipper.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const deadLetter = () => {
      const deadDir = join(dir, 'dead-letter');
      const lines = (file: string) => {
        try {
          return unpackBatch(readFileSync(file)).trim().split('\n');
        } catch {
          return []; // a corrupt batch, set aside as it was
        }
      };
      const batch = /\.ndjson\.(gz|zst)$/;
      return readdirSync(deadDir).filter((n) => batch.test(n)).sort().map((n) => ({
        docs: lines(join(deadDir, n)),
        reason: JSON.parse(readFileSync(join(deadDir, n.replace(batch, '.reason.json')), 'utf8')) as { status: number; body: string; lines?: { line: number; reason: string }[] },
      }));
    };
    return { dir, spool, shipper, outcomes, deadLetter };
  }

  const flowsIndex = dailyIndex('flows', day.getTime());
  let serial = 1_000_000;
  const flows = (n: number, over: (i: number) => Record<string, unknown> = () => ({})): FlowLog[] => {
    const base = (serial += 10_000);
    return Array.from({ length: n }, (_, i) => sampleFlow(day, base + i, over(i)));
  };
  const countIds = async (docs: object[]) => {
    await cluster!.client.indices.refresh({ index: flowsIndex, ignore_unavailable: true });
    const ids = docs.map((d) => FLOW_CONTRACT.id(d as FlowLog));
    return (await cluster!.client.count({ index: flowsIndex, ignore_unavailable: true, query: { ids: { values: ids } } })).count;
  };

  it('an invalid document stays in the agent\'s dead letter, counted; the rest of its batch lands', async (t) => {
    if (!need(t)) return;
    if (!indexer) await startIdx();
    const { spool, shipper, deadLetter } = shipping(t);
    const sink = new SpoolSink(spool, agentDefaults(), () => shipper.notify());
    shipper.start();
    const good = flows(30);
    const bad = [{ ...flows(1)[0]!, colour: 'blue' }, ...flows(1, () => ({ bytes_in: 'lots' }))];
    assert.equal(await sink.write('flows', [...good.slice(0, 10), bad[0]!, ...good.slice(10, 20), bad[1]!, ...good.slice(20)]), 32);
    assert.equal(await shipper.drained(20_000), true);
    assert.equal(await countIds(good), 30, 'every valid document of the batch');
    assert.equal(await countIds(bad), 0);
    assert.deepEqual(spool.stats.invalidDocs, { flows: 2, process: 0, dns: 0 });
    assert.equal(shipper.stats.deadLettered, 0, 'the indexer rejected nothing');
    const [dead] = deadLetter();
    assert.deepEqual(dead!.docs.map((l) => JSON.parse(l).source_port), bad.map((d) => d.source_port));
    assert.deepEqual(dead!.reason.lines!.map((l) => l.reason), ['unknown field "colour"', 'field "bytes_in" must be an integer, got the string "lots"']);
  });

  it('a batch the indexer answers 400 (an indexer of another version): only the lines it names are dead-lettered, the rest lands', async (t) => {
    if (!need(t)) return;
    if (!indexer) await startIdx();
    const { spool, shipper, deadLetter } = shipping(t);
    const docs: object[] = flows(40);
    // Lines the agent's own validation would have stopped: written straight into the spool.
    const badAt = [0, 17, 39];
    docs[0] = { ...docs[0]!, colour: 'blue' };
    docs[17] = { ...docs[17]!, bytes_in: 'lots' };
    docs[39] = { ...docs[39]!, dest_ip: 'not-an-ip' };
    await spool.put('flows', gzipSync(`${docs.map((d) => JSON.stringify(d)).join('\n')}\n`), docs.length);
    shipper.start();
    assert.equal(await shipper.drained(30_000), true);
    const good = docs.filter((_, i) => !badAt.includes(i));
    assert.equal(await countIds(good), 37, 'every line the indexer did not name');
    assert.equal(await countIds(badAt.map((i) => docs[i]!)), 0);
    assert.equal(shipper.stats.deadLettered, 3);
    const dead = deadLetter();
    assert.deepEqual(dead.map((d) => d.docs.length), [1, 1, 1], 'one dead-letter file per rejected line');
    assert.deepEqual(dead.map((d) => JSON.parse(d.docs[0]!).source_port).sort(), badAt.map((i) => (docs[i] as FlowLog).source_port).sort());
    const reasons = dead.map((d) => d.reason.lines![0]!.reason).sort();
    assert.match(reasons.join('\n'), /colour/);
    assert.match(reasons.join('\n'), /bytes_in/);
    assert.match(reasons.join('\n'), /dest_ip/);
    for (const d of dead) assert.equal(d.reason.status, 400);
  });

  it('413: a batch is halved until it fits, one document too large is dead-lettered, a spool file that cannot be decompressed is set aside as corrupt', async (t) => {
    if (!need(t)) return;
    const small = await startIndexer(withDefaults({ es_url: cluster!.url, token: TOKEN, retention_days: 36_500, listen: '127.0.0.1:0', max_body_size: 64 * 1024, retry_after: 1000 }), { log: silent });
    t.after(() => small.close());
    const { spool, shipper, outcomes, deadLetter } = shipping(t, small.url);
    const many = flows(300); // ~200 KiB of NDJSON
    const tooBig = flows(1, () => ({ process_args: ['x'.repeat(100 * 1024)] }));
    // Not gzip, and larger than the indexer takes: 413 first, then it cannot be opened to split.
    await spool.put('flows', randomBytes(100 * 1024), 57);
    await spool.put('flows', gzipSync(`${many.map((d) => JSON.stringify(d)).join('\n')}\n`), many.length);
    await spool.put('flows', gzipSync(`${JSON.stringify(tooBig[0])}\n`), 1);
    // A torn gzip file, small enough to be sent: the indexer says it is not gzip (400), and so does the agent.
    const torn = gzipSync(`${flows(20).map((d) => JSON.stringify(d)).join('\n')}\n`);
    await spool.put('flows', torn.subarray(0, torn.length >> 1), 20);
    shipper.start();
    assert.equal(await shipper.drained(30_000), true, 'nothing is retried for ever');
    assert.equal(await countIds(many), 300);
    assert.equal(await countIds(tooBig), 0);
    assert.equal(spool.stats.corruptBatches, 2);
    assert.equal(spool.stats.corruptDocs, 77);
    assert.deepEqual(outcomes.filter((o) => o.outcome === 'corrupt').map((o) => o.docs).sort(), [20, 57], 'each corrupt file given up on once');
    const dead = deadLetter();
    const corrupt = dead.filter((d) => /corrupt spool file/.test(d.reason.body));
    assert.equal(corrupt.length, 2);
    const large = dead.filter((d) => d.reason.status === 413);
    assert.equal(large.length, 1);
    assert.equal(JSON.parse(large[0]!.docs[0]!).source_port, tooBig[0]!.source_port);
    assert.match(large[0]!.reason.body, /single document of \d+ bytes is larger than the indexer accepts/);
  });

  it('ships over https with a client certificate and a token file to an indexer that requires both', { timeout: 60_000 }, async (t) => {
    if (!need(t)) return;
    const ca = createTestCa();
    t.after(() => ca.remove());
    const serverCert = ca.server();
    const clientCert = ca.client('agent-it-tls');
    writeFileSync(join(ca.dir, 'agent-token'), `# the indexer token\n${TOKEN}\n`);
    const secure = await startIndexer(withDefaults({
      es_url: cluster!.url, token: TOKEN, retention_days: 36_500, listen: '127.0.0.1:0', retry_after: 1000,
      tls_cert_file: serverCert.certFile, tls_key_file: serverCert.keyFile, tls_client_ca_file: ca.caFile,
    }), { log: silent });
    t.after(() => secure.close());
    assert.match(secure.url, /^https:/);
    const dir = mkdtempSync(join(tmpdir(), 'procflow-agent-it-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const collector = new SyntheticCollector();
    const agent = await startAgent({
      ...agentConfig(), node_name: 'agent-it-tls', spool_dir: dir, indexer_url: secure.url, token: '', token_file: join(ca.dir, 'agent-token'),
      indexer_ca_file: ca.caFile, indexer_cert_file: clientCert.certFile, indexer_key_file: clientCert.keyFile,
    }, { collector, log: silent });
    t.after(() => agent.shutdown());
    await interval(agent, collector, 201, 45, 3);
    assert.equal(await agent.shipper!.drained(20_000), true, 'delivered over mTLS');
    assert.equal(agent.shipper!.stats.failures, 0);
    const flowsIndex = dailyIndex('flows', day.getTime());
    await cluster!.client.indices.refresh({ index: flowsIndex });
    const found = await cluster!.client.search<FlowLog>({ index: flowsIndex, size: 10, query: { term: { host: 'agent-it-tls' } } });
    assert.deepEqual(found.hits.hits.map((h) => h._source!.process_name), Array(3).fill('/usr/bin/tool-201'));
  });
});
