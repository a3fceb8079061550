// Keeps a PodIndex in step with the API server: list (in pages), then watch from the list's
// resourceVersion; the watch is resumed where it ended, and a full relist happens only when the
// server says the version is too old (410 Gone) or the watch fails. Failures back off with
// jitter and never stop the agent: flows are still logged, with pods named once it is back.
import { backoffDelay } from '../../common/backoff.js';
import type { Logger } from '../../common/log.js';
import { KubeApi, KubeApiError } from './api-client.js';
import type { PodInfo } from '../identity/pod-lookup.js';
import { podInfoFrom, type ApiPod } from './pod.js';
import { PodIndex } from './pod-index.js';

export interface PodInformerOptions {
  /** Only pods on this node (fieldSelector spec.nodeName), else every pod in the cluster. */
  nodeName?: string;
  /** Pods per list page. */
  pageSize?: number;
  /** How long the server keeps one watch open before the agent resumes it. */
  watchSeconds?: number;
  maxBackoffMs?: number;
}

interface PodList {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: ApiPod[];
}

interface WatchEvent {
  type?: string;
  object?: ApiPod & { code?: number; reason?: string; message?: string };
}

export interface PodInformerStats {
  synced: boolean;
  lists: number;
  watchEvents: number;
  errors: number;
  lastError: string;
}

/** The watch or list must start over from a fresh list. */
class Relist extends Error {}

export class PodInformer {
  readonly index = new PodIndex();
  readonly stats: PodInformerStats = { synced: false, lists: 0, watchEvents: 0, errors: 0, lastError: '' };
  private readonly abort = new AbortController();
  private readonly selector: string;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly syncedWaiters: (() => void)[] = [];

  constructor(private readonly api: KubeApi, private readonly log: Logger, private readonly o: PodInformerOptions = {}) {
    this.selector = o.nodeName ? `&fieldSelector=${encodeURIComponent(`spec.nodeName=${o.nodeName}`)}` : '';
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Resolves after the first complete list, or after timeoutMs (false). */
  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.stats.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.syncedWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    await this.running;
  }

  private get closed(): boolean {
    return this.abort.signal.aborted;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        let version = await this.list();
        failures = 0;
        while (!this.closed) version = await this.watchFrom(version);
      } catch (err) {
        if (this.closed) break;
        if (err instanceof Relist) continue;
        this.stats.errors++;
        const message = (err as Error).message;
        // Log a failure when it changes, not every retry of the same outage.
        if (message !== this.stats.lastError) this.log.warn({ err: message, hint: (err as { hint?: string }).hint }, 'kubernetes: pod list/watch failed; retrying, pods stay as last seen');
        this.stats.lastError = message;
        await this.pause(backoffDelay(failures++, { baseMs: 500, maxMs: this.o.maxBackoffMs ?? 30_000 }));
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** One full list, page by page; returns the resourceVersion to watch from. */
  private async list(): Promise<string> {
    const fresh: PodInfo[] = [];
    let cont = '';
    let version = '';
    do {
      const page = `/api/v1/pods?limit=${this.o.pageSize ?? 500}${this.selector}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
      let body: PodList;
      try {
        body = await this.api.getJson<PodList>(page, 30_000, this.abort.signal);
      } catch (err) {
        // A continue token expired between pages: start the list over.
        if (err instanceof KubeApiError && err.status === 410) throw new Relist();
        throw err;
      }
      for (const item of body.items ?? []) {
        const p = podInfoFrom(item);
        if (p) fresh.push(p);
      }
      cont = body.metadata?.continue ?? '';
      version = body.metadata?.resourceVersion ?? version;
    } while (cont && !this.closed);
    this.index.replaceAll(fresh);
    this.stats.lists++;
    if (!this.stats.synced) {
      this.stats.synced = true;
      this.log.info({ pods: this.index.size, scope: this.o.nodeName ? `node ${this.o.nodeName}` : 'cluster' }, 'kubernetes: pods listed; flows and process events now name pods');
      for (const w of this.syncedWaiters.splice(0)) w();
    } else if (this.stats.lastError) {
      this.log.info({ pods: this.index.size }, 'kubernetes: pod list recovered');
    }
    this.stats.lastError = '';
    return version;
  }

  /** Watches until the server ends the stream; returns the version to resume from. */
  private async watchFrom(version: string): Promise<string> {
    const seconds = this.o.watchSeconds ?? 300;
    // Spread the reconnects of many agents instead of having them all resume at once.
    const timeout = Math.round(seconds * (0.8 + Math.random() * 0.4));
    const path = `/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeout}&resourceVersion=${encodeURIComponent(version)}${this.selector}`;
    let latest = version;
    let gone = false;
    let events = 0;
    const opened = Date.now();
    await this.api.watch(path, (raw) => {
      events++;
      const ev = raw as WatchEvent;
      const obj = ev.object;
      if (ev.type === 'ERROR') {
        if (obj?.code === 410) gone = true;
        else throw new KubeApiError(obj?.code ?? 0, obj?.reason ?? '', `watch error: ${obj?.message ?? 'unknown'}`);
        return;
      }
      if (!obj) return;
      latest = obj.metadata?.resourceVersion ?? latest;
      if (ev.type === 'BOOKMARK') return;
      this.stats.watchEvents++;
      if (ev.type === 'DELETED') {
        if (obj.metadata?.uid) this.index.remove(obj.metadata.uid);
        return;
      }
      const p = podInfoFrom(obj);
      if (p) this.index.upsert(p);
    }, (timeout + 60) * 1000, this.abort.signal);
    if (gone) throw new Relist();
    // A server (or proxy) that ends every watch at once would have us spin: back off instead.
    if (events === 0 && Date.now() - opened < 500 && !this.closed) throw new Error('kubernetes: the pod watch ended as soon as it opened');
    return latest;
  }
}
