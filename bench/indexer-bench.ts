// npm run bench:indexer — the same generated flow documents written into the same cluster
// (a) directly with the client's bulk helper and (b) through `procflow indexer` over HTTP as
// agents send them (compressed NDJSON batches, a few concurrent senders). Prints docs/s for each,
// the ratio b/a, and the indexer's peak RSS (VmHWM of the child process).
//
// Settings (environment): PROCFLOW_ES_URL (else a local Elasticsearch is started),
// BENCH_DOCS (200000), BENCH_BATCH (agent batch: at most this many documents and 4 MiB, the
// agent's defaults), BENCH_SENDERS (4), BENCH_ROUNDS (3; 0 skips the throughput phase),
// BENCH_INDEXER_NODE_FLAGS (none), BENCH_INDEXER_CONCURRENCY and BENCH_INDEXER_FLUSH_BYTES (the
// indexer's --bulk-concurrency and --bulk-flush-bytes, to tune them against the helper's fixed 4
// and 5 MiB; the same by default), BENCH_GENERATOR (agent: documents as the agent sends them on a
// Kubernetes cluster; plain: the earlier, plainer ones; see bench/flow-docs.ts), BENCH_ENCODING (zstd,
// as agents compress batches by default; or gzip),
// BENCH_STORAGE (1: also measure bytes on disk per flow log after a force merge, for procflow's
// templates as setup installs them beside plainer settings, with Elasticsearch's CPU per indexed
// document), BENCH_STORAGE_DOCS (BENCH_DOCS), BENCH_STORAGE_GENERATORS (agent,plain: the storage
// phase measures each), BENCH_DISK_USAGE (1: which fields of the installed index cost most,
// from Elasticsearch's _disk_usage analysis; BENCH_DISK_USAGE_TOP fields, 12), BENCH_STORAGE_VARIANTS (all; else the row numbers
// to measure, from 1: `7` is procflow as setup installs it, `6` the same with ids as they were before, `8` without community_id, `9` sorted as schema 5 was (node, time), `10` to `12` sorted otherwise, `13` ids of 72 bits, `14` and `15` time-series indices (with and without community_id), and the ratios are then to the first measured).
import { hash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@elastic/elasticsearch';
import { startLocalElasticsearch } from '../local-services/elasticsearch.js';
import { FLOW_CONTRACT, buildTemplates, dailyIndex, indexModeText, type FlowLog, type TemplateSet } from '../schema/index.js';
import { FLOW_LOG_ID_FIELDS } from '../schema/flow-log.js';
import { installTemplates, type InstallResult } from '../schema/install.js';
import { BENCH_DAY, BENCH_ENCODING, GENERATORS, agentBatches, generateFlowLogs, type Generator } from './flow-docs.js';
import { sendBatches, spawnIndexer } from './indexer-process.js';

const DOCS = Number(process.env.BENCH_DOCS ?? 200_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 5000);
const SENDERS = Number(process.env.BENCH_SENDERS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const GENERATOR = generatorNamed(process.env.BENCH_GENERATOR ?? 'agent');
const STORAGE_DOCS = Number(process.env.BENCH_STORAGE_DOCS ?? DOCS);
const STORAGE_GENERATORS = (process.env.BENCH_STORAGE_GENERATORS ?? GENERATORS.join(',')).split(',').filter(Boolean).map(generatorNamed);
const CONCURRENCY = 4;
const FLUSH_BYTES = 5 * 1024 * 1024;
/** A day only the benchmark writes to, so a shared cluster's other indices are left alone. */
export const DAY = BENCH_DAY;
export const INDEX = dailyIndex('flows', DAY);
/** The indexer dead-letters documents older than its retention: the benchmark's day must be inside it. */
export const RETENTION_DAYS = Math.ceil((Date.now() - DAY) / 86_400_000) + 2;
/** How the benchmarks start the indexer (bench:cluster too). */
const INDEXER_CONCURRENCY = Number(process.env.BENCH_INDEXER_CONCURRENCY ?? CONCURRENCY);
const INDEXER_FLUSH_BYTES = Number(process.env.BENCH_INDEXER_FLUSH_BYTES ?? FLUSH_BYTES);
export const INDEXER_ARGS = ['--bulk-concurrency', String(INDEXER_CONCURRENCY), '--bulk-flush-bytes', String(INDEXER_FLUSH_BYTES), '--retention-days', String(RETENTION_DAYS)];

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

function generatorNamed(name: string): Generator {
  if ((GENERATORS as readonly string[]).includes(name)) return name as Generator;
  throw new Error(`bench: no document generator named ${JSON.stringify(name)}; use one of ${GENERATORS.join(', ')}`);
}

// ---- cluster helpers ----

/** The daily indices of the benchmark's month: more than about 580,000 documents reach past its first day. */
const MONTH = INDEX.replace(/\.\d\d$/, '.*');

async function resetIndex(client: Client): Promise<void> {
  const existing = await client.indices.get({ index: MONTH, ignore_unavailable: true, allow_no_indices: true });
  const names = Object.keys(existing);
  if (names.length) await client.indices.delete({ index: names }, { ignore: [404] });
}

async function verify(client: Client, what: string): Promise<void> {
  await client.indices.refresh({ index: MONTH, allow_no_indices: true });
  const { count } = await client.count({ index: MONTH, allow_no_indices: true });
  if (count !== DOCS) throw new Error(`bench: ${what} left ${count} documents in ${MONTH}, expected ${DOCS}`);
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

type Mappings = Record<string, unknown>;

interface StorageVariant {
  name: string;
  /** Index settings beside the shard count; undefined: the index comes from procflow's templates as installed. */
  settings?: Record<string, unknown>;
  /** Schema 4's mappings, every field indexed, so the settings alone are compared with earlier figures. */
  everyFieldIndexed?: boolean;
  /** Ids as they were made before they began with the node and second: 20 bytes of the parts' hash. */
  hashOnlyIds?: boolean;
  /** Ids cut to their first `n` characters (8 of node and second, then the hash's). */
  idChars?: number;
  /** Flow logs without community_id, as an agent with --community-id=false sends them. */
  noCommunityId?: boolean;
  /** procflow's templates as installed, with this index sort instead of theirs (keywords ascending, @timestamp newest first). */
  sortBy?: string[];
  /**
   * A time-series index (index.mode time_series) with the fields that identify a flow log as its
   * dimensions: Elasticsearch makes the id from them and the time (synthetic, not stored or
   * indexed where the cluster has synthetic ids), so the documents are sent without one.
   */
  timeSeries?: boolean;
}

/** The identifying fields that are a time-series index's dimensions (the interval's start and end are its @timestamp). */
const DIMENSIONS = FLOW_LOG_ID_FIELDS.filter((f) => f !== 'start_time' && f !== 'end_time');

/** Time-series index settings for the benchmark's day. */
const TIME_SERIES = {
  mode: 'time_series', codec: 'best_compression', routing_path: ['host'],
  time_series: { start_time: new Date(BENCH_DAY - 86_400_000).toISOString(), end_time: new Date(BENCH_DAY + 2 * 86_400_000).toISOString() },
};

/** The mappings with the dimensions marked (indexed, no ignore_above: what dimensions take). */
function withDimensions(mappings: Mappings): Mappings {
  const m = JSON.parse(JSON.stringify(mappings)) as { properties: Record<string, Record<string, unknown>> };
  for (const f of DIMENSIONS) {
    const { index: _index, ignore_above: _ignoreAbove, ...rest } = m.properties[f]!;
    m.properties[f] = { ...rest, time_series_dimension: true };
  }
  return m;
}

const hashOnlyId = (d: FlowLog): string => hash('sha256', JSON.stringify(FLOW_LOG_ID_FIELDS.map((f) => d[f] ?? null)), 'base64url').slice(0, 27);

const SORT = { field: ['host', '@timestamp'], order: ['asc', 'desc'] };
const STORAGE_VARIANTS: StorageVariant[] = [
  { name: 'plain (default codec, unsorted)', settings: {}, everyFieldIndexed: true },
  { name: 'best_compression', settings: { codec: 'best_compression' }, everyFieldIndexed: true },
  { name: 'best_compression, sorted by host and time', settings: { codec: 'best_compression', sort: SORT }, everyFieldIndexed: true },
  { name: 'logsdb, best_compression, sorted', settings: { mode: 'logsdb', codec: 'best_compression', sort: SORT }, everyFieldIndexed: true },
  { name: 'logsdb, stored _source, schema 5 mappings', settings: { mode: 'logsdb', codec: 'best_compression', sort: SORT, mapping: { source: { mode: 'stored' } } } },
  { name: 'procflow as setup installs it, ids of the hash alone (before)', hashOnlyIds: true },
  { name: 'procflow as setup installs it' },
  { name: 'procflow as setup installs it, agents with --community-id=false', noCommunityId: true },
  { name: 'procflow as installed, sorted by host and time (schema 5)', sortBy: ['host', '@timestamp'] },
  { name: 'procflow as installed, sorted by host, process name, time', sortBy: ['host', 'process_name', '@timestamp'] },
  { name: 'procflow as installed, sorted by host, exec id, time', sortBy: ['host', 'process_exec_id', '@timestamp'] },
  { name: 'procflow as installed, sorted by host, source name, process name, time', sortBy: ['host', 'source_name', 'process_name', '@timestamp'] },
  { name: 'procflow as installed, ids of 72 bits of hash (15 bytes)', idChars: 20 },
  { name: 'time series: identifying fields as dimensions, ids by Elasticsearch', settings: TIME_SERIES, timeSeries: true },
  { name: 'time series, agents with --community-id=false', settings: TIME_SERIES, timeSeries: true, noCommunityId: true },
  // BENCH_STORAGE_SORTS="f1,f2,...;g1,g2,...": more sorts to try, each as the variant after these.
  ...(process.env.BENCH_STORAGE_SORTS?.split(';').filter(Boolean).map((s) => ({ name: `procflow as installed, sorted by ${s}`, sortBy: s.split(',') })) ?? []),
];

/** The mappings with every doc-values-only field indexed again, as schema 4 had them. */
function everyFieldIndexed(mappings: Mappings): Mappings {
  return JSON.parse(JSON.stringify(mappings), (key, value: unknown) => {
    if (value && typeof value === 'object' && (value as Record<string, unknown>).index === false && (value as Record<string, unknown>).doc_values !== false) {
      const { index: _index, ...rest } = value as Record<string, unknown>;
      return rest;
    }
    return value;
  }) as Mappings;
}

/**
 * Elasticsearch's CPU time so far, summed over its nodes (ms), from the nodes stats API. A node
 * refreshes these figures at most once a second (monitor.process.refresh_interval): waiting that
 * long first makes each reading fresh, so a phase shorter than that is not read as 0.
 */
async function esCpuMs(client: Client): Promise<number> {
  await sleep(1100);
  const res = await client.nodes.stats({ metric: 'process' });
  return Object.values(res.nodes).reduce((sum, n) => sum + (n.process?.cpu?.total_in_millis ?? 0), 0);
}

interface DiskUsage {
  [index: string]: { fields?: Record<string, { total_in_bytes: number; inverted_index?: { total_in_bytes: number }; stored_fields_in_bytes: number; doc_values_in_bytes: number; points_in_bytes: number }> };
}

/** The fields that cost most in an index, per document, from Elasticsearch's _disk_usage analysis. */
async function diskUsage(client: Client, index: string, docs: number, top: number): Promise<string[]> {
  const res = await client.transport.request<DiskUsage>({ method: 'POST', path: `/${index}/_disk_usage`, querystring: { run_expensive_tasks: true } });
  const fields = Object.entries(res[index]?.fields ?? {}).sort((a, b) => b[1].total_in_bytes - a[1].total_in_bytes).slice(0, top);
  const b = (n: number | undefined) => ((n ?? 0) / docs).toFixed(1).padStart(6);
  return [
    `    ${'field'.padEnd(34)} ${'B/doc'.padStart(6)}  inverted  stored  doc values  points`,
    ...fields.map(([name, f]) => `    ${name.padEnd(34)} ${b(f.total_in_bytes)}  ${b(f.inverted_index?.total_in_bytes)}    ${b(f.stored_fields_in_bytes)}  ${b(f.doc_values_in_bytes)}      ${b(f.points_in_bytes)}`),
  ];
}

async function warmUp(client: Client, docs: FlowLog[]): Promise<void> {
  const index = 'bench-storage-warm-up';
  await client.helpers.bulk<FlowLog>({ datasource: docs, onDocument: () => ({ index: { _index: index } }), flushBytes: FLUSH_BYTES, concurrency: CONCURRENCY });
  await client.indices.delete({ index }, { ignore: [404] });
}

async function storage(client: Client, generator: Generator, installed: InstallResult, templates: TemplateSet): Promise<string[]> {
  const docs = generateFlowLogs(generator, STORAGE_DOCS, DAY);
  const json = docs.reduce((sum, d) => sum + Buffer.byteLength(JSON.stringify(d)), 0) / docs.length;
  const mappings = (templates.components.find((c) => c.name.endsWith('-flows-mappings'))!.body.template as { mappings: Mappings }).mappings;
  const rows: string[] = [
    `storage after a force merge: ${docs.length} flow logs from the ${generator} generator (${json.toFixed(0)} B of JSON each), one shard, bulk helper; setup installs: ${installed.indexMode}`,
    `  ${'variant'.padEnd(62)} ${'B/doc'.padStart(7)}  of plain  ES CPU µs/doc: indexing  merging`,
  ];
  // The first variant measured must not pay for the cluster's warm-up (JIT, caches).
  await warmUp(client, docs.slice(0, Math.min(20_000, docs.length)));
  let baseline = 0;
  const wanted = process.env.BENCH_STORAGE_VARIANTS?.split(',').map(Number);
  for (const v of STORAGE_VARIANTS.filter((_, i) => !wanted || wanted.includes(i + 1))) {
    const name = v.settings ? v.name : `${v.name} (${indexModeText(installed.capabilities)})`;
    // A daily index name picks up procflow's templates; the others are created with their own settings.
    const index = v.settings ? `bench-storage-${STORAGE_VARIANTS.indexOf(v)}` : INDEX;
    await client.indices.delete({ index }, { ignore: [404] });
    if (v.sortBy) {
      // The daily index name takes procflow's templates; the sort given here wins over theirs.
      const sort = { field: v.sortBy, order: v.sortBy.map((f) => (f === '@timestamp' ? 'desc' : 'asc')) };
      await client.indices.create({ index, settings: { index: { sort } } });
    }
    if (v.settings) {
      try {
        const m = v.everyFieldIndexed ? everyFieldIndexed(mappings) : v.timeSeries ? withDimensions(mappings) : mappings;
        await client.indices.create({ index, settings: { index: { number_of_shards: 1, number_of_replicas: 0, ...v.settings } }, mappings: m });
      } catch (err) {
        rows.push(`  ${name.padEnd(62)}: refused by this cluster (${(err as Error).message.slice(0, 160)})`);
        continue;
      }
    }
    const cpu0 = await esCpuMs(client);
    const stats = await client.helpers.bulk<FlowLog>({
      datasource: v.noCommunityId ? docs.map(({ community_id: _c, ...d }) => d) : docs,
      onDocument: (d) => (v.timeSeries ? { create: { _index: index } } : { create: { _index: index, _id: v.hashOnlyIds ? hashOnlyId(d) : FLOW_CONTRACT.id(d).slice(0, v.idChars) } }),
      // A time-series index refuses a second document with the same dimensions and time (409): counted below.
      onDrop: () => {},
      flushBytes: FLUSH_BYTES,
      concurrency: CONCURRENCY,
    });
    await client.indices.refresh({ index });
    const cpu1 = await esCpuMs(client);
    if (stats.successful !== docs.length && !v.timeSeries) throw new Error(`bench: storage variant ${name} indexed ${stats.successful} of ${docs.length}`);
    if (stats.successful !== docs.length) rows.push(`  ${name.padEnd(62)}: ${docs.length - stats.successful} of ${docs.length} refused (another document with the same dimensions and time)`);
    await client.indices.forcemerge({ index, max_num_segments: 1 });
    const cpu2 = await esCpuMs(client);
    const st = await client.indices.stats({ index, metric: 'store' });
    const perDoc = (st._all.primaries?.store?.size_in_bytes ?? 0) / docs.length;
    if (!baseline) baseline = perDoc;
    const us = (ms: number) => ((ms / docs.length) * 1000).toFixed(1);
    rows.push(`  ${name.padEnd(62)} ${perDoc.toFixed(1).padStart(7)}  ${(perDoc / baseline).toFixed(3).padStart(8)}  ${us(cpu1 - cpu0).padStart(22)}  ${us(cpu2 - cpu1).padStart(7)}`);
    log(`storage (${generator}): ${name}: ${perDoc.toFixed(1)} B/doc`);
    if ((!v.settings || v.timeSeries) && process.env.BENCH_DISK_USAGE !== '0') {
      rows.push(`  where the installed index's bytes go (top fields, after the merge):`, ...(await diskUsage(client, index, docs.length, Number(process.env.BENCH_DISK_USAGE_TOP ?? 12))));
    }
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
  const client = new Client({ node: esUrl, requestTimeout: 600_000, compression: false });
  try {
    const installed = await installTemplates(client, { retentionDays: 7 });
    log(`templates installed; flow indices: ${installed.indexMode}`);
    const report = ROUNDS > 0 ? await throughput(client, esUrl) : [];
    if (process.env.BENCH_STORAGE !== '0') {
      const templates = buildTemplates({ capabilities: installed.capabilities, retentionDays: 7 });
      for (const generator of STORAGE_GENERATORS) report.push(...(await storage(client, generator, installed, templates)));
    }
    process.stdout.write(`${report.join('\n')}\n`);
  } finally {
    await client.close();
    await stopEs();
  }
}

/** (a) and (b): documents per second, the ratio, the indexer's memory and CPU. */
async function throughput(client: Client, esUrl: string): Promise<string[]> {
  log(`generating ${DOCS} flow documents (${GENERATOR} generator)`);
  const docs = generateFlowLogs(GENERATOR, DOCS, DAY);
  const { batches, rawBytes } = agentBatches(docs, BATCH);
  const packedBytes = batches.reduce((s, b) => s + b.length, 0);
  log(`${batches.length} agent batches (<= ${BATCH} documents, <= 4 MiB): ${(rawBytes / 2 ** 20).toFixed(0)} MiB NDJSON, ${(packedBytes / 2 ** 20).toFixed(0)} MiB ${BENCH_ENCODING}`);

  // Warm the cluster (JIT, caches) so the first timed phase is not penalised.
  await resetIndex(client);
  await direct(client, docs.slice(0, Math.min(20_000, docs.length)));

  const indexer = await spawnIndexer(esUrl, INDEXER_ARGS);
  if (process.env.BENCH_WATCH) log(`indexer at ${indexer.url} pid ${indexer.child.pid}`);
  const a: number[] = [];
  const b: number[] = [];
  let retries = 0;
  let indexerCpu = 0;
  let helperCpu = 0;
  const indexerCpus: number[] = [];
  const runA = async (round: number) => {
    await resetIndex(client);
    const cpu0 = process.cpuUsage();
    const sa = await direct(client, docs);
    const cpu = process.cpuUsage(cpu0);
    helperCpu += (cpu.user + cpu.system) / 1e6;
    await verify(client, '(a) bulk helper');
    a.push(DOCS / sa);
    log(`round ${round} (a) bulk helper: ${sa.toFixed(1)} s, ${(DOCS / sa).toFixed(0)} docs/s, client CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`);
  };
  const runB = async (round: number) => {
    await resetIndex(client);
    const cpu0 = indexer.cpuSeconds();
    const rb = await sendBatches(indexer.url, batches, SENDERS);
    const cpu = indexer.cpuSeconds() - cpu0;
    indexerCpu += cpu;
    indexerCpus.push(cpu);
    await verify(client, '(b) indexer');
    b.push(DOCS / rb.seconds);
    retries += rb.retries;
    log(`round ${round} (b) indexer:     ${rb.seconds.toFixed(1)} s, ${(DOCS / rb.seconds).toFixed(0)} docs/s, indexer CPU ${cpu.toFixed(1)} s (${rb.retries} batches told to retry)`);
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
  const report = [
    `indexer benchmark: ${DOCS} flow documents (${GENERATOR} generator)${process.env.BENCH_INDEXER_NODE_FLAGS ? ` (indexer node flags: ${process.env.BENCH_INDEXER_NODE_FLAGS})` : ''}, ${ROUNDS} round(s), agent batches of <= ${BATCH} docs / 4 MiB (${BENCH_ENCODING}), ${SENDERS} senders, bulk concurrency ${CONCURRENCY} and ${FLUSH_BYTES} B requests (indexer: ${INDEXER_CONCURRENCY}, ${INDEXER_FLUSH_BYTES} B)`,
    `  (a) bulk helper direct : ${mean(a).toFixed(0)} docs/s`,
    `  (b) through indexer    : ${mean(b).toFixed(0)} docs/s`,
    `  ratio b/a              : ${median(perRound).toFixed(3)} median of rounds [${perRound.map((r) => r.toFixed(2)).join(', ')}], ${(mean(b) / mean(a)).toFixed(3)} of the means (aim >= 0.97)`,
    `  indexer peak RSS       : ${(peak / 1024).toFixed(1)} MiB (aim < 200 MiB)`,
    `  CPU per document       : bulk helper client ${((helperCpu / (DOCS * ROUNDS)) * 1e6).toFixed(1)} µs, indexer ${((indexerCpu / (DOCS * ROUNDS)) * 1e6).toFixed(1)} µs, ${((median(indexerCpus) / DOCS) * 1e6).toFixed(1)} the median round (same machine as Elasticsearch; aim <= 8 µs)`,
    `  docs/s per indexer core: ${((DOCS * ROUNDS) / indexerCpu).toFixed(0)} (documents per second of the indexer's CPU)`,
    `  batches told to retry  : ${retries}`,
  ];
  return report;
}

// bench:cluster borrows the indexer child from here.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
