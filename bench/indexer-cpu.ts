// npm run bench:indexer-cpu — the CPU the indexer spends per document, without Elasticsearch,
// on the benchmark's flow logs and gzip batches, two ways:
//   (1) its own code path in this process: the body reader (gunzip, line splitting, limits),
//       the batch builder (checks, validation, id and index) and the bulk bodies the server
//       uses; profile it with `node --cpu-prof dist/bench/indexer-cpu.js`;
//   (2) `procflow indexer` in a child process over HTTP, against a stand-in for Elasticsearch
//       that answers every bulk request "all created" (so sockets, the client and the writer
//       count too); profile it with BENCH_INDEXER_NODE_FLAGS=--cpu-prof.
// Light enough to run beside other work (no cluster); bench:indexer measures with one.
//
// Settings (environment): BENCH_DOCS (200000), BENCH_ROUNDS (5), BENCH_SENDERS (4), BENCH_GENERATOR
// (agent: the documents agents send on a Kubernetes cluster; plain: the earlier, plainer ones),
// BENCH_ENCODINGS (zstd,gzip: the batches' encodings, each measured in turn, zstd being the
// agents' default; with two, the ratio of the first to the second), BENCH_BASELINE (a checkout
// of another commit, built: its code runs too, round by round alternating with this one's in (1)
// and in (2), so a change is measured before and after under the same load; a shared machine's
// noise is larger than most changes between separate runs. It must read the encodings measured:
// BENCH_ENCODINGS=gzip for one from before zstd).
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { buildTemplates, SCHEMA_VERSION } from '../schema/index.js';
import { BATCH_ENCODINGS, encodingOf, type BatchEncoding } from '../common/batch-encoding.js';
import { AGENT_BATCH_DOCS, BENCH_DAY, GENERATORS, agentBatches, generateFlowLogs, type Generator } from './flow-docs.js';
import { sendBatches, type RunningIndexer } from './indexer-process.js';

const DOCS = Number(process.env.BENCH_DOCS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SENDERS = Number(process.env.BENCH_SENDERS ?? 4);
const GENERATOR = (process.env.BENCH_GENERATOR ?? 'agent') as Generator;
if (!GENERATORS.includes(GENERATOR)) throw new Error(`bench: no document generator named ${JSON.stringify(GENERATOR)}; use one of ${GENERATORS.join(', ')}`);
const ENCODINGS = (process.env.BENCH_ENCODINGS ?? 'zstd,gzip').split(',').filter(Boolean).map((e): BatchEncoding => {
  if ((BATCH_ENCODINGS as readonly string[]).includes(e)) return e as BatchEncoding;
  throw new Error(`bench: BENCH_ENCODINGS: no batch encoding ${JSON.stringify(e)}; use ${BATCH_ENCODINGS.join(', ')}`);
});
/** What a socket hands the server at a time. */
const WIRE_CHUNK = 64 * 1024;
/** The benchmark's day must be inside the indexer's retention. */
const RETENTION_DAYS = Math.ceil((Date.now() - BENCH_DAY) / 86_400_000) + 2;

const BASELINE = process.env.BENCH_BASELINE;

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A request as readBody sees it: the body's bytes in socket-sized chunks, then the end. */
function fakeRequest(body: Buffer): IncomingMessage {
  const chunks: Buffer[] = [];
  for (let at = 0; at < body.length; at += WIRE_CHUNK) chunks.push(body.subarray(at, at + WIRE_CHUNK));
  const req = Readable.from(chunks, { objectMode: false }) as Readable & { complete: boolean; headers: Record<string, string> };
  req.complete = true;
  req.headers = {};
  return req as unknown as IncomingMessage;
}

const drain = async (stream: Readable): Promise<number> => {
  let bytes = 0;
  for await (const piece of stream) bytes += (piece as Buffer).length;
  return bytes;
};

/** The indexer's code of one build: this one's, or the baseline's (from its own dist). */
async function build(dist: string) {
  const load = (path: string) => import(pathToFileURL(join(dist, path)).href);
  return {
    ...((await load('schema/index.js')) as typeof import('../schema/index.js')),
    ...((await load('indexer/arena.js')) as typeof import('../indexer/arena.js')),
    ...((await load('indexer/body.js')) as typeof import('../indexer/body.js')),
    ...((await load('indexer/bulk-body.js')) as typeof import('../indexer/bulk-body.js')),
    ...((await load('indexer/in-flight.js')) as typeof import('../indexer/in-flight.js')),
    ...((await load('indexer/ndjson.js')) as typeof import('../indexer/ndjson.js')),
    ...((await load('indexer/options.js')) as typeof import('../indexer/options.js')),
    ...((await load('bench/indexer-process.js')) as typeof import('./indexer-process.js')),
  };
}
type Build = Awaited<ReturnType<typeof build>>;

/** Runs `round` for each build in turn, the order swapped every round; each build's results. */
async function alternate<T>(builds: Build[], round: (b: Build, i: number, n: number) => Promise<T>): Promise<T[][]> {
  const out: T[][] = builds.map(() => []);
  for (let n = 1; n <= ROUNDS; n++) {
    const order = builds.map((_, i) => i);
    if (n % 2 === 0) order.reverse();
    for (const i of order) out[i]!.push(await round(builds[i]!, i, n));
  }
  return out;
}

const NAMES = ['this build', 'baseline'];

/** (1): µs of CPU per document of each round, in this process, for each build. */
async function inProcess(builds: Build[], batches: Buffer[]): Promise<number[][]> {
  const setups = builds.map((b) => {
    const o = b.withDefaults({ es_url: 'http://127.0.0.1:9200' });
    // The whole benchmark day (and the years since) is inside the window, as in bench:indexer.
    const limits = { maxDocs: o.max_batch_docs, maxDepth: o.max_nesting_depth, notBeforeMs: 0, notAfterMs: Date.now() + o.max_future_skew };
    return { o, limits, inFlight: new b.InFlight(o.max_in_flight_requests, o.max_in_flight_bytes), slabs: new b.SlabPool(o.max_in_flight_bytes) };
  });
  return alternate(builds, async (b, i, round) => {
    const { o, limits, inFlight, slabs } = setups[i]!;
    const { BatchBuilder, BulkEntries, FLOW_CONTRACT, bulkBody, readBody, splitByBytes } = b;
    const cpu0 = process.cpuUsage();
    let docs = 0;
    let bulkBytes = 0;
    for (const body of batches) {
      const ticket = inFlight.enter();
      const entries = new BulkEntries('create', slabs);
      const batch = new BatchBuilder(FLOW_CONTRACT, limits, entries);
      await readBody(
        fakeRequest(body),
        encodingOf(body) ?? 'identity',
        { maxBytes: o.max_body_size, maxLineBytes: o.max_document_size, ticket, prepaid: 0, deadlineMs: o.body_timeout, minRate: 0 },
        (line, lineNo) => batch.add(line, lineNo),
      );
      batch.finish();
      docs += entries.count;
      for (const group of splitByBytes(entries, o.bulk_flush_bytes)) bulkBytes += await drain(bulkBody(entries, group));
      entries.release();
      ticket.release();
    }
    const cpu = process.cpuUsage(cpu0);
    if (docs !== DOCS) throw new Error(`bench: ${docs} of ${DOCS} documents prepared`);
    const perDoc = (cpu.user + cpu.system) / docs;
    log(`(1) round ${round}${builds.length > 1 ? `, ${NAMES[i]}` : ''}: ${perDoc.toFixed(2)} µs CPU per document (bulk body ${(bulkBytes / docs).toFixed(0)} B per document)`);
    return perDoc;
  });
}

/** Answers what the indexer asks of Elasticsearch: healthy, templates installed, every bulk item created. */
function standIn(): Promise<{ url: string; close(): void }> {
  const names = buildTemplates({ capabilities: { ilm: false, logsdb: null }, retentionDays: 1 }).indexTemplates.map((t) => t.name);
  const templates = JSON.stringify({ index_templates: names.map((name) => ({ name, index_template: { _meta: { schema_version: SCHEMA_VERSION } } })) });
  const created = '{"create":{"status":201}}';
  const server = createServer((req, res) => {
    const answer = (body: string) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
      res.end(body);
    };
    let lines = 0;
    req.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
    });
    req.on('end', () => {
      const path = req.url ?? '/';
      if (path.startsWith('/_bulk')) answer(`{"errors":false,"items":[${Array(lines / 2).fill(created).join(',')}]}`);
      else if (path.startsWith('/_cluster/health')) answer('{"status":"green"}');
      else if (path.startsWith('/_index_template')) answer(templates);
      else answer('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() })),
  );
}

/** (2): µs of the indexer's CPU per document of each round, over HTTP against the stand-in, for each build; their peak RSS. */
async function overHttp(builds: Build[], batches: Buffer[]): Promise<Array<{ perDoc: number[]; peakMiB: number }>> {
  const es = await standIn();
  const indexers: RunningIndexer[] = [];
  try {
    for (const b of builds) indexers.push(await b.spawnIndexer(es.url, ['--install-templates', 'false', '--retention-days', String(RETENTION_DAYS)]));
    const perDoc = await alternate(builds, async (_, i, round) => {
      const indexer = indexers[i]!;
      const cpu0 = indexer.cpuSeconds();
      const { seconds } = await sendBatches(indexer.url, batches, SENDERS);
      const us = ((indexer.cpuSeconds() - cpu0) / DOCS) * 1e6;
      log(`(2) round ${round}${builds.length > 1 ? `, ${NAMES[i]}` : ''}: ${us.toFixed(2)} µs of the indexer's CPU per document, ${(DOCS / seconds).toFixed(0)} docs/s`);
      return us;
    });
    return perDoc.map((xs, i) => ({ perDoc: xs, peakMiB: indexers[i]!.peakRssKiB() / 1024 }));
  } finally {
    for (const indexer of indexers) await indexer.stop();
    es.close();
  }
}

async function main(): Promise<void> {
  const docs = generateFlowLogs(GENERATOR, DOCS, BENCH_DAY);
  const builds = [await build(join(import.meta.dirname, '..')), ...(BASELINE ? [await build(join(BASELINE, 'dist'))] : [])];
  const summary = (xs: number[]) => `${median(xs).toFixed(2)} µs per document (${(1e6 / median(xs)).toFixed(0)} docs/s per core), median of ${xs.length} rounds (best ${Math.min(...xs).toFixed(2)})`;
  const lines: string[] = [];
  /** This build's medians (1) and (2) by encoding. */
  const medians: Record<string, [number, number]> = {};
  for (const encoding of ENCODINGS) {
    const { batches, rawBytes } = agentBatches(docs, AGENT_BATCH_DOCS, encoding);
    const wire = batches.reduce((n, b) => n + b.length, 0);
    log(`${DOCS} flow documents (${GENERATOR} generator) in ${batches.length} ${encoding} batches, ${(rawBytes / DOCS).toFixed(0)} B per document as NDJSON, ${(wire / DOCS).toFixed(0)} B compressed`);
    const own = await inProcess(builds, batches);
    const http = await overHttp(builds, batches);
    medians[encoding] = [median(own[0]!), median(http[0]!.perDoc)];
    lines.push(`indexer CPU without Elasticsearch (${DOCS} flow logs, ${GENERATOR} generator, ${encoding} batches of ${(wire / DOCS).toFixed(0)} B per document):`);
    builds.forEach((_, i) => {
      const who = builds.length > 1 ? ` (${i ? `baseline ${BASELINE}` : 'this build'})` : '';
      lines.push(`  (1) its code path, in one process${who}       : ${summary(own[i]!)}`, `  (2) over HTTP, a stand-in for the cluster${who}: ${summary(http[i]!.perDoc)}; peak RSS ${http[i]!.peakMiB.toFixed(1)} MiB`);
    });
    if (builds.length > 1) {
      const ratio = (xs: number[][]) => (median(xs[0]!) / median(xs[1]!)).toFixed(3);
      lines.push(`  this build / baseline (medians): (1) ${ratio(own)}, (2) ${ratio(http.map((h) => h.perDoc))}`);
    }
  }
  const [first, second] = ENCODINGS;
  if (first && second) {
    const [a, b] = [medians[first]!, medians[second]!];
    lines.push(`${first} against ${second}: (1) ${(a[0] / b[0]).toFixed(3)}, (2) ${(a[1] / b[1]).toFixed(3)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
