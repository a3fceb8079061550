// One request to Kibana over http or https. Node's global fetch cannot be given a CA without
// undici's dispatcher (not a dependency), so this is node:http(s), which takes `ca` directly.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ConfigError, ProcflowError } from '../common/errors.js';

export interface KibanaResponse {
  status: number;
  text: string;
}

export interface KibanaRequest {
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: Buffer;
  timeoutMs: number;
  /** PEM CA bundle for an https Kibana; the system's CAs when absent. */
  ca?: Buffer;
}

/** Which setting the CA came from, so errors name the flag to fix. */
export interface KibanaCa {
  pem: Buffer;
  flag: '--kibana-ca-file' | '--es-ca-file';
}

/** --kibana-ca-file, else --es-ca-file (Kibana and Elasticsearch certificates usually share a CA). */
export function readKibanaCa(c: { kibana_ca_file?: string; es_ca_file?: string }): KibanaCa | undefined {
  const [path, flag] = c.kibana_ca_file ? [c.kibana_ca_file, '--kibana-ca-file' as const] : c.es_ca_file ? [c.es_ca_file, '--es-ca-file' as const] : [];
  if (!path || !flag) return undefined;
  try {
    return { pem: readFileSync(path), flag };
  } catch (err) {
    const env = flag === '--kibana-ca-file' ? 'PROCFLOW_KIBANA_CA_FILE' : 'PROCFLOW_ES_CA_FILE';
    throw new ConfigError(
      `cannot read ${flag} ${path} (the CA for Kibana): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      `give the PEM file of the CA that signed the Kibana certificate (${flag} / ${env})`,
    );
  }
}

/** The TLS handshake failed on the certificate: retrying cannot help, a CA (or another URL) can. */
export function isCertificateError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code);
}

export function kibanaTlsError(base: string, err: Error, ca: KibanaCa | undefined): ProcflowError {
  const altname = (err as NodeJS.ErrnoException).code === 'ERR_TLS_CERT_ALTNAME_INVALID';
  const hint = altname
    ? 'the certificate does not name this host: use a --kibana-url whose host name the certificate carries'
    : ca
      ? `the CA from ${ca.flag} did not sign it: pass --kibana-ca-file (PROCFLOW_KIBANA_CA_FILE) with the PEM file of the CA that signed the Kibana certificate`
      : 'pass --kibana-ca-file (PROCFLOW_KIBANA_CA_FILE) with the PEM file of the CA that signed the Kibana certificate (when unset, --es-ca-file is used)';
  return new ProcflowError('KIBANA_TLS', `kibana: ${base} presented a certificate this host does not trust: ${err.message}`, hint, { cause: err });
}

/** Sends one request and reads the whole answer; network errors reject as they came. */
export function kibanaRequest(url: string, r: KibanaRequest): Promise<KibanaResponse> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers = r.body ? { ...r.headers, 'content-length': String(r.body.length) } : r.headers;
  return new Promise((resolve, reject) => {
    const req = send(target, { method: r.method ?? 'GET', headers, timeout: r.timeoutMs, ...(r.ca && target.protocol === 'https:' ? { ca: r.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${r.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(r.body);
  });
}
