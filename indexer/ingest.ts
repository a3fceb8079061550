// POST /v1/flows, /v1/process-events and /v1/dns-logs: authenticate (throttling addresses that fail), read
// the bounded body while validating every line, admit (or 503), bulk-write, dead-letter what
// Elasticsearch or the time window refused, and only then 200.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../common/log.js';
import { CONTRACTS, type DocKind, type DocTypeContract } from '../schema/index.js';
import { BulkEntries, type SlabPool } from './arena.js';
import type { AuthThrottle, TokenSet } from './auth.js';
import type { BulkWriter } from './bulk-writer.js';
import { ClientGoneError, checkBodyHeaders, readBody } from './body.js';
import { writeDeadLetters } from './dead-letter.js';
import type { ElasticsearchMonitor } from './es-monitor.js';
import { HttpError, unavailable } from './http-error.js';
import type { InFlight } from './in-flight.js';
import type { IndexerMetrics } from './metrics.js';
import { BatchBuilder } from './ndjson.js';
import { sendError, sendJson } from './respond.js';

export const INGEST_ROUTES: Record<string, { kind: DocKind; contract: DocTypeContract<never> }> = Object.fromEntries(
  Object.values(CONTRACTS).map((contract) => [contract.route, { kind: contract.kind, contract }]),
);

export interface IngestLimits {
  maxBodyBytes: number;
  maxDocumentBytes: number;
  maxNestingDepth: number;
  maxBatchDocs: number;
  bodyTimeoutMs: number;
  minBodyRate: number;
  retentionMs: number;
  maxFutureSkewMs: number;
}

export interface IngestContext {
  tokens: TokenSet;
  throttle: AuthThrottle;
  /** Clients present a certificate the client CA signed (mTLS), checked by the TLS layer. */
  clientCertificates: boolean;
  monitor: ElasticsearchMonitor;
  writer: BulkWriter;
  inFlight: InFlight;
  slabs: SlabPool;
  metrics: IndexerMetrics;
  log: Logger;
  draining(): boolean;
  limits: IngestLimits;
  retryAfterMs: number;
}

/** The verified client certificate's subject (CN, else the whole subject), under mTLS. */
export function clientIdentity(req: IncomingMessage): string | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.encrypted || !socket.authorized) return undefined;
  const subject = socket.getPeerCertificate?.().subject;
  if (!subject) return undefined;
  const cn = subject.CN;
  if (cn) return Array.isArray(cn) ? cn.join(',') : cn;
  return Object.entries(subject).map(([k, v]) => `${k}=${String(v)}`).join(',');
}

/** 401, or 429 for an address that failed too often; a valid token (or mTLS alone) passes. */
function authenticate(req: IncomingMessage, ctx: IngestContext): void {
  if (ctx.clientCertificates && ctx.tokens.empty) return;
  const address = req.socket.remoteAddress ?? 'unknown';
  const wait = ctx.throttle.retryAfterMs(address);
  if (wait > 0) {
    ctx.metrics.authFailures.inc({ outcome: 'throttled' });
    throw new HttpError(429, 'too_many_auth_failures', 'too many failed authentications from this address; wait and check the token', {}, { 'retry-after': String(Math.ceil(wait / 1000)) });
  }
  if (ctx.tokens.check(req.headers.authorization)) return;
  ctx.throttle.failed(address);
  ctx.metrics.authFailures.inc({ outcome: 'refused' });
  ctx.log.warn({ client: address, identity: clientIdentity(req) }, 'indexer: an ingest request had a missing or wrong token');
  throw new HttpError(401, 'unauthorized', 'missing or wrong bearer token (Authorization: Bearer TOKEN)', {}, { 'www-authenticate': 'Bearer realm="procflow"' });
}

/**
 * Whether a caller may learn internals (readyz's detail): an mTLS client, or a valid token. A
 * wrong token counts as a failed authentication, and a throttled address is never told, so
 * the answer cannot serve to guess tokens faster than ingest allows.
 */
export function isInsider(req: IncomingMessage, ctx: IngestContext): boolean {
  if (ctx.clientCertificates && clientIdentity(req) !== undefined) return true;
  if (ctx.tokens.empty || req.headers.authorization === undefined) return false;
  const address = req.socket.remoteAddress ?? 'unknown';
  if (ctx.throttle.retryAfterMs(address) > 0) {
    ctx.metrics.authFailures.inc({ outcome: 'throttled' });
    return false;
  }
  if (ctx.tokens.check(req.headers.authorization)) return true;
  ctx.throttle.failed(address);
  ctx.metrics.authFailures.inc({ outcome: 'refused' });
  return false;
}

export async function handleIngest(req: IncomingMessage, res: ServerResponse, route: (typeof INGEST_ROUTES)[string], ctx: IngestContext): Promise<void> {
  if (ctx.draining()) {
    const err = unavailable('the indexer is shutting down; retry against another instance', 1000, 'shutting_down');
    throw new HttpError(err.status, err.code, err.message, err.fields, { ...err.headers, connection: 'close' });
  }
  authenticate(req, ctx);
  const identity = clientIdentity(req);
  if (identity) ctx.metrics.tlsClients.inc({ client: identity });
  try {
    await ingestBatch(req, res, route, ctx);
  } catch (err) {
    if (err instanceof HttpError && err.status >= 400 && err.status < 500) ctx.metrics.rejected.inc({ kind: route.kind, reason: err.code });
    throw err;
  }
}

async function ingestBatch(req: IncomingMessage, res: ServerResponse, route: (typeof INGEST_ROUTES)[string], ctx: IngestContext): Promise<void> {
  const { kind, contract } = route;
  const { limits } = ctx;
  // Agents are authenticated by now: they may learn why (readyz tells anyone only yes or no).
  const { ready, reason } = ctx.monitor.readiness;
  if (!ready) throw unavailable(`Elasticsearch is not ready: ${reason}`, ctx.retryAfterMs, 'elasticsearch');
  const { encoding } = checkBodyHeaders(req, limits.maxBodyBytes);

  const ticket = ctx.inFlight.enter();
  const entries = new BulkEntries('create', ctx.slabs);
  try {
    // What the headers announce is reserved before reading, so batches that cannot all fit are
    // turned away at once instead of all stalling half-read.
    const declared = Number(req.headers['content-length'] ?? 0) || 0;
    if (declared > 0 && !ticket.reserve(declared)) throw unavailable('the indexer holds as many batch bytes as it may; retry later', 1000, 'in_flight_bytes');
    const now = Date.now();
    const batch = new BatchBuilder(
      contract,
      { maxDocs: limits.maxBatchDocs, maxDepth: limits.maxNestingDepth, notBeforeMs: now - limits.retentionMs, notAfterMs: now + limits.maxFutureSkewMs },
      entries,
    );
    await readBody(
      req,
      encoding,
      { maxBytes: limits.maxBodyBytes, maxLineBytes: limits.maxDocumentBytes, ticket, prepaid: declared, deadlineMs: limits.bodyTimeoutMs, minRate: limits.minBodyRate },
      (line, lineNo) => batch.add(line, lineNo),
    );
    ctx.metrics.inFlightBytes.set(ctx.inFlight.bytes);
    batch.finish();
    if (!ticket.admit()) throw unavailable('the indexer is processing as many batches as it may; retry later', 1000, 'in_flight_requests');
    ctx.metrics.inFlightRequests.set(ctx.inFlight.requests);
    const { indexed, refused } = await ctx.writer.write(kind, entries);
    const early = batch.refused;
    const outOfRange = early.filter((r) => r.errorType === 'timestamp_out_of_range').length;
    if (outOfRange) ctx.metrics.outOfRange.inc({ kind }, outOfRange);
    if (early.length > outOfRange) ctx.metrics.conflicts.inc(early.length - outOfRange);
    if (batch.duplicates) ctx.metrics.duplicates.inc({ kind }, batch.duplicates);
    const deadLetters = [...early, ...refused];
    await writeDeadLetters(ctx.writer, deadLetters, ctx.slabs);
    ctx.metrics.accepted.inc({ kind }, indexed);
    const answer: Record<string, number> = { accepted: indexed };
    if (batch.duplicates) answer.duplicates = batch.duplicates;
    if (deadLetters.length) {
      answer.dead_lettered = deadLetters.length;
      ctx.metrics.deadLettered.inc({ kind }, deadLetters.length);
      ctx.log.warn({ kind, dead_lettered: deadLetters.length, first: deadLetters[0]!.reason, client: req.socket.remoteAddress, identity: clientIdentity(req) }, 'indexer: documents not indexed; written to the dead-letter index');
    }
    sendJson(res, 200, answer);
  } finally {
    // Every bulk request of this batch has finished (the writer waits for all of them), and the
    // dead letters (views of the entries) are written.
    entries.release();
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
    if (err.status === 408) ctx.metrics.slowClients.inc({ reason: err.code });
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
