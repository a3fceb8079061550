// Outgoing HTTP(S) requests that need a private CA or a client certificate (Kibana, the
// Kubernetes API server, the agent's shipper), or a Unix socket (`procflow events`). Node's
// global fetch can do none of that without undici's dispatcher (not a dependency), so this is
// node:http(s), which takes them directly.
import { request as httpRequest, type Agent, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Socket idle time after which the request fails with code ETIMEDOUT. */
  timeoutMs: number;
  /** PEM CA bundle for https; the system's CAs when absent. */
  ca?: Buffer;
  /** PEM client certificate and its key, for servers that ask for one (mTLS). */
  cert?: Buffer;
  key?: Buffer;
  /** Connection pool to use (keep-alive); an https.Agent brings its own TLS material. */
  agent?: Agent;
  /** Connect to this Unix socket instead of the URL's host (the URL still gives the path). */
  socketPath?: string;
  signal?: AbortSignal;
}

/** Sends the request; resolves with the response once its headers arrive (the body unread). */
export function openRequest(url: string | URL, o: HttpRequestOptions): Promise<IncomingMessage> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const https = target.protocol === 'https:';
  const body = typeof o.body === 'string' ? Buffer.from(o.body) : o.body;
  const headers = body ? { ...o.headers, 'content-length': String(body.length) } : o.headers;
  const tls = https ? { ...(o.ca ? { ca: o.ca } : {}), ...(o.cert ? { cert: o.cert, key: o.key } : {}) } : {};
  const via = { ...(o.agent ? { agent: o.agent } : {}), ...(o.socketPath ? { socketPath: o.socketPath } : {}) };
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(target, { method: o.method ?? 'GET', headers, timeout: o.timeoutMs, signal: o.signal, ...tls, ...via }, resolve);
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from ${target.origin} within ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/** The whole body of a response, as UTF-8 text. */
export function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    // A connection cut mid-body does not always emit 'error'; without this the caller would wait for ever.
    res.on('close', () => {
      if (!res.complete) reject(Object.assign(new Error('the connection closed before the whole answer arrived'), { code: 'ECONNRESET' }));
    });
  });
}

/** One request, answered with its status and whole body; network errors reject as they came. */
export async function requestText(url: string | URL, o: HttpRequestOptions): Promise<{ status: number; text: string }> {
  const res = await openRequest(url, o);
  return { status: res.statusCode ?? 0, text: await readBody(res) };
}

/** The TLS handshake failed on the certificate: retrying cannot help, a CA (or another URL) can. */
export function isCertificateError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code);
}
