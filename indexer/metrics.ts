// Prometheus metrics on the indexer's own registry (several indexers can live in one process,
// as they do in the tests). Every document that is not indexed as sent is counted somewhere.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type IndexerMetrics = ReturnType<typeof createIndexerMetrics>;

export function createIndexerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'procflow_indexer_' });
  const p = 'procflow_indexer_';
  const registers = [registry];
  return {
    registry,
    requests: new Counter({ name: `${p}requests_total`, help: 'HTTP requests by route and status', labelNames: ['route', 'status'] as const, registers }),
    accepted: new Counter({ name: `${p}documents_accepted_total`, help: 'documents Elasticsearch indexed', labelNames: ['kind'] as const, registers }),
    rejected: new Counter({
      name: `${p}documents_rejected_total`,
      help: 'batches refused with 4xx, by the reason (invalid_json, schema, too_large, ...); counted once per refused batch',
      labelNames: ['kind', 'reason'] as const,
      registers,
    }),
    retried: new Counter({ name: `${p}documents_retried_total`, help: 'documents sent to Elasticsearch again after a 429/5xx or a failed bulk request', labelNames: ['kind'] as const, registers }),
    bulkSplits: new Counter({ name: `${p}bulk_splits_total`, help: 'bulk requests written in halves because Elasticsearch answered 413 (larger than its http.max_content_length)', registers }),
    conflicts: new Counter({ name: `${p}documents_conflicting_total`, help: 'documents whose id was taken by a stored document with different content (dead-lettered, the stored one kept)', registers }),
    duplicates: new Counter({ name: `${p}documents_duplicate_total`, help: 'identical repeats of a document within one batch, dropped', labelNames: ['kind'] as const, registers }),
    outOfRange: new Counter({ name: `${p}documents_out_of_range_total`, help: 'documents older than the retention or ahead of the clock, dead-lettered without making an index for their day', labelNames: ['kind'] as const, registers }),
    authFailures: new Counter({ name: `${p}auth_failures_total`, help: 'ingest requests with a missing or wrong token, and those refused because their address failed too often (throttled)', labelNames: ['outcome'] as const, registers }),
    connectionsRefused: new Counter({ name: `${p}connections_refused_total`, help: 'connections closed on arrival: over --max-connections or --max-connections-per-client', labelNames: ['reason'] as const, registers }),
    slowClients: new Counter({ name: `${p}slow_clients_total`, help: 'requests cut off for sending their headers or body too slowly', labelNames: ['reason'] as const, registers }),
    tlsClients: new Counter({ name: `${p}tls_client_requests_total`, help: 'ingest requests by the verified client certificate\'s subject (mTLS)', labelNames: ['client'] as const, registers }),
    deadLettered: new Counter({ name: `${p}documents_dead_lettered_total`, help: 'documents Elasticsearch refused, written to the dead-letter index', labelNames: ['kind'] as const, registers }),
    unavailable: new Counter({
      name: `${p}unavailable_total`,
      help: 'ingest requests answered 503 (batch not taken; the agent retries), by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    bulkLatency: new Histogram({
      name: `${p}bulk_duration_seconds`,
      help: 'Elasticsearch _bulk request latency',
      labelNames: ['outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    inFlightRequests: new Gauge({ name: `${p}in_flight_requests`, help: 'ingest requests being processed', registers }),
    inFlightBytes: new Gauge({ name: `${p}in_flight_bytes`, help: 'decompressed batch bytes held in memory', registers }),
    esUp: new Gauge({ name: `${p}elasticsearch_up`, help: '1 when Elasticsearch answered the last check', registers }),
    ready: new Gauge({ name: `${p}ready`, help: '1 when Elasticsearch answers and the current templates are installed', registers }),
  };
}
