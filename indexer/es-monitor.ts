// Knows whether Elasticsearch can take writes: the cluster answers (and is not red) and the
// templates of the current schema version are installed (installing them first when allowed).
// Checked on a timer, faster while unavailable; the bulk writer reports connection failures
// so ingest answers 503 at once instead of waiting for the next check.
import type { Client } from '@elastic/elasticsearch';
import type { Logger } from '../common/log.js';
import { checkTemplates, installTemplates } from '../schema/install.js';
import { isAuthStatus } from './es-errors.js';
import type { IndexerMetrics } from './metrics.js';

export interface MonitorOptions {
  url: string;
  installTemplates: boolean;
  retentionDays: number;
  /** Check interval while ready. */
  interval: number;
  /** Check interval while not ready. */
  downInterval: number;
}

export interface Readiness {
  ready: boolean;
  reachable: boolean;
  /** Why it is not ready; null when ready. */
  reason: string | null;
}

export class ElasticsearchMonitor {
  private state: Readiness = { ready: false, reachable: false, reason: 'Elasticsearch has not been checked yet' };
  private installed = false;
  private timer: NodeJS.Timeout | null = null;
  private probing: Promise<Readiness> | null = null;
  private stopped = false;

  constructor(
    private readonly client: Client,
    private readonly opts: MonitorOptions,
    private readonly metrics: IndexerMetrics,
    private readonly log: Logger,
  ) {}

  get readiness(): Readiness {
    return this.state;
  }

  /** First check now, then on the timer. */
  start(): Promise<Readiness> {
    return this.check();
  }

  /** Runs one check (joins a check already running) and reschedules the next. */
  check(): Promise<Readiness> {
    this.probing ??= this.probe().finally(() => {
      this.probing = null;
      this.schedule();
    });
    return this.probing;
  }

  /** The writer saw Elasticsearch fail: not ready until a check says otherwise. */
  markUnavailable(reason: string): void {
    if (this.stopped) return;
    this.set({ ready: false, reachable: false, reason });
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = this.state.ready ? this.opts.interval : this.opts.downInterval;
    this.timer = setTimeout(() => void this.check(), delay);
    this.timer.unref();
  }

  private async probe(): Promise<Readiness> {
    let status: string;
    try {
      const health = await this.client.cluster.health({ timeout: '5s' }, { requestTimeout: 10_000, maxRetries: 0 });
      status = health.status;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode ?? 0;
      if (isAuthStatus(status)) {
        return this.set({
          ready: false,
          reachable: true,
          reason: `Elasticsearch at ${this.opts.url} refused the indexer's credentials (HTTP ${status}: ${(err as Error).message}); check --es-username/--es-password or --es-api-key`,
        });
      }
      return this.set({ ready: false, reachable: false, reason: `Elasticsearch at ${this.opts.url} does not answer: ${(err as Error).message}` });
    }
    if (String(status).toLowerCase() === 'red') {
      return this.set({ ready: false, reachable: true, reason: 'Elasticsearch cluster health is red (primary shards unassigned)' });
    }
    try {
      if (this.opts.installTemplates && !this.installed) {
        const res = await installTemplates(this.client, { retentionDays: this.opts.retentionDays });
        this.installed = true;
        this.log.info({ installed: res.installed.length, ilm: res.capabilities.ilm }, 'indexer: templates installed');
      }
      const problem = await checkTemplates(this.client);
      return this.set({ ready: problem === null, reachable: true, reason: problem });
    } catch (err) {
      return this.set({ ready: false, reachable: true, reason: `checking the templates failed: ${(err as Error).message}` });
    }
  }

  private set(next: Readiness): Readiness {
    if (this.stopped) return this.state;
    const prev = this.state;
    this.state = next;
    this.metrics.esUp.set(next.reachable ? 1 : 0);
    this.metrics.ready.set(next.ready ? 1 : 0);
    if (next.ready && !prev.ready) this.log.info({ es: this.opts.url }, 'indexer: Elasticsearch ready');
    if (!next.ready && (prev.ready || prev.reason !== next.reason)) this.log.warn({ es: this.opts.url, reason: next.reason }, 'indexer: Elasticsearch not ready');
    return next;
  }
}
