// The indexer's settings: one table that is at once the CLI flags, the PROCFLOW_* environment
// variables and the options `startIndexer` takes (with defaults applied in one place).
import { defaultsOf, flagOf, type SettingsOf, type SettingsTable } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import { ES_SETTINGS } from '../common/elasticsearch.js';

export const INDEXER_SETTINGS = {
  ...ES_SETTINGS,
  listen: { doc: 'HOST:PORT the ingest API listens on (port 0 picks a free one)', format: 'host-port', default: '127.0.0.1:8080' },
  token: { doc: 'bearer token agents must send (Authorization: Bearer TOKEN); this or --token-file (or a client CA) is required', format: String, default: '', sensitive: true },
  token_file: { doc: 'file of valid bearer tokens, one a line (# comments); re-read when it changes, so tokens rotate without a restart', format: String, default: '' },
  tls_cert_file: { doc: 'PEM certificate (chain) of the https listener; re-read when it changes', format: String, default: '' },
  tls_key_file: { doc: 'PEM private key of --tls-cert-file', format: String, default: '' },
  tls_client_ca_file: { doc: 'PEM CA bundle: clients must present a certificate it signed (mTLS)', format: String, default: '' },
  auth_failures_per_minute: { doc: 'failed authentications one client address may make per minute; beyond, it is answered 429 without a check', format: 'nat', min: 1, default: 10 },
  max_connections: { doc: 'open connections at once; more are closed on arrival', format: 'nat', min: 1, default: 1024 },
  max_connections_per_client: { doc: 'open connections at once from one client address', format: 'nat', min: 1, default: 128 },
  headers_timeout: { doc: 'longest time a client may take to send the request headers', format: 'duration', min: 1, default: 10_000 },
  body_timeout: { doc: 'longest time a client may take to send a whole request body', format: 'duration', min: 1, default: 60_000 },
  min_body_rate: { doc: 'slowest body upload accepted (bytes per second, judged after the first 5 s); slower senders are cut off with 408', format: 'size', default: 16 * 1024 },
  max_document_size: { doc: 'largest single document (one NDJSON line), checked while the body is read', format: 'size', min: 1, default: 1024 * 1024 },
  max_nesting_depth: { doc: 'deepest nesting of objects and arrays in a document, checked before it is parsed', format: 'nat', min: 1, default: 32 },
  max_future_skew: { doc: 'documents stamped further than this ahead of the indexer\'s clock are dead-lettered (no index is made for their day)', format: 'duration', default: 5 * 60_000 },
  install_templates: { doc: 'install the index templates when Elasticsearch answers (as procflow setup does)', format: Boolean, default: true },
  retention_days: { doc: 'days to keep indices (ILM, where the cluster has it); older documents are dead-lettered, not indexed', format: 'nat', min: 1, default: 7 },
  max_body_size: { doc: 'largest request body, counted both as sent and after decompression (gzip or zstd)', format: 'size', min: 1, default: 16 * 1024 * 1024 },
  max_batch_docs: { doc: 'most documents one request may carry', format: 'nat', min: 1, default: 50_000 },
  max_in_flight_requests: { doc: 'ingest requests processed at once; more get 503 with Retry-After', format: 'nat', min: 1, default: 32 },
  max_in_flight_bytes: { doc: 'decompressed body bytes held at once across requests; more get 503 with Retry-After', format: 'size', min: 1, default: 64 * 1024 * 1024 },
  bulk_concurrency: { doc: 'Elasticsearch bulk requests in flight at once, across all ingest requests', format: 'nat', min: 1, default: 4 },
  bulk_flush_bytes: { doc: 'a batch is split into bulk requests of about this many bytes', format: 'size', min: 1, default: 5 * 1024 * 1024 },
  bulk_max_retries: { doc: 'retries of a bulk request (or its 429/5xx items) before the agent gets 503', format: 'nat', default: 5 },
  retry_backoff: { doc: 'first retry delay; doubles each retry, randomised (jitter)', format: 'duration', default: 200 },
  retry_max_backoff: { doc: 'longest retry delay', format: 'duration', default: 5_000 },
  retry_after: { doc: 'Retry-After sent to agents while Elasticsearch is unavailable', format: 'duration', default: 5_000 },
  health_interval: { doc: 'how often Elasticsearch and the templates are checked (every second while unavailable)', format: 'duration', default: 10_000 },
  shutdown_timeout: { doc: 'longest wait for in-flight batches on SIGTERM/SIGINT', format: 'duration', default: 30_000 },
} satisfies SettingsTable;

/** The indexer's options: derived from the table, one property per setting. */
export type IndexerOptions = SettingsOf<typeof INDEXER_SETTINGS> & {
  /** Probe interval while Elasticsearch is unavailable or templates are missing (tests shorten it). */
  unavailable_probe_interval?: number;
};

/** Defaults for every option, so callers (tests, the benchmark) pass only what they change. */
export function withDefaults(partial: Partial<IndexerOptions> & Pick<IndexerOptions, 'es_url'>): IndexerOptions {
  return { ...defaultsOf(INDEXER_SETTINGS), ...partial };
}

/**
 * Cross-setting checks a single setting's format cannot express: settings under which every batch (or every
 * batch above some size) would be answered 503 or 413 forever, or ILM would delete new indices.
 */
export function checkIndexerOptions(o: IndexerOptions): void {
  const f = flagOf;
  if (o.max_in_flight_bytes < o.max_body_size) {
    throw new ConfigError(
      `${f('max_in_flight_bytes')} (${o.max_in_flight_bytes} bytes) is smaller than ${f('max_body_size')} (${o.max_body_size} bytes): a batch between the two could never be admitted`,
      `raise ${f('max_in_flight_bytes')} or lower ${f('max_body_size')}`,
    );
  }
  if (!o.token && !o.token_file && !o.tls_client_ca_file) {
    throw new ConfigError('the indexer needs a way to authenticate agents', `set ${f('token_file')} (one token a line, rotates without a restart), PROCFLOW_TOKEN, or ${f('tls_client_ca_file')} for client certificates`);
  }
  if (Boolean(o.tls_cert_file) !== Boolean(o.tls_key_file)) {
    throw new ConfigError(`${f('tls_cert_file')} and ${f('tls_key_file')} go together`, 'give both (the https listener\'s certificate and its key) or neither');
  }
  if (o.tls_client_ca_file && !o.tls_cert_file) {
    throw new ConfigError(`${f('tls_client_ca_file')} needs an https listener`, `give ${f('tls_cert_file')} and ${f('tls_key_file')} too`);
  }
  for (const key of ['max_in_flight_requests', 'max_batch_docs', 'retention_days'] as const) {
    if (!(o[key] >= 1)) throw new ConfigError(`${f(key)} must be at least 1, got ${o[key]}`, `${f(key)} ${INDEXER_SETTINGS[key].default} is the default`);
  }
}

/** HOST:PORT (IPv6 in brackets) split for net.Server.listen. */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(i + 1)) };
}
