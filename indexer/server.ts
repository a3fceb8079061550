// The HTTP server: routes, and the lifecycle (start tolerating a down Elasticsearch, graceful
// drain on close). Node's http module is enough: four routes, all bodies read by body.ts.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@elastic/elasticsearch';
import { createEsClient } from '../common/elasticsearch.js';
import { ConfigError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/log.js';
import { SlabPool } from './arena.js';
import { bearerChecker } from './auth.js';
import { BulkWriter } from './bulk-writer.js';
import { ElasticsearchMonitor } from './es-monitor.js';
import { HttpError } from './http-error.js';
import { InFlight } from './in-flight.js';
import { INGEST_ROUTES, answerIngestError, handleIngest, type IngestContext } from './ingest.js';
import { createIndexerMetrics, type IndexerMetrics } from './metrics.js';
import { checkIndexerOptions, parseListen, type IndexerOptions } from './options.js';
import { sendError, sendJson, sendText } from './respond.js';

/** After the shutdown deadline, how long the batches cut off get to receive their 503. */
const ANSWER_GRACE_MS = 1000;

export interface Indexer {
  /** http://host:port the server listens on (the real port when 0 was asked for). */
  url: string;
  metrics: IndexerMetrics;
  monitor: ElasticsearchMonitor;
  /** Stops accepting, drains in-flight batches (up to shutdown_timeout), then closes. */
  close(): Promise<void>;
}

export interface IndexerDeps {
  client?: Client;
  log?: Logger;
}

export async function startIndexer(opts: IndexerOptions, deps: IndexerDeps = {}): Promise<Indexer> {
  checkIndexerOptions(opts);
  const log = deps.log ?? createLogger('indexer');
  const client = deps.client ?? createEsClient(opts, { maxRetries: 0 });
  const metrics = createIndexerMetrics();
  const monitor = new ElasticsearchMonitor(
    client,
    {
      url: opts.es_url,
      installTemplates: opts.install_templates,
      retentionDays: opts.retention_days,
      interval: opts.health_interval,
      downInterval: opts.unavailable_probe_interval ?? Math.min(1000, opts.health_interval),
    },
    metrics,
    log,
  );
  const writer = new BulkWriter(
    client,
    {
      concurrency: Math.max(1, opts.bulk_concurrency),
      flushBytes: opts.bulk_flush_bytes,
      maxRetries: opts.bulk_max_retries,
      backoffMs: opts.retry_backoff,
      maxBackoffMs: opts.retry_max_backoff,
      retryAfterMs: opts.retry_after,
    },
    metrics,
    { onUnreachable: (reason) => monitor.markUnavailable(reason), onIndexMissing: (index, reason) => monitor.markIndexMissing(index, reason) },
    log,
  );
  const inFlight = new InFlight(opts.max_in_flight_requests, opts.max_in_flight_bytes);
  let draining = false;
  const ctx: IngestContext = {
    authorized: bearerChecker(opts.token),
    monitor,
    writer,
    inFlight,
    slabs: new SlabPool(opts.max_in_flight_bytes),
    metrics,
    log,
    draining: () => draining,
    maxBodyBytes: opts.max_body_size,
    maxBatchDocs: opts.max_batch_docs,
    retryAfterMs: opts.retry_after,
  };

  const server = createServer((req, res) => void route(req, res, ctx, () => draining));
  // A client trickling its body holds an in-flight slot; give it two minutes at most.
  server.requestTimeout = 120_000;
  server.on('clientError', (err, socket) => {
    // Malformed HTTP: answer 400 if the socket still can, never throw.
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
    log.debug({ err: err.message }, 'indexer: malformed HTTP request');
  });
  const { host, port } = parseListen(opts.listen);
  await new Promise<void>((resolve, reject) => {
    const refused = (err: NodeJS.ErrnoException) => reject(new ConfigError(
      `indexer: cannot listen on ${opts.listen}: ${err.code ?? err.message}`,
      err.code === 'EADDRINUSE' ? 'another process (another indexer?) holds the port: stop it or pick another --listen HOST:PORT (PROCFLOW_LISTEN)'
        : err.code === 'EACCES' ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE: pick another --listen HOST:PORT (PROCFLOW_LISTEN)'
          : 'pick a local address for --listen HOST:PORT (PROCFLOW_LISTEN)',
    ));
    server.once('error', refused);
    server.listen(port, host, () => (server.off('error', refused), resolve()));
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info({ url, es: opts.es_url }, 'indexer: listening');

  // Elasticsearch may be down: the first check only decides what /readyz and ingest say.
  await monitor.start();

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      log.info({ in_flight: inFlight.requests }, 'indexer: shutting down, draining in-flight batches');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Batches in flight may still be written, but none is retried any more: one that needs a
      // retry (Elasticsearch busy or gone) is answered 503 now, and its agent sends it again.
      writer.stopRetrying();
      let drained = await Promise.race([inFlight.idle().then(() => true), sleep(opts.shutdown_timeout, false, { ref: false })]);
      if (!drained) {
        log.warn({ in_flight: inFlight.requests }, 'indexer: shutdown timeout; the batches in flight are answered 503 (agents retry them)');
        // Cut off the bulk requests still waiting for Elasticsearch: their batches are answered
        // 503 (nothing acknowledged that was not written); a moment for those answers to go out.
        writer.abortRequests();
        drained = await Promise.race([inFlight.idle().then(() => true), sleep(ANSWER_GRACE_MS, false, { ref: false })]);
      }
      await writer.onIdle();
      server.closeIdleConnections();
      if (!drained) server.closeAllConnections();
      monitor.stop();
      await closed;
      if (!deps.client) await client.close();
      log.info('indexer: stopped');
    })());

  return { url, metrics, monitor, close };
}

async function route(req: IncomingMessage, res: ServerResponse, ctx: IngestContext, draining: () => boolean): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const ingest = INGEST_ROUTES[path];
  const routeLabel = ingest ? path : ['/healthz', '/readyz', '/metrics'].includes(path) ? path : 'other';
  res.once('finish', () => ctx.metrics.requests.inc({ route: routeLabel, status: res.statusCode }));
  try {
    if (ingest) {
      if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', `${path} takes POST`, {}, { allow: 'POST' });
      await handleIngest(req, res, ingest, ctx);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method_not_allowed', `${path} takes GET`, {}, { allow: 'GET' });
    switch (path) {
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz': {
        const r = ctx.monitor.readiness;
        if (draining()) return sendJson(res, 503, { ready: false, reason: 'the indexer is shutting down' });
        return sendJson(res, r.ready ? 200 : 503, r.ready ? { ready: true } : { ready: false, reason: r.reason });
      }
      case '/metrics':
        return sendText(res, 200, await ctx.metrics.registry.metrics(), ctx.metrics.registry.contentType);
      default:
        throw new HttpError(404, 'not_found', `no route ${path}; ingest with POST /v1/flows or /v1/process-events`);
    }
  } catch (err) {
    if (ingest) answerIngestError(res, err, ctx);
    else if (err instanceof HttpError) sendError(res, err);
    else {
      ctx.log.error({ err }, 'indexer: unexpected error');
      sendError(res, new HttpError(500, 'internal', `indexer: ${(err as Error)?.message ?? String(err)}`));
    }
  }
}
