// POST /v1/flows and /v1/process-events: authenticate, admit (or 503), read the bounded body,
// validate every line, bulk-write, dead-letter what Elasticsearch refused, and only then 200.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/log.js';
import { FLOW_CONTRACT, PROCESS_CONTRACT, type DocKind, type DocTypeContract } from '../schema/index.js';
import { Arena, type SlabPool } from './arena.js';
import type { BulkWriter } from './bulk-writer.js';
import { ClientGoneError, checkBodyHeaders, readBody } from './body.js';
import { writeDeadLetters } from './dead-letter.js';
import type { ElasticsearchMonitor } from './es-monitor.js';
import { HttpError, unavailable } from './http-error.js';
import type { InFlight } from './in-flight.js';
import type { IndexerMetrics } from './metrics.js';
import { BatchBuilder } from './ndjson.js';
import { sendError, sendJson } from './respond.js';

export const INGEST_ROUTES: Record<string, { kind: DocKind; contract: DocTypeContract<never> }> = {
  '/v1/flows': { kind: 'flows', contract: FLOW_CONTRACT as DocTypeContract<never> },
  '/v1/process-events': { kind: 'process', contract: PROCESS_CONTRACT as DocTypeContract<never> },
};

export interface IngestContext {
  authorized(header: string | undefined): boolean;
  monitor: ElasticsearchMonitor;
  writer: BulkWriter;
  inFlight: InFlight;
  slabs: SlabPool;
  metrics: IndexerMetrics;
  log: Logger;
  draining(): boolean;
  maxBodyBytes: number;
  maxBatchDocs: number;
  retryAfterMs: number;
}

export async function handleIngest(req: IncomingMessage, res: ServerResponse, route: (typeof INGEST_ROUTES)[string], ctx: IngestContext): Promise<void> {
  if (ctx.draining()) {
    const err = unavailable('the indexer is shutting down; retry against another instance', 1000, 'shutting_down');
    throw new HttpError(err.status, err.code, err.message, err.fields, { ...err.headers, connection: 'close' });
  }
  if (!ctx.authorized(req.headers.authorization)) {
    throw new HttpError(401, 'unauthorized', 'missing or wrong bearer token (Authorization: Bearer TOKEN)', {}, { 'www-authenticate': 'Bearer realm="procflow"' });
  }
  try {
    await ingestBatch(req, res, route, ctx);
  } catch (err) {
    if (err instanceof HttpError && err.status >= 400 && err.status < 500) ctx.metrics.rejected.inc({ kind: route.kind, reason: err.code });
    throw err;
  }
}

async function ingestBatch(req: IncomingMessage, res: ServerResponse, route: (typeof INGEST_ROUTES)[string], ctx: IngestContext): Promise<void> {
  const { kind, contract } = route;
  const { ready, reason } = ctx.monitor.readiness;
  if (!ready) throw unavailable(`Elasticsearch is not ready: ${reason}`, ctx.retryAfterMs, 'elasticsearch');
  const { gzip } = checkBodyHeaders(req, ctx.maxBodyBytes);

  const ticket = ctx.inFlight.tryEnter();
  if (!ticket) throw unavailable('the indexer is processing as many batches as it may; retry later', 1000, 'in_flight_requests');
  ctx.metrics.inFlightRequests.set(ctx.inFlight.requests);
  const arena = new Arena(ctx.slabs);
  try {
    const batch = new BatchBuilder(contract, ctx.maxBatchDocs, arena);
    await readBody(req, gzip, { maxBytes: ctx.maxBodyBytes, ticket }, (line, lineNo) => batch.add(line, lineNo));
    ctx.metrics.inFlightBytes.set(ctx.inFlight.bytes);
    const docs = batch.finish();
    const { indexed, refused } = await ctx.writer.write(kind, docs);
    await writeDeadLetters(ctx.writer, refused);
    ctx.metrics.accepted.inc({ kind }, indexed);
    if (refused.length) {
      ctx.metrics.deadLettered.inc({ kind }, refused.length);
      ctx.log.warn({ kind, dead_lettered: refused.length, first: refused[0]!.reason }, 'indexer: Elasticsearch refused documents; written to the dead-letter index');
      sendJson(res, 200, { accepted: indexed, dead_lettered: refused.length });
    } else {
      sendJson(res, 200, { accepted: indexed });
    }
  } finally {
    // Every bulk request of this batch has finished (the writer waits for all of them).
    arena.release();
    ticket.release();
    ctx.metrics.inFlightRequests.set(ctx.inFlight.requests);
    ctx.metrics.inFlightBytes.set(ctx.inFlight.bytes);
  }
}

/** Answers an ingest failure; a client that is gone gets nothing, a bug gets a logged 500. */
export function answerIngestError(res: ServerResponse, err: unknown, ctx: Pick<IngestContext, 'metrics' | 'log'>): void {
  if (err instanceof ClientGoneError) {
    res.destroy();
    return;
  }
  if (err instanceof HttpError) {
    // 503s are expected while Elasticsearch is down or busy (the monitor logs those changes),
    // so they are counted, and only logged at debug level to keep an outage from flooding logs.
    if (err.status === 503) {
      ctx.metrics.unavailable.inc({ reason: err.code });
      ctx.log.debug({ code: err.code, err: err.message }, 'indexer: batch not accepted, agent told to retry');
    } else if (err.status >= 500) {
      ctx.log.warn({ status: err.status, code: err.code, err: err.message }, 'indexer: batch not accepted');
    }
    sendError(res, err);
    return;
  }
  ctx.log.error({ err }, 'indexer: unexpected error while ingesting');
  sendError(res, new HttpError(500, 'internal', `indexer: unexpected error: ${(err as Error)?.message ?? String(err)}`));
}
