// The shipper's connection to the indexer: node:http(s) with a keep-alive pool, because global
// fetch cannot be given a private CA or a client certificate. The CA bundle, the client
// certificate and the token are files that get renewed while the agent runs, so they are
// watched: a TLS change builds a new pool that every later request uses (requests already on
// the old pool finish there, then it is closed), a token change applies to the next request.
import { X509Certificate } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createSecureContext } from 'node:tls';
import { TokenFile } from '../../common/bearer-tokens.js';
import { ConfigError } from '../../common/errors.js';
import { openRequest, readBody } from '../../common/http-client.js';
import type { Logger } from '../../common/log.js';
import { watchFile, type WatchedFile } from '../../common/watched-file.js';
import type { BatchEncoding } from '../../common/batch-encoding.js';

/** The settings among these carry their names in agent/config.ts, and no defaults here ('' = not set). */
export interface IndexerClientOptions {
  indexer_url: string;
  /** Used when there is no token file. */
  token: string;
  token_file: string;
  /** PEM CA bundle of the indexer's certificate; empty = the system CAs. */
  indexer_ca_file: string;
  /** PEM client certificate and key (mTLS); both or neither. */
  indexer_cert_file: string;
  indexer_key_file: string;
  log: Logger;
  /** How often the files are checked for changes (ms). */
  watchIntervalMs?: number;
}

export interface IndexerAnswer {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

type Material = { ca?: Buffer; cert?: Buffer; key?: Buffer };

const TLS_FILES = [
  ['ca', 'indexer_ca_file', 'indexer CA bundle', '--indexer-ca-file'],
  ['cert', 'indexer_cert_file', 'indexer client certificate', '--indexer-cert-file'],
  ['key', 'indexer_key_file', 'indexer client key', '--indexer-key-file'],
] as const;

/** The TLS files that cannot work with this URL (checked before anything starts); throws ConfigError. */
export function checkTlsSettings(o: Pick<IndexerClientOptions, 'indexer_url' | 'indexer_ca_file' | 'indexer_cert_file' | 'indexer_key_file'>): void {
  const given = TLS_FILES.filter(([, opt]) => o[opt]).map(([, , , flag]) => flag);
  if (given.length && new URL(o.indexer_url).protocol !== 'https:') {
    throw new ConfigError(`${given.join(', ')} set, but --indexer-url ${o.indexer_url} is not https://`,
      'use the https:// URL of an indexer started with --tls-cert-file and --tls-key-file, or drop the TLS files');
  }
  if (!o.indexer_cert_file !== !o.indexer_key_file) {
    throw new ConfigError('--indexer-cert-file and --indexer-key-file go together: one is set without the other',
      'pass both (PROCFLOW_INDEXER_CERT_FILE, PROCFLOW_INDEXER_KEY_FILE), or neither when the indexer asks for no client certificate');
  }
}

/** Throws when the material cannot make a TLS context: bad PEM, a key that is not the certificate's. */
function checkMaterial(m: Material): void {
  if (m.ca) {
    const pems = m.ca.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    // createSecureContext ignores a CA file that holds no certificate; that would silently mean "trust nothing".
    if (pems.length === 0) throw new Error('the CA bundle holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
    for (const pem of pems) new X509Certificate(pem);
  }
  createSecureContext(m);
}

export class IndexerClient {
  private readonly https: boolean;
  private readonly material: Material = {};
  private readonly watched: WatchedFile[] = [];
  private readonly tokenFile: TokenFile | undefined;
  private pool: HttpAgent;
  /** Requests in flight per pool, so a replaced pool is closed once its last request is done. */
  private readonly inUse = new Map<HttpAgent, number>();

  constructor(private readonly o: IndexerClientOptions) {
    checkTlsSettings(o);
    this.https = new URL(o.indexer_url).protocol === 'https:';
    const given = TLS_FILES.filter(([, opt]) => o[opt]);
    let started = false;
    try {
      for (const [field, opt, what, flag] of given) {
        this.watched.push(watchFile(o[opt]!, {
          what, flag, intervalMs: o.watchIntervalMs,
          onChange: (contents) => {
            this.material[field] = contents;
            if (started) this.renew();
          },
          onError: (err) => o.log.error({ file: o[opt], err: err.message }, `shipper: the ${what} changed but cannot be read; connections keep the previous one`),
        }));
      }
      try {
        this.pool = this.newPool();
      } catch (err) {
        throw new ConfigError(`shipper: the indexer TLS files cannot be used: ${(err as Error).message}`,
          'give PEM files: --indexer-ca-file the CA bundle, --indexer-cert-file a certificate and --indexer-key-file its own private key');
      }
      this.tokenFile = o.token_file ? new TokenFile(o.token_file, { what: 'token file', flag: '--token-file', log: o.log, intervalMs: o.watchIntervalMs }) : undefined;
    } catch (err) {
      this.close();
      throw err;
    }
    started = true;
  }

  /** The token the next request carries. */
  get token(): string {
    return this.tokenFile?.first ?? this.o.token;
  }

  /** POSTs a compressed NDJSON batch; resolves with the whole answer, rejects on network and TLS errors. */
  async post(url: URL, payload: Buffer, encoding: BatchEncoding, timeoutMs: number): Promise<IndexerAnswer> {
    const deadline = AbortSignal.timeout(timeoutMs);
    const headers = { 'content-type': 'application/x-ndjson', 'content-encoding': encoding, authorization: `Bearer ${this.token}` };
    const pool = this.pool;
    this.inUse.set(pool, (this.inUse.get(pool) ?? 0) + 1);
    try {
      const res = await openRequest(url, { method: 'POST', headers, body: payload, timeoutMs, signal: deadline, agent: pool });
      const retryAfter = res.headers['retry-after'];
      return { status: res.statusCode ?? 0, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, body: await readBody(res) };
    } catch (err) {
      if (!deadline.aborted) throw err;
      throw Object.assign(new Error(`no answer from ${url.origin} within ${timeoutMs} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
    } finally {
      const left = this.inUse.get(pool)! - 1;
      if (left > 0) this.inUse.set(pool, left);
      else {
        this.inUse.delete(pool);
        if (pool !== this.pool) pool.destroy();
      }
    }
  }

  /** Stops watching the files and closes every connection. */
  close(): void {
    for (const w of this.watched) w.stop();
    this.tokenFile?.stop();
    this.pool?.destroy();
    for (const p of this.inUse.keys()) p.destroy();
  }

  private newPool(): HttpAgent {
    if (!this.https) return new HttpAgent({ keepAlive: true });
    checkMaterial(this.material);
    return new HttpsAgent({ keepAlive: true, ...this.material });
  }

  /** A TLS file changed: later connections use the new material, once it is usable. */
  private renew(): void {
    let next: HttpAgent;
    try {
      next = this.newPool();
    } catch (err) {
      // A certificate renewed a moment before its key: the next change completes the pair.
      this.o.log.warn({ err: (err as Error).message }, 'shipper: the indexer TLS files changed but do not work together yet; connections keep the previous ones');
      return;
    }
    const old = this.pool;
    this.pool = next;
    if (!this.inUse.has(old)) old.destroy();
    this.o.log.info('shipper: the indexer TLS files changed; new connections use them');
  }
}
