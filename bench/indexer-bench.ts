// npm run bench:indexer — the same generated flow documents written into the same cluster
// (a) directly with the client's bulk helper and (b) through `procflow indexer` over HTTP as
// agents send them (gzip NDJSON batches, a few concurrent senders). Prints docs/s for each and
// the ratio b/a; CPU per document of the helper's client (this process), of the indexer (the
// child's /proc/<pid>/stat) and of Elasticsearch (its nodes stats) in each; docs/s per indexer
// core; the indexer's peak RSS (VmHWM of the child process).
//
// Settings (environment): PROCFLOW_ES_URL (else a local Elasticsearch is started),
// BENCH_DOCS (200000), BENCH_BATCH (agent batch: at most this many documents and 4 MiB, the
// agent's defaults), BENCH_SENDERS (4), BENCH_ROUNDS (3), BENCH_INDEXER_NODE_FLAGS (none),
// BENCH_STORAGE (1: also measure bytes on disk per flow log, after a force merge, for the index
// settings procflow installs beside plainer ones, and Elasticsearch's CPU per indexed document).
import { Client } from '@elastic/elasticsearch';
import { startLocalElasticsearch } from '../local-services/elasticsearch.js';
import { FLOW_CONTRACT, buildTemplates, dailyIndex, type FlowLog } from '../schema/index.js';
import { installTemplates } from '../schema/install.js';
import { AGENT_BATCH_DOCS, BENCH_DAY, agentBatches, generateFlowLogs } from './flow-docs.js';
import { sendBatches, spawnIndexer } from './indexer-process.js';

const DOCS = Number(process.env.BENCH_DOCS ?? 200_000);
const BATCH = Number(process.env.BENCH_BATCH ?? AGENT_BATCH_DOCS);
const SENDERS = Number(process.env.BENCH_SENDERS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = 4;
const FLUSH_BYTES = 5 * 1024 * 1024;
const INDEX = dailyIndex('flows', BENCH_DAY);
/** The indexer dead-letters documents older than its retention: the benchmark's day must be inside it. */
const RETENTION_DAYS = Math.ceil((Date.now() - BENCH_DAY) / 86_400_000) + 2;

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

// ---- cluster helpers ----

/** Elasticsearch's CPU time so far, summed over its nodes (ms), from the nodes stats API. */
async function esCpuMs(client: Client): Promise<number> {
  const res = await client.nodes.stats({ metric: 'process' });
  return Object.values(res.nodes).reduce((sum, n) => sum + (n.process?.cpu?.total_in_millis ?? 0), 0);
}

async function resetIndex(client: Client): Promise<void> {
  await client.indices.delete({ index: INDEX }, { ignore: [404] });
}

async function verify(client: Client, what: string): Promise<void> {
  await client.indices.refresh({ index: INDEX });
  const { count } = await client.count({ index: INDEX });
  if (count !== DOCS) throw new Error(`bench: ${what} left ${count} documents in ${INDEX}, expected ${DOCS}`);
}

// ---- (a) the client's bulk helper ----

async function direct(client: Client, docs: FlowLog[]): Promise<number> {
  const started = process.hrtime.bigint();
  const stats = await client.helpers.bulk<FlowLog>({
    datasource: docs,
    onDocument: (d) => ({ index: { _index: FLOW_CONTRACT.index(d), _id: FLOW_CONTRACT.id(d) } }),
    flushBytes: FLUSH_BYTES,
    concurrency: CONCURRENCY,
    onDrop: (d) => {
      throw new Error(`bench: bulk helper dropped a document: ${JSON.stringify(d.error)}`);
    },
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (stats.successful !== docs.length) throw new Error(`bench: bulk helper indexed ${stats.successful} of ${docs.length}`);
  return seconds;
}

// ---- (b) through the indexer: bench/indexer-process.ts ----

// ---- (c) storage: bytes on disk per document after a force merge ----

interface StorageVariant {
  name: string;
  /** Index settings beside the shard count; undefined: the index comes from procflow's templates. */
  settings?: Record<string, unknown>;
}

const STORAGE_VARIANTS: StorageVariant[] = [
  { name: 'plain (default codec, unsorted)', settings: {} },
  { name: 'best_compression', settings: { codec: 'best_compression' } },
  { name: 'best_compression, sorted by host and time', settings: { codec: 'best_compression', sort: { field: ['host', '@timestamp'], order: ['asc', 'desc'] } } },
  { name: 'logsdb, best_compression, sorted', settings: { mode: 'logsdb', codec: 'best_compression', sort: { field: ['host', '@timestamp'], order: ['asc', 'desc'] } } },
  { name: "procflow's templates (what setup installs)" },
];

async function storage(client: Client, docs: FlowLog[]): Promise<string[]> {
  const mappings = (buildTemplates({ capabilities: { ilm: false }, retentionDays: 1 }).components.find((c) => c.name.endsWith('-flows-mappings'))!.body.template as { mappings: Record<string, unknown> }).mappings;
  const rows: string[] = [];
  let baseline = 0;
  for (const v of STORAGE_VARIANTS) {
    // A daily index name picks up procflow's templates; the others are created with their own settings.
    const index = v.settings ? `bench-storage-${STORAGE_VARIANTS.indexOf(v)}` : INDEX;
    await client.indices.delete({ index }, { ignore: [404] });
    if (v.settings) {
      try {
        await client.indices.create({ index, settings: { index: { number_of_shards: 1, number_of_replicas: 0, ...v.settings } }, mappings });
      } catch (err) {
        rows.push(`  ${v.name.padEnd(44)}: refused by this cluster (${(err as Error).message.slice(0, 160)})`);
        continue;
      }
    }
    const cpu0 = await esCpuMs(client);
    const stats = await client.helpers.bulk<FlowLog>({
      datasource: docs,
      onDocument: (d) => ({ index: { _index: index, _id: FLOW_CONTRACT.id(d) } }),
      flushBytes: FLUSH_BYTES,
      concurrency: CONCURRENCY,
    });
    await client.indices.refresh({ index });
    const cpuMs = (await esCpuMs(client)) - cpu0;
    if (stats.successful !== docs.length) throw new Error(`bench: storage variant ${v.name} indexed ${stats.successful} of ${docs.length}`);
    await client.indices.forcemerge({ index, max_num_segments: 1 });
    const st = await client.indices.stats({ index, metric: 'store' });
    const bytes = st._all.primaries?.store?.size_in_bytes ?? 0;
    const perDoc = bytes / docs.length;
    if (!baseline) baseline = perDoc;
    rows.push(`  ${v.name.padEnd(44)}: ${perDoc.toFixed(1)} B per flow log (${(perDoc / baseline).toFixed(3)} of plain), Elasticsearch CPU ${((cpuMs / docs.length) * 1000).toFixed(1)} µs per document`);
    log(`storage: ${v.name}: ${perDoc.toFixed(1)} B/doc`);
    await client.indices.delete({ index }, { ignore: [404] });
  }
  return rows;
}

// ---- the run ----

async function main(): Promise<void> {
  let esUrl = process.env.PROCFLOW_ES_URL;
  let stopEs = async () => {};
  if (!esUrl) {
    log('PROCFLOW_ES_URL not set: starting a local Elasticsearch');
    const es = await startLocalElasticsearch({ heap: '1g', progress: log });
    esUrl = es.url;
    stopEs = es.stop;
  }
  const client = new Client({ node: esUrl, requestTimeout: 120_000, compression: false });
  try {
    await installTemplates(client, { retentionDays: 7 });
    log(`generating ${DOCS} flow documents`);
    const docs = generateFlowLogs(DOCS);
    const { batches, rawBytes } = agentBatches(docs, BATCH);
    const gzBytes = batches.reduce((s, b) => s + b.length, 0);
    log(`${batches.length} agent batches (<= ${BATCH} documents, <= 4 MiB): ${(rawBytes / 2 ** 20).toFixed(0)} MiB NDJSON, ${(gzBytes / 2 ** 20).toFixed(0)} MiB gzip`);

    // Warm the cluster (JIT, caches) so the first timed phase is not penalised.
    await resetIndex(client);
    await direct(client, docs.slice(0, Math.min(20_000, docs.length)));

    const indexer = await spawnIndexer(esUrl, ['--bulk-concurrency', String(CONCURRENCY), '--bulk-flush-bytes', String(FLUSH_BYTES), '--retention-days', String(RETENTION_DAYS)]);
    // Warm the indexer too (as the client was above), so no phase pays for its JIT.
    await sendBatches(indexer.url, batches.slice(0, Math.max(1, Math.ceil((batches.length * 20_000) / DOCS))), SENDERS);
    await resetIndex(client);
    if (process.env.BENCH_WATCH) log(`indexer at ${indexer.url} pid ${indexer.child.pid}`);
    const a: number[] = [];
    const b: number[] = [];
    let retries = 0;
    // CPU seconds summed over the rounds: the writer's (the helper's client, or the indexer)
    // and Elasticsearch's during the same phase.
    const cpu = { helper: 0, indexer: 0, esA: 0, esB: 0 };
    const runA = async (round: number) => {
      await resetIndex(client);
      const es0 = await esCpuMs(client);
      const cpu0 = process.cpuUsage();
      const sa = await direct(client, docs);
      const used = process.cpuUsage(cpu0);
      const es = ((await esCpuMs(client)) - es0) / 1000;
      cpu.helper += (used.user + used.system) / 1e6;
      cpu.esA += es;
      await verify(client, '(a) bulk helper');
      a.push(DOCS / sa);
      log(`round ${round} (a) bulk helper: ${sa.toFixed(1)} s, ${(DOCS / sa).toFixed(0)} docs/s, client CPU ${((used.user + used.system) / 1e6).toFixed(1)} s, Elasticsearch CPU ${es.toFixed(1)} s`);
    };
    const runB = async (round: number) => {
      await resetIndex(client);
      const es0 = await esCpuMs(client);
      const cpu0 = indexer.cpuSeconds();
      const rb = await sendBatches(indexer.url, batches, SENDERS);
      const used = indexer.cpuSeconds() - cpu0;
      const es = ((await esCpuMs(client)) - es0) / 1000;
      cpu.indexer += used;
      cpu.esB += es;
      await verify(client, '(b) indexer');
      b.push(DOCS / rb.seconds);
      retries += rb.retries;
      log(`round ${round} (b) indexer:     ${rb.seconds.toFixed(1)} s, ${(DOCS / rb.seconds).toFixed(0)} docs/s, indexer CPU ${used.toFixed(1)} s, Elasticsearch CPU ${es.toFixed(1)} s (${rb.retries} batches told to retry)`);
    };
    // Alternate the order each round so a drifting cluster does not favour one side.
    for (let round = 1; round <= ROUNDS; round++) {
      if (round % 2) {
        await runA(round);
        await runB(round);
      } else {
        await runB(round);
        await runA(round);
      }
    }
    const peak = indexer.peakRssKiB();
    await indexer.stop();
    await resetIndex(client);

    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const median = (xs: number[]) => {
      const s = [...xs].sort((x, y) => x - y);
      return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    };
    // Each round's a and b ran back to back, so their ratio is compared under the same cluster
    // conditions; the median of the rounds resists one disturbed round on a shared machine.
    const perRound = a.map((x, i) => b[i]! / x);
    /** CPU seconds summed over the rounds, as µs per document written. */
    const perDoc = (seconds: number) => (seconds / (DOCS * ROUNDS)) * 1e6;
    const indexerUs = perDoc(cpu.indexer);
    const helperUs = perDoc(cpu.helper);
    const report = [
      `indexer benchmark: ${DOCS} flow documents${process.env.BENCH_INDEXER_NODE_FLAGS ? ` (indexer node flags: ${process.env.BENCH_INDEXER_NODE_FLAGS})` : ''}, ${ROUNDS} round(s), agent batches of <= ${BATCH} docs / 4 MiB (gzip), ${SENDERS} senders, bulk concurrency ${CONCURRENCY}`,
      `  (a) bulk helper direct : ${mean(a).toFixed(0)} docs/s; client CPU ${helperUs.toFixed(1)} µs per document; Elasticsearch CPU ${perDoc(cpu.esA).toFixed(1)} µs per document`,
      `  (b) through indexer    : ${mean(b).toFixed(0)} docs/s; indexer CPU ${indexerUs.toFixed(1)} µs per document (aim <= 8), ${(1e6 / indexerUs).toFixed(0)} docs/s per indexer core; Elasticsearch CPU ${perDoc(cpu.esB).toFixed(1)} µs per document`,
      `  ratio b/a              : ${median(perRound).toFixed(3)} median of rounds [${perRound.map((r) => r.toFixed(2)).join(', ')}], ${(mean(b) / mean(a)).toFixed(3)} of the means (${mean(b).toFixed(0)} / ${mean(a).toFixed(0)} docs/s; aim >= 0.97)`,
      `  indexer / helper CPU   : ${(indexerUs / helperUs).toFixed(2)} (${indexerUs.toFixed(1)} / ${helperUs.toFixed(1)} µs per document; all on the machine Elasticsearch runs on)`,
      `  indexer peak RSS       : ${(peak / 1024).toFixed(1)} MiB (aim < 200 MiB)`,
      `  batches told to retry  : ${retries}`,
    ];
    if (process.env.BENCH_STORAGE !== '0') {
      report.push(`storage after a force merge (${DOCS} flow logs, one shard, bulk helper):`, ...(await storage(client, docs)));
    }
    process.stdout.write(`${report.join('\n')}\n`);
  } finally {
    await client.close();
    await stopEs();
  }
}

await main();
