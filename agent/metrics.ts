// The agent's Prometheus metrics. Counters that mirror cumulative stats kept elsewhere (the
// cache, the spool, the kernel) are brought up to date when scraped, so hot paths only bump
// plain numbers.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SpoolStats } from './delivery/spool.js';

type Read = () => number;
type ReadLabelled = () => Record<string, number>;

export class AgentMetrics {
  readonly registry = new Registry();
  readonly shipLatency: Histogram<'kind' | 'outcome'>;
  readonly shipFailures: Counter<'reason'>;
  readonly docsShipped: Counter<'kind'>;
  readonly processEvents: Counter<'kind'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'procflow_agent_' });
    this.shipLatency = new Histogram({
      name: 'procflow_agent_ship_latency_seconds',
      help: 'time from sending a batch to the indexer until its answer',
      labelNames: ['kind', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.shipFailures = new Counter({ name: 'procflow_agent_ship_failures_total', help: 'failed batch sends, by reason (http_503, ECONNREFUSED, timeout, http_400, ...)', labelNames: ['reason'], registers: [this.registry] });
    this.docsShipped = new Counter({ name: 'procflow_agent_docs_shipped_total', help: 'documents the indexer acknowledged', labelNames: ['kind'], registers: [this.registry] });
    this.processEvents = new Counter({ name: 'procflow_agent_process_events_total', help: 'process events received from the kernel, by kind (exec, fork, exit)', labelNames: ['kind'], registers: [this.registry] });
  }

  /** A counter whose value is read from a cumulative source at scrape time. */
  mirrorCounter(name: string, help: string, read: Read): void {
    let last = 0;
    new Counter({
      name, help, registers: [this.registry],
      collect() {
        const now = read();
        if (now > last) this.inc(now - last);
        last = now;
      },
    });
  }

  mirrorLabelledCounter(name: string, help: string, label: string, read: ReadLabelled): void {
    const last = new Map<string, number>();
    new Counter({
      name, help, labelNames: [label], registers: [this.registry],
      collect() {
        for (const [value, now] of Object.entries(read())) {
          const prev = last.get(value) ?? 0;
          if (now > prev) this.inc({ [label]: value }, now - prev);
          else if (prev === 0) this.inc({ [label]: value }, 0);
          last.set(value, now);
        }
      },
    });
  }

  /** What the shipping path set aside instead of sending: invalid documents, corrupt spool files. */
  mirrorSpoolRejects(stats: Pick<SpoolStats, 'invalidDocs' | 'corruptBatches' | 'corruptDocs'>): void {
    this.mirrorLabelledCounter('procflow_agent_documents_invalid_total', 'documents that failed validation against the contract before spooling (kept in the spool\'s dead-letter folder, never sent), by kind', 'kind', () => stats.invalidDocs);
    this.mirrorCounter('procflow_agent_spool_corrupt_batches_total', 'spooled batches that could not be read or decompressed (moved to the dead-letter folder, not retried)', () => stats.corruptBatches);
    this.mirrorCounter('procflow_agent_spool_corrupt_docs_total', 'documents in spooled batches that could not be read or decompressed', () => stats.corruptDocs);
  }

  /** One series per kernel hook: 1 attached (label via = its flavour), 0 not attached (via none). */
  kernelHooks(hooks: readonly { hook: string; via: string }[]): void {
    const g = new Gauge({ name: 'procflow_agent_kernel_hook_attached', help: 'kernel hooks by flavour: 1 attached, 0 not attached (via="none"; the agent logged the kernel\'s reason at start)', labelNames: ['hook', 'via'], registers: [this.registry] });
    for (const h of hooks) g.set({ hook: h.hook, via: h.via }, h.via === 'none' ? 0 : 1);
  }

  gauge(name: string, help: string, read: Read): void {
    new Gauge({ name, help, registers: [this.registry], collect() { this.set(read()); } });
  }
}
