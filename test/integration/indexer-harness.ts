// Shared by the indexer integration suites: sample documents, a plain HTTP client that reads
// the answer even when the server closes early, and a small real HTTP proxy in front of the
// real Elasticsearch that a test can cut, restore, slow down or make answer 429.
import { request, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { createLogger } from '../../common/log.js';
import { startIndexer, withDefaults, type Indexer, type IndexerOptions } from '../../indexer/index.js';
import type { Client } from '@elastic/elasticsearch';
import { dailyIndex, type FlowLog, type ProcessEventDoc } from '../../schema/index.js';
import { sampleFlowLog } from '../support/documents.js';
import { after, before, type TestContext } from 'node:test';
import { getTestCluster, type TestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';

/** A day no one else writes to, so suites sharing a cluster never see each other's indices. */
export function privateDay(): Date {
  const day = 1 + Math.floor(Math.random() * 9000);
  return new Date(Date.UTC(2001, 0, 1) + day * 86_400_000);
}

export function sampleFlow(day: Date, n: number, overrides: Record<string, unknown> = {}): FlowLog {
  // n milliseconds into the day's second hour: unique per n, and always on `day`.
  const end = new Date(day.getTime() + 3_600_000 + n).toISOString();
  const start = new Date(day.getTime() + 3_600_000 + n - 15_000).toISOString();
  return sampleFlowLog({
    '@timestamp': end,
    start_time: start,
    end_time: end,
    source_ip: '10.1.2.3',
    source_port: 40_000 + (n % 20_000),
    dest_ip: n % 2 ? '2001:db8::1' : '93.184.216.34',
    bytes_in: 1000 + n,
    bytes_out: 200 + n,
    packets_in: 10,
    packets_out: 5,
    num_flows_completed: 0,
    process_id: String(1000 + n),
    process_args: ['-s', 'https://example.com/'],
    ...(overrides as Partial<FlowLog>),
  });
}

export function sampleProcessEvent(day: Date, n: number, type: 'process_exec' | 'process_exit'): ProcessEventDoc {
  const time = new Date(day.getTime() + 7_200_000 + n).toISOString();
  const process = { exec_id: `bm9kZS1hOjEyMzQ1Ng-${n}`, pid: 4000 + n, binary: '/usr/bin/whoami', arguments: '', uid: 0, cwd: '/root', flags: 'execve' };
  const body = type === 'process_exec' ? { process_exec: { process } } : { process_exit: { process, status: 0, time } };
  return { '@timestamp': time, event_type: type, node_name: 'node-a', time, ...body } as ProcessEventDoc;
}

export const ndjson = (docs: readonly unknown[]): string => docs.map((d) => JSON.stringify(d)).join('\n') + '\n';

export interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  text: string;
  json: Record<string, unknown>;
}

export interface PostOptions {
  token?: string | null;
  gzip?: boolean;
  headers?: Record<string, string>;
  /** Send the body in chunks without Content-Length. */
  chunked?: boolean;
  /** For https: the CA to trust and an optional client certificate. */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
}

/** POST with node:http; resolves with the answer even if the server stops reading the body. */
export function post(baseUrl: string, path: string, body: Buffer | string, opts: PostOptions = {}): Promise<Answer> {
  const raw = typeof body === 'string' ? Buffer.from(body) : body;
  const payload = opts.gzip ? gzipSync(raw) : raw;
  const headers: Record<string, string> = { 'content-type': 'application/x-ndjson', ...opts.headers };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? TOKEN}`;
  if (opts.gzip) headers['content-encoding'] = 'gzip';
  if (!opts.chunked) headers['content-length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const send = baseUrl.startsWith('https:') ? httpsRequest : request;
    const req = send(`${baseUrl}${path}`, { method: 'POST', headers, agent: false, ...opts.tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    // The server may answer (413, 401) and close before the whole body is written.
    req.on('error', (err) => setTimeout(() => reject(err), 500));
    if (opts.chunked) {
      let at = 0;
      const step = 64 * 1024;
      const pump = () => {
        while (at < payload.length) {
          const ok = req.write(payload.subarray(at, at + step));
          at += step;
          if (!ok) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    } else {
      req.end(payload);
    }
  });
}

/** GET; with `token`, as an agent would (readyz then says why it is not ready). */
export async function get(baseUrl: string, path: string, opts: { token?: string } = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`${baseUrl}${path}`, opts.token ? { headers: { authorization: `Bearer ${opts.token}` } } : {});
  return { status: res.status, text: await res.text(), headers: res.headers };
}

export const TOKEN = 'test-token-1f6c';

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What the proxy does with the next _bulk requests. */
export type BulkFault =
  /** answer HTTP 429 for the whole request */
  | 'reject-429'
  /** answer HTTP 403 for the whole request (the user may not write there) */
  | 'reject-403'
  /** answer 200 with every item 429 (Elasticsearch's write queue full) */
  | 'items-429'
  /** drop the connection and stop listening: Elasticsearch went down mid-batch */
  | 'die'
  /** forward with a broken first action line, so Elasticsearch itself refuses the request (400) */
  | 'malformed';

export interface EsProxy {
  url: string;
  /** _bulk requests seen (forwarded or not). */
  bulkCalls: number;
  /** The next `count` _bulk requests get `fault`. */
  fault(fault: BulkFault, count: number): void;
  clearFaults(): void;
  /** Rewrite the JSON answers to requests whose path matches (null to stop). */
  rewrite(path: RegExp | null, change?: (body: Record<string, unknown>) => unknown): void;
  /** Answer every request with this status and a security_exception, as a secured cluster does to bad credentials (0 to stop). */
  denyAll(status: 401 | 403 | 0): void;
  /** Refuse, as Elasticsearch 8 does, any request that asks for 9.x REST compatibility. */
  onlyMajor8(on: boolean): void;
  /** Answer requests whose path matches with this status and a security_exception (null to stop); 400 stands for a request the cluster refuses. */
  denyPath(path: RegExp | null, status?: 400 | 401 | 403): void;
  /** Delay every forwarded _bulk request by `ms` (0 to stop). */
  delayBulk(ms: number): void;
  /** Answer 413 (empty body, as Elasticsearch does above http.max_content_length) to _bulk bodies over `bytes` (0 to stop). */
  limitBulkBytes(bytes: number): void;
  /** _bulk requests answered 413 by limitBulkBytes. */
  bulkTooLarge: number;
  /** Stop listening and drop every connection: connection refused from now on. */
  cut(): Promise<void>;
  /** Listen again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

function countBulkItems(body: Buffer): number {
  let lines = 0;
  for (const line of body.toString().split('\n')) if (line.trim()) lines++;
  return lines / 2;
}

export async function startEsProxy(target: string): Promise<EsProxy> {
  const to = new URL(target);
  /** The body is forwarded whole (it may have been changed): its length, not the client's framing. */
  const forwardHeaders = (req: IncomingMessage, body: Buffer) => {
    const { 'transfer-encoding': _te, 'content-length': _len, ...headers } = req.headers;
    return { ...headers, host: to.host, ...(body.length || req.method === 'POST' || req.method === 'PUT' ? { 'content-length': String(body.length) } : {}) };
  };
  const sockets = new Set<Socket>();
  const faults: BulkFault[] = [];
  let delay = 0;
  let maxBulkBytes = 0;
  let denying = 0;
  let major8 = false;
  let denyingPath: { path: RegExp; status: number } | null = null;
  let rewriting: { path: RegExp; change: (body: Record<string, unknown>) => unknown } | null = null;
  let server: Server;
  let port = 0;

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const up = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: forwardHeaders(req, body), agent: false },
      (upRes) => {
        const rw = rewriting;
        if (!rw || !rw.path.test(req.url ?? '')) {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          return void upRes.pipe(res);
        }
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          const text = JSON.stringify(rw.change(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>));
          const { 'content-length': _len, 'transfer-encoding': _te, ...headers } = upRes.headers;
          res.writeHead(upRes.statusCode ?? 502, { ...headers, 'content-length': Buffer.byteLength(text) });
          res.end(text);
        });
      },
    );
    up.on('error', () => res.destroy());
    up.end(body);
  };

  const deny = (res: ServerResponse, status: number) => {
    const reason = status === 401 ? 'unable to authenticate user [procflow] for REST request [/_bulk]' : 'action [indices:data/write/bulk[s]] is unauthorized for user [procflow]';
    res.writeHead(status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
    res.end(JSON.stringify({ error: { type: 'security_exception', reason }, status }));
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (denying) return deny(res, denying);
      if (major8 && /compatible-with=9/.test(`${req.headers.accept ?? ''} ${req.headers['content-type'] ?? ''}`)) {
        const cause = { type: 'status_exception', reason: `Accept version must be either version 8 or 7, but found 9. Accept=${req.headers.accept}` };
        res.writeHead(400, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
        return void res.end(JSON.stringify({ error: { type: 'media_type_header_exception', reason: 'Invalid media-type value on headers [Accept, Content-Type]', caused_by: cause }, status: 400 }));
      }
      if (denyingPath && denyingPath.path.test(req.url ?? '')) return deny(res, denyingPath.status);
      if (!/^\/_bulk(\?|$)/.test(req.url ?? '')) return forward(req, res, body);
      proxy.bulkCalls++;
      if (maxBulkBytes && body.length > maxBulkBytes) {
        proxy.bulkTooLarge++;
        res.writeHead(413, { 'content-length': '0', connection: 'close' });
        return void res.end();
      }
      const fault = faults.shift();
      if (fault === 'reject-429') {
        const text = JSON.stringify({ error: { type: 'es_rejected_execution_exception', reason: 'rejected execution (test proxy)' }, status: 429 });
        res.writeHead(429, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
        return res.end(text);
      }
      if (fault === 'reject-403') return deny(res, 403);
      if (fault === 'items-429') {
        const items = Array.from({ length: countBulkItems(body) }, () => ({
          index: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution (test proxy)' } },
        }));
        res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
        return res.end(JSON.stringify({ errors: true, items }));
      }
      if (fault === 'malformed') return forward(req, res, Buffer.concat([Buffer.from('"not an action"\n'), body]));
      if (fault === 'die') {
        req.socket.destroy();
        return void proxy.cut();
      }
      if (delay > 0) setTimeout(() => forward(req, res, body), delay);
      else forward(req, res, body);
    });
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer(handle);
      server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });

  let listening = false;
  const proxy: EsProxy = {
    url: '',
    bulkCalls: 0,
    fault: (f, count) => {
      for (let i = 0; i < count; i++) faults.push(f);
    },
    clearFaults: () => void (faults.length = 0),
    rewrite: (path, change) => void (rewriting = path && change ? { path, change } : null),
    denyAll: (status) => void (denying = status),
    onlyMajor8: (on) => void (major8 = on),
    denyPath: (path, status = 403) => void (denyingPath = path ? { path, status } : null),
    delayBulk: (ms) => void (delay = ms),
    limitBulkBytes: (bytes) => void (maxBulkBytes = bytes),
    bulkTooLarge: 0,
    cut: async () => {
      if (!listening) return;
      listening = false;
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    restore: async () => {
      if (listening) return;
      await listen();
      listening = true;
    },
    close: () => proxy.cut(),
  };
  await proxy.restore();
  proxy.url = `http://127.0.0.1:${port}`;
  return proxy;
}

/** An in-process indexer on 127.0.0.1:0 with short timers, logging nothing. */
export async function startTestIndexer(esUrl: string, overrides: Partial<IndexerOptions> = {}): Promise<Indexer> {
  const opts = withDefaults({
    es_url: esUrl,
    token: TOKEN,
    listen: '127.0.0.1:0',
    health_interval: 1000,
    unavailable_probe_interval: 200,
    retry_backoff: 20,
    retry_max_backoff: 200,
    retry_after: 2000,
    es_request_timeout: 20_000,
    // Tests write to private days between 2001 and 2026, which a real retention would refuse.
    retention_days: 36_500,
    ...overrides,
  });
  return startIndexer(opts, { log: createLogger('indexer-test', (process.env.PROCFLOW_TEST_LOG as never) ?? 'silent') });
}

/** Deletes the procflow indices of one day by name (clusters may refuse wildcard deletes). */
export async function deleteDayIndices(client: Client, day: Date): Promise<void> {
  const suffix = dailyIndex('flows', day.getTime()).slice(-10);
  const found = await client.indices.get({ index: `procflow-*-${suffix}`, ignore_unavailable: true, allow_no_indices: true }, { ignore: [404] });
  const names = Object.keys(found ?? {});
  if (names.length) await client.indices.delete({ index: names.join(',') });
}

/** Only the metric lines matching `pick`: keeps assertion messages readable. */
export const metricLines = (text: string, pick: RegExp): string => text.split('\n').filter((l) => pick.test(l)).join('\n');

export interface ClusterSuite {
  /** The cluster, once `before` ran (undefined when it could not start). */
  cluster(): TestCluster;
  /** False (after skipping, or failing under CI) when there is no cluster. */
  need(t: TestContext): boolean;
  /** Run after the suite, last added first, before the day's indices are deleted. */
  cleanup: Array<() => Promise<void>>;
}

/** Registers before/after hooks that share the test cluster and delete `day`'s indices. */
export function clusterSuite(day: Date): ClusterSuite {
  let cluster: TestCluster | undefined;
  let reason = '';
  const cleanup: Array<() => Promise<void>> = [];
  before(async () => {
    const res = await getTestCluster();
    if (res.cluster) cluster = res.cluster;
    else reason = res.reason;
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
    if (cluster) {
      await deleteDayIndices(cluster.client, day);
      await cluster.stop();
    }
  });
  return {
    cluster: () => cluster!,
    need: (t) => {
      if (!cluster) skipOrFail(t, reason);
      return cluster !== undefined;
    },
    cleanup,
  };
}
