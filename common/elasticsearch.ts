// Elasticsearch connection settings shared by every command that talks to the cluster, and
// the client built from them.
import { readFileSync } from 'node:fs';
import { Client, errors, type Serializer } from '@elastic/elasticsearch';
import { splitUrlList, type SettingsOf, type SettingsTable } from './config.js';
import { ConfigError, ProcflowError } from './errors.js';

export const ES_SETTINGS = {
  es_url: { doc: 'Elasticsearch URL; several nodes of one cluster comma separated (requests fail over between them)', format: 'url-list', default: 'http://127.0.0.1:9200' },
  es_username: { doc: 'Elasticsearch user (basic auth)', format: String, default: '' },
  es_password: { doc: 'Elasticsearch password (basic auth)', format: String, default: '', sensitive: true },
  es_api_key: { doc: 'Elasticsearch API key (base64), instead of user and password', format: String, default: '', sensitive: true },
  es_ca_file: { doc: 'PEM file of the CA that signed the cluster certificate', format: String, default: '' },
  es_cert_file: { doc: 'PEM client certificate presented to Elasticsearch (with --es-key-file)', format: String, default: '' },
  es_key_file: { doc: 'PEM private key of --es-cert-file', format: String, default: '' },
  es_request_timeout: { doc: 'timeout of one Elasticsearch request', format: 'duration', default: 30_000 },
} satisfies SettingsTable;

export type EsConnection = SettingsOf<typeof ES_SETTINGS>;

export function createEsClient(c: EsConnection, opts: { maxRetries?: number; Serializer?: typeof Serializer } = {}): Client {
  if (Boolean(c.es_cert_file) !== Boolean(c.es_key_file)) {
    throw new ConfigError('--es-cert-file and --es-key-file go together', 'give both (a client certificate and its key) or neither');
  }
  const tls = {
    ...(c.es_ca_file ? { ca: readPemFile(c.es_ca_file, '--es-ca-file', 'the PEM file of the CA that signed the Elasticsearch certificate') } : {}),
    ...(c.es_cert_file ? { cert: readPemFile(c.es_cert_file, '--es-cert-file', 'the PEM client certificate Elasticsearch trusts') } : {}),
    ...(c.es_key_file ? { key: readPemFile(c.es_key_file, '--es-key-file', 'the PEM private key of the client certificate') } : {}),
  };
  const nodes = splitUrlList(c.es_url);
  const auth = c.es_api_key
    ? { apiKey: c.es_api_key }
    : c.es_username
      ? { username: c.es_username, password: c.es_password }
      : undefined;
  return new Client({
    // Several URLs: the client spreads requests over them and moves off a node that fails.
    nodes,
    ...(auth ? { auth } : {}),
    ...(Object.keys(tls).length ? { tls } : {}),
    // Plain JSON instead of the client's "compatible-with=9" media types, which an 8.x cluster
    // refuses (400 media_type_header_exception); every major reads plain JSON as its own API.
    headers: { accept: 'application/json', 'content-type': 'application/json' },
    requestTimeout: c.es_request_timeout,
    maxRetries: opts.maxRetries ?? 0,
    compression: false,
    ...(opts.Serializer ? { Serializer: opts.Serializer } : {}),
  });
}

function readPemFile(path: string, flag: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`cannot read ${flag} ${path}: ${(err as Error).message}`, `give ${what} (${flag} / PROCFLOW_${flag.slice(2).toUpperCase().replaceAll('-', '_')})`);
  }
}

/** The TLS handshake failed on the certificate: retrying cannot help, the CA can. */
const isCertificateError = (err: unknown): boolean =>
  err instanceof errors.ConnectionError && /certificate|self[- ]signed|unable to verify|CERT_|altnames/i.test(err.message);

/** Polls the cluster until it answers, or throws an error that says what to check. */
export async function waitForCluster(client: Client, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await client.cluster.health({ wait_for_status: 'yellow', timeout: '5s' });
      return;
    } catch (err) {
      last = err;
      if (err instanceof errors.ResponseError && (err.statusCode === 401 || err.statusCode === 403)) break;
      if (isCertificateError(err)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  throw esUnreachable(url, last);
}

export function esUnreachable(url: string, cause: unknown): ProcflowError {
  const status = cause instanceof errors.ResponseError ? cause.statusCode : undefined;
  if (status === 401 || status === 403) {
    return new ProcflowError('ES_AUTH', `elasticsearch: ${url} refused the credentials (HTTP ${status})`, 'check --es-username/--es-password or --es-api-key', { cause });
  }
  if (isCertificateError(cause)) {
    return new ProcflowError(
      'ES_TLS',
      `elasticsearch: ${url} presented a certificate this host does not trust: ${(cause as Error).message}`,
      'pass --es-ca-file (PROCFLOW_ES_CA_FILE) with the PEM file of the CA that signed the cluster certificate',
      { cause },
    );
  }
  if (status === 400) {
    // The cluster answered: the query is wrong for the indices it found, most often indices
    // created without procflow's templates (a text process_name cannot be aggregated).
    return new ProcflowError(
      'ES_QUERY',
      `elasticsearch: ${url} refused the query: ${(cause as Error).message}`,
      'run procflow setup against this cluster, so new daily indices get procflow\'s mappings (indices written before keep theirs)',
      { cause },
    );
  }
  return new ProcflowError(
    'ES_UNREACHABLE',
    `elasticsearch: cannot reach ${url}: ${(cause as Error)?.message ?? 'no answer'}`,
    'start Elasticsearch (npm start runs a local one) or point --es-url / PROCFLOW_ES_URL at a running cluster',
    { cause },
  );
}
