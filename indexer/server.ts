// The HTTP(S) server: routes, connection limits, and the lifecycle (start tolerating a down
// Elasticsearch, graceful drain on close). Node's http module is enough: four routes, all
// bodies read by body.ts.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@elastic/elasticsearch';
import { createEsClient } from '../common/elasticsearch.js';
import { ConfigError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/log.js';
import { SlabPool } from './arena.js';
import { AuthThrottle, TokenSet } from './auth.js';
import { isLoopbackHost } from '../common/net.js';
import { createTlsServer, type TlsListener } from './tls.js';
import { BulkWriter, IndexerSerializer } from './bulk-writer.js';
import { ElasticsearchMonitor } from './es-monitor.js';
import { HttpError } from './http-error.js';
import { InFlight } from './in-flight.js';
import { INGEST_ROUTES, answerIngestError, handleIngest, isInsider, type IngestContext } from './ingest.js';
import { createIndexerMetrics, type IndexerMetrics } from './metrics.js';
import { checkIndexerOptions, parseListen, type IndexerOptions } from './options.js';
import { sendError, sendJson, sendText } from './respond.js';

/** After the shutdown deadline, how long the batches cut off get to receive their 503. */
const ANSWER_GRACE_MS = 1000;

export interface Indexer {
  /** http(s)://host:port the server listens on (the real port when 0 was asked for). */
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
  const client = deps.client ?? createEsClient(opts, { maxRetries: 0, Serializer: IndexerSerializer });
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
  const tokens = new TokenSet({ token: opts.token, tokenFile: opts.token_file }, log);
  const ctx: IngestContext = {
    tokens,
    throttle: new AuthThrottle(opts.auth_failures_per_minute),
    clientCertificates: Boolean(opts.tls_client_ca_file),
    monitor,
    writer,
    inFlight,
    slabs: new SlabPool(opts.max_in_flight_bytes),
    metrics,
    log,
    draining: () => draining,
    limits: {
      maxBodyBytes: opts.max_body_size,
      maxDocumentBytes: Math.min(opts.max_document_size, opts.max_body_size),
      maxNestingDepth: opts.max_nesting_depth,
      maxBatchDocs: opts.max_batch_docs,
      bodyTimeoutMs: opts.body_timeout,
      minBodyRate: opts.min_body_rate,
      retentionMs: opts.retention_days * 86_400_000,
      maxFutureSkewMs: opts.max_future_skew,
    },
    retryAfterMs: opts.retry_after,
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => void route(req, res, ctx, () => draining);
  // Slow clients are judged every second (Node's default is every 30 s).
  const httpOptions = { connectionsCheckingInterval: 1000, headersTimeout: opts.headers_timeout, requestTimeout: opts.headers_timeout + opts.body_timeout };
  let tls: TlsListener | null = null;
  if (opts.tls_cert_file) tls = createTlsServer(opts, httpOptions, handler, log);
  else if (!isLoopbackHost(parseListen(opts.listen).host)) {
    log.warn({ listen: opts.listen }, 'indexer: listening on plain http beyond loopback: process arguments and tokens cross the network in cleartext; give --tls-cert-file and --tls-key-file');
  }
  const server = tls?.server ?? createServer(httpOptions, handler);
  limitConnections(server, opts.max_connections, opts.max_connections_per_client, metrics);
  boundFirstRequest(server, tls !== null, opts.headers_timeout, metrics);
  server.on('tlsClientError', (err: Error & { code?: string }, socket: Socket) => {
    // Handshakes that fail (no or wrong client certificate, plain http to https) are counted.
    metrics.connectionsRefused.inc({ reason: 'tls_handshake' });
    log.debug({ err: err.message, code: err.code, client: socket.remoteAddress }, 'indexer: TLS handshake failed');
  });
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
  const url = `${tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info({ url, es: opts.es_url, mtls: Boolean(opts.tls_client_ca_file) }, 'indexer: listening');

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
      tokens.stop();
      tls?.stop();
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
        // Anyone may ask whether it is ready; only an agent's token (or an mTLS client) learns
        // why not, since the reasons name the cluster and its settings.
        const r = ctx.monitor.readiness;
        if (draining()) return sendJson(res, 503, { ready: false, reason: 'shutting_down' });
        if (r.ready) return sendJson(res, 200, { ready: true });
        const insider = isInsider(req, ctx);
        return sendJson(res, 503, { ready: false, reason: r.reachable ? 'elasticsearch_not_ready' : 'elasticsearch_unreachable', ...(insider ? { detail: r.reason } : {}) });
      }
      case '/metrics':
        return sendText(res, 200, await ctx.metrics.registry.metrics(), ctx.metrics.registry.contentType);
      default:
        throw new HttpError(404, 'not_found', `no route ${path}; ingest with POST ${Object.keys(INGEST_ROUTES).join(', ')}`);
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

/**
 * Caps open connections, in all and per client address: one client cannot take every socket
 * the process may hold. Node closes connections over maxConnections itself ('drop').
 */
function limitConnections(server: import('node:net').Server, max: number, perClient: number, metrics: IndexerMetrics): void {
  server.maxConnections = max;
  server.on('drop', () => metrics.connectionsRefused.inc({ reason: 'max_connections' }));
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const n = (open.get(address) ?? 0) + 1;
    if (n > perClient) {
      metrics.connectionsRefused.inc({ reason: 'max_connections_per_client' });
      socket.destroy();
      return;
    }
    open.set(address, n);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/**
 * A connection must deliver each request's headers within `ms` of opening (or of the previous
 * answer, when kept alive), or it is closed. Node's own headersTimeout misses connections that
 * never send a byte, and stopped judging new connections after requests on others were cut off
 * mid-body (seen on Node 20), so this guard does not rely on it. Under TLS the clock starts
 * after the handshake (which has its own timeout).
 */
function boundFirstRequest(server: import('node:net').Server, tls: boolean, ms: number, metrics: IndexerMetrics): void {
  const waiting = new WeakMap<Socket, NodeJS.Timeout>();
  const arm = (socket: Socket) => {
    if (socket.destroyed) return;
    const timer = setTimeout(() => {
      metrics.slowClients.inc({ reason: 'headers_timeout' });
      socket.destroy();
    }, ms);
    timer.unref();
    waiting.set(socket, timer);
  };
  const disarm = (socket: Socket) => {
    clearTimeout(waiting.get(socket));
    waiting.delete(socket);
  };
  server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    arm(socket);
    socket.once('close', () => disarm(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    disarm(req.socket);
    res.once('finish', () => arm(req.socket));
  });
}
