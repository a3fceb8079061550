// npm run bench:indexer-cpu — the CPU the indexer spends per document on its own code path,
// without Elasticsearch or sockets: the benchmark's gzip batches go through the same body
// reader (gunzip, line splitting, limits), batch builder (checks, validation, id and index) and
// bulk body builder the server uses. Light enough to run beside other work, and the place to
// take a CPU profile: `node --cpu-prof dist/bench/indexer-cpu.js`.
//
// Settings (environment): BENCH_DOCS (200000), BENCH_ROUNDS (5).
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { FLOW_CONTRACT } from '../schema/index.js';
import { BulkEntries, SlabPool } from '../indexer/arena.js';
import { readBody } from '../indexer/body.js';
import { bulkBody, splitByBytes } from '../indexer/bulk-body.js';
import { InFlight } from '../indexer/in-flight.js';
import { BatchBuilder } from '../indexer/ndjson.js';
import { withDefaults } from '../indexer/options.js';
import { AGENT_BATCH_DOCS, agentBatches, generateFlowLogs } from './flow-docs.js';

const DOCS = Number(process.env.BENCH_DOCS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** What a socket hands the server at a time. */
const WIRE_CHUNK = 64 * 1024;

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

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

async function main(): Promise<void> {
  const o = withDefaults({ es_url: 'http://127.0.0.1:9200' });
  const { batches, rawBytes } = agentBatches(generateFlowLogs(DOCS), AGENT_BATCH_DOCS);
  log(`${DOCS} flow documents in ${batches.length} batches, ${(rawBytes / DOCS).toFixed(0)} B per document as NDJSON`);
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
        true,
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
    log(`round ${round}: ${perDoc.at(-1)!.toFixed(2)} µs CPU per document (bulk body ${(bulkBytes / docs).toFixed(0)} B per document)`);
  }
  const sorted = [...perDoc].sort((a, b) => a - b);
  process.stdout.write(`indexer CPU without Elasticsearch: ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} µs per document, median of ${ROUNDS} rounds (best ${sorted[0]!.toFixed(2)})\n`);
}

await main();
