// npm run bench:cluster — the indexer against a three-node Elasticsearch cluster (three processes
// on loopback, one replica per shard as the templates ask), with one node stopped 30% of the way
// through and started again halfway. Senders behave as agents do: a batch answered 503 or lost
// with its connection is sent again after Retry-After, with the same documents (the ids are
// deterministic, so a resend is stored once). Prints the rate with three nodes (after a warm-up
// tenth), with two, while the node rejoins, while its replicas recover, and once the cluster is
// green again (the last fifth of the documents waits for that), as docs/s and as ratios to the
// first; then counts what the cluster holds: every document once, none dead-lettered.
//
// Settings (environment): BENCH_DOCS (600000), BENCH_BATCH (2000 documents per agent batch),
// BENCH_SENDERS (4), BENCH_HEAP (512m per node), BENCH_STOP (term: a clean shutdown; kill: SIGKILL).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { Client } from '@elastic/elasticsearch';
import { freePort } from '../common/net.js';
import { startLocalElasticsearch, type ClusterNode, type LocalEs } from '../local-services/elasticsearch.js';
import { FLOW_CONTRACT, INDEX_PATTERNS, dailyIndex } from '../schema/index.js';
import { installTemplates } from '../schema/install.js';
import { generateFlowLogs } from './flow-docs.js';
import { DAY, INDEXER_ARGS, RETENTION_DAYS } from './indexer-bench.js';
import { postBatch, spawnIndexer } from './indexer-process.js';

const DOCS = Number(process.env.BENCH_DOCS ?? 600_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 2000);
const SENDERS = Number(process.env.BENCH_SENDERS ?? 4);
const HEAP = process.env.BENCH_HEAP ?? '512m';
const STOP = process.env.BENCH_STOP === 'kill' ? 'kill' : 'term';
const NODES = 3;

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

interface Node {
  name: string;
  httpPort: number;
  spec: ClusterNode;
  dataDir: string;
  es?: LocalEs;
}

async function startNode(n: Node): Promise<void> {
  n.es = await startLocalElasticsearch({ port: n.httpPort, dataDir: n.dataDir, heap: HEAP, cluster: n.spec, startTimeoutMs: 300_000 });
}

/** Acknowledged documents, read at the phases' edges to give each phase its rate. */
class Timeline {
  acked = 0;
  add(n: number): void {
    this.acked += n;
  }
  now(): { t: number; acked: number } {
    return { t: performance.now(), acked: this.acked };
  }
}

type Phase = { name: string; from: { t: number; acked: number }; to: { t: number; acked: number } };

/** Where each document goes: its daily index and id, in the order sent. */
interface DocKeys {
  indices: string[];
  ids: string[];
}

/**
 * The agent batches, gzipped, made a slice of documents at a time (a million documents as
 * objects would not fit the heap); each slice goes on from where the last one's time ended.
 */
function generateBatches(): { batches: Buffer[]; keys: DocKeys } {
  const SLICE = BATCH * Math.max(1, Math.floor(100_000 / BATCH));
  const batches: Buffer[] = [];
  const keys: DocKeys = { indices: [], ids: [] };
  let from = DAY;
  for (let made = 0; made < DOCS; made += SLICE) {
    const docs = generateFlowLogs('agent', Math.min(SLICE, DOCS - made), from);
    for (const d of docs) {
      keys.indices.push(dailyIndex('flows', d['@timestamp']));
      keys.ids.push(FLOW_CONTRACT.id(d));
      from = Math.max(from, Date.parse(d.end_time) + 15_000);
    }
    for (let i = 0; i < docs.length; i += BATCH) batches.push(gzipSync(docs.slice(i, i + BATCH).map((d) => JSON.stringify(d)).join('\n') + '\n'));
  }
  return { batches, keys };
}

/** The batches whose documents the cluster does not hold: how many each, when it was acknowledged and the indexer's answer. */
async function missingTrail(urls: string[], docs: DocKeys, answers: Array<{ t: number; text: string }>, phases: Phase[]): Promise<string[]> {
  const client = new Client({ nodes: urls, requestTimeout: 120_000 });
  const missing = new Map<number, number>();
  try {
    for (let i = 0; i < docs.ids.length; i += 10_000) {
      const wanted = docs.ids.slice(i, i + 10_000).map((id, k) => ({ _index: docs.indices[i + k]!, _id: id }));
      const res = await client.mget({ docs: wanted, _source: false, realtime: true });
      res.docs.forEach((d, k) => {
        if (!('found' in d) || !d.found) missing.set(Math.floor((i + k) / BATCH), (missing.get(Math.floor((i + k) / BATCH)) ?? 0) + 1);
      });
    }
  } finally {
    await client.close();
  }
  const phaseAt = (t: number) => phases.find((p) => t >= p.from.t && t <= p.to.t)?.name ?? 'between phases';
  return [`- missing documents in ${missing.size} batches:`, ...[...missing].slice(0, 20).map(([b, n]) => {
    const a = answers[b];
    return `  batch ${b}: ${n} missing; acknowledged ${a ? `during "${phaseAt(a.t)}": ${a.text.slice(0, 300)}` : 'never'}`;
  })];
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'procflow-cluster-bench-'));
  // The nodes run as Elasticsearch's own user (as root we are not allowed to run them) and must reach their folders.
  chmodSync(work, 0o755);
  const transport = await Promise.all(Array.from({ length: NODES }, () => freePort()));
  const names = Array.from({ length: NODES }, (_, i) => `bench-${i + 1}`);
  const nodes: Node[] = [];
  for (let i = 0; i < NODES; i++) {
    nodes.push({ name: names[i]!, httpPort: await freePort(), dataDir: join(work, names[i]!), spec: { nodeName: names[i]!, transportPort: transport[i]!, seedTransportPorts: transport, initialMasterNodes: names } });
  }
  let indexer: Awaited<ReturnType<typeof spawnIndexer>> | undefined;
  try {
    log(`starting ${NODES} Elasticsearch nodes (heap ${HEAP} each)`);
    await Promise.all(nodes.map(startNode));
    const urls = nodes.map((n) => n.es!.url);
    const client = new Client({ nodes: urls, requestTimeout: 120_000 });
    await client.cluster.health({ wait_for_nodes: String(NODES), wait_for_status: 'green', timeout: '120s' });
    await installTemplates(client, { retentionDays: RETENTION_DAYS });
    log(`generating ${DOCS} flow logs in batches of ${BATCH}`);
    const { batches, keys } = generateBatches();
    // Documents reach past the day's end, into the next days' indices: every index they go to counts.
    const indices = [...new Set(keys.indices)];
    await client.indices.delete({ index: indices }, { ignore: [404] });

    indexer = await spawnIndexer(urls.join(','), INDEXER_ARGS);
    const agent = new Agent({ keepAlive: true, maxSockets: SENDERS });
    const timeline = new Timeline();
    const counts = { resent503: 0, resentNetwork: 0 };
    // When each batch was acknowledged and what the indexer answered: the trail of a lost document.
    const answers: Array<{ t: number; text: string }> = [];
    /** Senders over batches [from, to), as agents: each batch until the indexer acknowledges it. */
    const send = (from: number, to: number) => {
      let next = from;
      return Promise.all(Array.from({ length: SENDERS }, () => sender(() => (next < to ? next++ : -1))));
    };
    const sender = async (take: () => number) => {
      for (let i = take(); i >= 0; i = take()) {
        for (;;) {
          const res = await postBatch(agent, indexer!.url, batches[i]!).catch((err: Error) => ({ status: 0, retryAfter: 1, text: err.message }));
          if (res.status === 200) {
            answers[i] = { t: performance.now(), text: res.text };
            break;
          }
          if (res.status !== 503 && res.status !== 0) throw new Error(`bench: the indexer answered ${res.status}: ${res.text}`);
          if (res.status === 503) counts.resent503++;
          else counts.resentNetwork++;
          await sleep(res.retryAfter * 1000);
        }
        timeline.add(Math.min(BATCH, DOCS - i * BATCH));
      }
    };

    // The first tenth warms the indexer and creates the index; the phases are measured after it.
    const victim = nodes[NODES - 1]!;
    const phases: Phase[] = [];
    const events: string[] = [];
    const reach = async (fraction: number) => {
      while (timeline.acked < DOCS * fraction) await sleep(20);
      return timeline.now();
    };
    const choreography = (async () => {
      const warm = await reach(0.1);
      const stopAt = await reach(0.3);
      phases.push({ name: `${NODES} nodes`, from: warm, to: stopAt });
      log(`stopping ${victim.name} (${STOP}) after ${stopAt.acked} documents`);
      if (STOP === 'kill') process.kill(victim.es!.pid, 'SIGKILL');
      await victim.es!.stop();
      const stopped = timeline.now();
      events.push(`${victim.name} stopped in ${((stopped.t - stopAt.t) / 1000).toFixed(1)} s`);
      const restartAt = await reach(0.5);
      phases.push({ name: `${NODES - 1} nodes (${victim.name} down)`, from: stopped, to: restartAt });
      log(`starting ${victim.name} again after ${restartAt.acked} documents`);
      await startNode(victim);
      const back = timeline.now();
      phases.push({ name: `${victim.name} rejoining`, from: restartAt, to: back });
      events.push(`${victim.name} rejoined in ${((back.t - restartAt.t) / 1000).toFixed(1)} s`);
      await client.cluster.health({ wait_for_nodes: String(NODES), wait_for_status: 'green', timeout: '600s' });
      const green = timeline.now();
      events.push(`cluster green ${((green.t - back.t) / 1000).toFixed(1)} s after ${victim.name} rejoined (replicas recovered while the senders went on)`);
      return { back, green };
    })();

    // The last fifth is held back until the cluster is green again: the rate after recovery.
    const heldBack = Math.ceil(batches.length * 0.8);
    const started = performance.now();
    await send(0, heldBack);
    const sentFirst = timeline.now();
    const { back, green } = await choreography;
    // Replicas recover under load until green, or until the first four fifths are all sent.
    phases.push({ name: 'recovering', from: back, to: green.t < sentFirst.t ? green : sentFirst });
    if (green.t > sentFirst.t) events.push(`the senders waited ${((green.t - sentFirst.t) / 1000).toFixed(1)} s for green with the last fifth of the documents`);
    const tailFrom = timeline.now();
    await send(heldBack, batches.length);
    const done = timeline.now();
    phases.push({ name: 'after recovery (green)', from: tailFrom, to: done });
    const wallS = (performance.now() - started) / 1000;
    agent.destroy();

    await client.indices.refresh({ index: indices, ignore_unavailable: true });
    const stored = (await client.count({ index: indices, ignore_unavailable: true })).count;
    const dead = (await client.count({ index: INDEX_PATTERNS.deadletter, ignore_unavailable: true, allow_no_indices: true })).count;
    const ids = new Set(keys.ids);
    const indexerCpuS = indexer.cpuSeconds();
    await indexer.stop();
    indexer = undefined;
    await client.close();

    const rate = (p: Phase) => (p.to.acked - p.from.acked) / ((p.to.t - p.from.t) / 1000);
    const base = rate(phases[0]!);
    console.log(`\nbench:cluster  ${DOCS} flow logs, batches of ${BATCH}, ${SENDERS} senders, ${NODES} nodes on loopback (heap ${HEAP}), stop: ${STOP}`);
    console.log('phase                                   docs      docs/s   ratio to 3 nodes');
    // A phase the senders had already finished before (recovering, when the rejoin took the rest) is left out.
    for (const p of phases.filter((x) => x.to.acked > x.from.acked)) {
      const r = rate(p);
      console.log(`${p.name.padEnd(38)} ${String(p.to.acked - p.from.acked).padStart(7)} ${r.toFixed(0).padStart(10)} ${(r / base).toFixed(3).padStart(10)}`);
    }
    for (const e of events) console.log(`- ${e}`);
    console.log(`- batches sent again: ${counts.resent503} after a 503, ${counts.resentNetwork} after a lost connection`);
    console.log(`- indexer CPU ${indexerCpuS.toFixed(1)} s for ${DOCS} documents (${((indexerCpuS / DOCS) * 1e6).toFixed(1)} µs each); wall ${wallS.toFixed(1)} s`);
    console.log(`- stored: ${stored} of ${ids.size} distinct documents; dead-lettered: ${dead}`);
    if (stored !== ids.size || dead !== 0) {
      if (stored < ids.size) for (const line of await missingTrail(urls, keys, answers, phases)) console.log(line);
      console.log('bench:cluster FAILED: documents were lost, duplicated or dead-lettered');
      process.exitCode = 1;
    } else {
      console.log('bench:cluster: nothing lost, nothing duplicated');
    }
  } finally {
    await indexer?.stop().catch(() => {});
    await Promise.all(nodes.map((n) => n.es?.stop().catch(() => {})));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
