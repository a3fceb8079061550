// Agent shipper -> real indexer -> real Elasticsearch, on a synthetic source: documents land
// with the right attribution; an indexer outage in the middle of a run and an agent restart
// with a non-empty spool lose nothing and duplicate nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startIndexer, withDefaults, type Indexer } from '../../indexer/index.js';
import { dailyIndex, type FlowLog, type ProcessEventDoc } from '../../schema/index.js';
import { agentDefaults, type AgentConfig } from '../../agent/config.js';
import { startAgent, type RunningAgent } from '../../agent/run.js';
import { SyntheticCollector, execEvent, flowRecord } from '../../agent/synthetic.js';
import { getTestCluster, type TestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';

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
    indexer = await startIndexer(withDefaults({ es_url: cluster!.url, token: TOKEN, listen: `127.0.0.1:${port}`, retry_after: 1000, shutdown_timeout: 2000 }), { log: silent });
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
});
