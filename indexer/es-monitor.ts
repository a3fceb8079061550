// Knows whether Elasticsearch can take writes: the cluster answers (and is not red) and the
// templates of the current schema version are installed (installing them first when allowed).
// Checked on a timer, faster while unavailable; the bulk writer reports connection failures
// so ingest answers 503 at once instead of waiting for the next check.
//
// The writer also reports an index Elasticsearch would not create (404 index_not_found:
// action.auto_create_index forbids it). The cluster answers and the templates are there, so
// only a check of that very index clears it: the index exists now, or the setting allows it.
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

/** The effective action.auto_create_index, from GET _cluster/settings?include_defaults. */
interface AutoCreateSettings {
  transient?: { action?: { auto_create_index?: unknown } };
  persistent?: { action?: { auto_create_index?: unknown } };
  defaults?: { action?: { auto_create_index?: unknown } };
}

/**
 * Whether action.auto_create_index lets `index` be created: true/false, or comma-separated
 * patterns with `*` wildcards, each allowing (+, the default) or forbidding (-); the first
 * pattern that matches decides, and when none matches creation is forbidden.
 */
export function autoCreateAllows(setting: unknown, index: string): boolean {
  const value = String(setting ?? 'true').trim();
  if (value === 'true') return true;
  if (value === 'false' || value === '') return false;
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    const allow = !entry.startsWith('-');
    const pattern = entry.replace(/^[+-]/, '');
    const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.?+^$|()[\]{}\\]/g, '\\$&')).join('.*')}$`);
    if (re.test(index)) return allow;
  }
  return false;
}

export class ElasticsearchMonitor {
  private state: Readiness = { ready: false, reachable: false, reason: 'Elasticsearch has not been checked yet' };
  /** An index the writer found Elasticsearch would not create, and why. */
  private missing: { index: string; reason: string } | null = null;
  private installed = false;
  private timer: NodeJS.Timeout | null = null;
  private probing: Promise<Readiness> | null = null;
  private stopped = false;
  /** Ends a health check still waiting for Elasticsearch when the indexer stops. */
  private readonly probes = new AbortController();

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

  /**
   * Elasticsearch would not write to an index that does not exist (auto-create forbidden, or
   * the bulk endpoint itself not found): not ready, with `reason` (which says what to run).
   */
  markIndexMissing(index: string | null, reason: string): void {
    if (this.stopped) return;
    if (index) this.missing = { index, reason };
    this.set({ ready: false, reachable: true, reason });
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.probes.abort();
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
      const health = await this.client.cluster.health({ timeout: '5s' }, { requestTimeout: 10_000, maxRetries: 0, signal: this.probes.signal });
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
        this.log.info({ installed: res.installed.length, ilm: res.capabilities.ilm, index_mode: res.indexMode }, 'indexer: templates installed');
      }
      const problem = (await checkTemplates(this.client)) ?? (await this.stillMissing());
      return this.set({ ready: problem === null, reachable: true, reason: problem });
    } catch (err) {
      return this.set({ ready: false, reachable: true, reason: `checking the templates failed: ${(err as Error).message}` });
    }
  }

  /** The reason the index found missing still cannot be written, or null once it can. */
  private async stillMissing(): Promise<string | null> {
    const m = this.missing;
    if (!m) return null;
    const exists = await this.client.indices.exists({ index: m.index });
    const s = (exists ? {} : await this.client.cluster.getSettings({ include_defaults: true, filter_path: '**.auto_create_index' })) as AutoCreateSettings;
    const setting = s.transient?.action?.auto_create_index ?? s.persistent?.action?.auto_create_index ?? s.defaults?.action?.auto_create_index;
    if (exists || autoCreateAllows(setting, m.index)) {
      if (this.missing === m) this.missing = null;
      this.log.info({ index: m.index }, 'indexer: Elasticsearch may create the missing index now');
      return null;
    }
    return m.reason;
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
