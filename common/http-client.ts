// Outgoing HTTP(S) requests that need a private CA (Kibana, the Kubernetes API server). Node's
// global fetch cannot be given a CA without undici's dispatcher (not a dependency), so this is
// node:http(s), which takes `ca` directly.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Socket idle time after which the request fails with code ETIMEDOUT. */
  timeoutMs: number;
  /** PEM CA bundle for https; the system's CAs when absent. */
  ca?: Buffer;
  signal?: AbortSignal;
}

/** Sends the request; resolves with the response once its headers arrive (the body unread). */
export function openRequest(url: string | URL, o: HttpRequestOptions): Promise<IncomingMessage> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const https = target.protocol === 'https:';
  const body = typeof o.body === 'string' ? Buffer.from(o.body) : o.body;
  const headers = body ? { ...o.headers, 'content-length': String(body.length) } : o.headers;
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(target, { method: o.method ?? 'GET', headers, timeout: o.timeoutMs, signal: o.signal, ...(https && o.ca ? { ca: o.ca } : {}) }, resolve);
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
