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
// agents' default; with two, the ratio of the first to the second).
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { FLOW_CONTRACT, buildTemplates, SCHEMA_VERSION } from '../schema/index.js';
import { BulkEntries, SlabPool } from '../indexer/arena.js';
import { readBody } from '../indexer/body.js';
import { bulkBody, splitByBytes } from '../indexer/bulk-body.js';
import { InFlight } from '../indexer/in-flight.js';
import { BatchBuilder } from '../indexer/ndjson.js';
import { withDefaults } from '../indexer/options.js';
import { BATCH_ENCODINGS, encodingOf, type BatchEncoding } from '../common/batch-encoding.js';
import { AGENT_BATCH_DOCS, BENCH_DAY, GENERATORS, agentBatches, generateFlowLogs, type Generator } from './flow-docs.js';
import { sendBatches, spawnIndexer } from './indexer-process.js';

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

/** (1): µs of CPU per document of each round, in this process. */
async function inProcess(batches: Buffer[]): Promise<number[]> {
  const o = withDefaults({ es_url: 'http://127.0.0.1:9200' });
  const inFlight = new InFlight(o.max_in_flight_requests, o.max_in_flight_bytes);
  const slabs = new SlabPool(o.max_in_flight_bytes);
  // The whole benchmark day (and the years since) is inside the window, as in bench:indexer.
  const limits = { maxDocs: o.max_batch_docs, maxDepth: o.max_nesting_depth, notBeforeMs: 0, notAfterMs: Date.now() + o.max_future_skew };
  const perDoc: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
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
    perDoc.push((cpu.user + cpu.system) / docs);
    log(`(1) round ${round}: ${perDoc.at(-1)!.toFixed(2)} µs CPU per document (bulk body ${(bulkBytes / docs).toFixed(0)} B per document)`);
  }
  return perDoc;
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

/** (2): µs of the indexer's CPU per document of each round, over HTTP against the stand-in; its peak RSS. */
async function overHttp(batches: Buffer[]): Promise<{ perDoc: number[]; peakMiB: number }> {
  const es = await standIn();
  const indexer = await spawnIndexer(es.url, ['--install-templates', 'false', '--retention-days', String(RETENTION_DAYS)]);
  const perDoc: number[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const cpu0 = indexer.cpuSeconds();
      const { seconds } = await sendBatches(indexer.url, batches, SENDERS);
      perDoc.push(((indexer.cpuSeconds() - cpu0) / DOCS) * 1e6);
      log(`(2) round ${round}: ${perDoc.at(-1)!.toFixed(2)} µs of the indexer's CPU per document, ${(DOCS / seconds).toFixed(0)} docs/s`);
    }
    return { perDoc, peakMiB: indexer.peakRssKiB() / 1024 };
  } finally {
    await indexer.stop();
    es.close();
  }
}

async function main(): Promise<void> {
  const docs = generateFlowLogs(GENERATOR, DOCS, BENCH_DAY);
  const summary = (xs: number[]) => `${median(xs).toFixed(2)} µs per document (${(1e6 / median(xs)).toFixed(0)} docs/s per core), median of ${xs.length} rounds (best ${Math.min(...xs).toFixed(2)})`;
  const report: string[] = [];
  const medians: Record<string, [number, number]> = {};
  for (const encoding of ENCODINGS) {
    const { batches, rawBytes } = agentBatches(docs, AGENT_BATCH_DOCS, encoding);
    const wire = batches.reduce((n, b) => n + b.length, 0);
    log(`${DOCS} flow documents (${GENERATOR} generator) in ${batches.length} ${encoding} batches, ${(rawBytes / DOCS).toFixed(0)} B per document as NDJSON, ${(wire / DOCS).toFixed(0)} B compressed`);
    const own = await inProcess(batches);
    const http = await overHttp(batches);
    medians[encoding] = [median(own), median(http.perDoc)];
    report.push(`indexer CPU without Elasticsearch (${DOCS} flow logs, ${GENERATOR} generator, ${encoding} batches of ${(wire / DOCS).toFixed(0)} B per document):`,
      `  (1) its code path, in one process       : ${summary(own)}`,
      `  (2) over HTTP, a stand-in for the cluster: ${summary(http.perDoc)}; peak RSS ${http.peakMiB.toFixed(1)} MiB`);
  }
  const [first, second] = ENCODINGS;
  if (first && second) {
    const [a, b] = [medians[first]!, medians[second]!];
    report.push(`${first} against ${second}: (1) ${(a[0] / b[0]).toFixed(3)}, (2) ${(a[1] / b[1]).toFixed(3)}`);
  }
  process.stdout.write(`${report.join('\n')}\n`);
}

await main();
