// Keeps an index in step with one kind of API object (pods, Services, EndpointSlices): list (in
// pages), then watch from the list's resourceVersion; the watch is resumed where it ended, and a
// full relist happens only when the server says the version is too old (410 Gone) or the watch
// fails. Failures back off with jitter and never stop the agent: flows are still logged, with
// names filled in once the API server is back. The index holds at most maxEntries records; what
// comes beyond is counted (stats.dropped), not kept, so a huge cluster cannot exhaust the agent.
// A dropped object is taken once it changes with room in the index, or at the next relist.
import { backoffDelay } from '../../common/backoff.js';
import type { Logger } from '../../common/log.js';
import { KubeApi, KubeApiError } from './api-client.js';

/** Every API object has this much; decode reads the rest. */
export interface ApiObject {
  metadata?: { uid?: string; resourceVersion?: string };
}

/** Where an informer keeps its records, by the object's uid. */
export interface InformerIndex<T extends { uid: string }> {
  readonly size: number;
  has(uid: string): boolean;
  upsert(item: T): void;
  remove(uid: string): void;
  /** Swaps in a fresh list (after a relist), dropping objects deleted while the watch was down. */
  replaceAll(items: Iterable<T>): void;
}

export interface InformerOptions {
  /** Records kept at most; objects beyond are counted in stats.dropped. */
  maxEntries?: number;
  /** Objects per list page. */
  pageSize?: number;
  /** How long the server keeps one watch open before the agent resumes it. */
  watchSeconds?: number;
  maxBackoffMs?: number;
}

export interface Resource<T> {
  /** The collection's path, e.g. /api/v1/pods or /apis/discovery.k8s.io/v1/endpointslices. */
  path: string;
  /** Extra query, already encoded, e.g. `fieldSelector=spec.nodeName%3Dn1`. */
  query?: string;
  /** Plural for logs and messages: "pods". */
  plural: string;
  /** Said once the first list is complete, after "kubernetes: <plural> listed". */
  syncedNote?: string;
  /** Where the objects come from, for the first log line ("cluster", "node n1"). */
  scope?: string;
  /** The record to keep, or undefined to keep none (an object the agent cannot use). */
  decode(obj: unknown): T | undefined;
}

export interface InformerStats {
  synced: boolean;
  lists: number;
  watchEvents: number;
  errors: number;
  lastError: string;
  /** Records held now. */
  entries: number;
  /** Objects not kept because the index was full (a counter: every list and event that met the cap). */
  dropped: number;
}

interface ObjectList {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

interface WatchEvent {
  type?: string;
  object?: ApiObject & { code?: number; reason?: string; message?: string };
}

/** The watch or list must start over from a fresh list. */
class Relist extends Error {}

export class Informer<T extends { uid: string }, I extends InformerIndex<T> = InformerIndex<T>> {
  readonly stats: InformerStats = { synced: false, lists: 0, watchEvents: 0, errors: 0, lastError: '', entries: 0, dropped: 0 };
  private readonly abort = new AbortController();
  private readonly query: string;
  private readonly maxEntries: number;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly syncedWaiters: (() => void)[] = [];
  /** Whether the cap was met since the last list that fitted (logged once, not on every drop). */
  private full = false;

  constructor(
    private readonly api: KubeApi,
    private readonly log: Logger,
    readonly index: I,
    private readonly resource: Resource<T>,
    private readonly o: InformerOptions = {},
  ) {
    this.query = resource.query ? `&${resource.query}` : '';
    this.maxEntries = o.maxEntries ?? Number.POSITIVE_INFINITY;
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
        if (message !== this.stats.lastError) {
          this.log.warn({ err: message, hint: (err as { hint?: string }).hint }, `kubernetes: ${this.resource.plural} list/watch failed; retrying, ${this.resource.plural} stay as last seen`);
        }
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

  private noteFull(full: boolean): void {
    if (full && !this.full) {
      this.log.warn({ kept: this.index.size, dropped: this.stats.dropped },
        `kubernetes: more ${this.resource.plural} than the agent keeps (${this.maxEntries}); the rest go unnamed until some are deleted (raise --kubernetes-max-objects)`);
    }
    this.full = full;
  }

  /** One full list, page by page; returns the resourceVersion to watch from. */
  private async list(): Promise<string> {
    const fresh: T[] = [];
    let over = 0;
    let cont = '';
    let version = '';
    do {
      const page = `${this.resource.path}?limit=${this.o.pageSize ?? 500}${this.query}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
      let body: ObjectList;
      try {
        body = await this.api.getJson<ObjectList>(page, 30_000, this.abort.signal);
      } catch (err) {
        // A continue token expired between pages: start the list over.
        if (err instanceof KubeApiError && err.status === 410) throw new Relist();
        throw err;
      }
      for (const item of body.items ?? []) {
        const r = this.resource.decode(item);
        if (!r) continue;
        if (fresh.length < this.maxEntries) fresh.push(r);
        else over++;
      }
      cont = body.metadata?.continue ?? '';
      version = body.metadata?.resourceVersion ?? version;
    } while (cont && !this.closed);
    this.index.replaceAll(fresh);
    this.stats.entries = this.index.size;
    this.stats.dropped += over;
    this.noteFull(over > 0);
    this.stats.lists++;
    const { plural } = this.resource;
    if (!this.stats.synced) {
      this.stats.synced = true;
      this.log.info({ [plural]: this.index.size, scope: this.resource.scope ?? 'cluster' }, `kubernetes: ${plural} listed${this.resource.syncedNote ?? ''}`);
      for (const w of this.syncedWaiters.splice(0)) w();
    } else if (this.stats.lastError) {
      this.log.info({ [plural]: this.index.size }, `kubernetes: ${plural} list recovered`);
    }
    this.stats.lastError = '';
    return version;
  }

  /** Watches until the server ends the stream; returns the version to resume from. */
  private async watchFrom(version: string): Promise<string> {
    const seconds = this.o.watchSeconds ?? 300;
    // Spread the reconnects of many agents instead of having them all resume at once.
    const timeout = Math.round(seconds * (0.8 + Math.random() * 0.4));
    const path = `${this.resource.path}?watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeout}&resourceVersion=${encodeURIComponent(version)}${this.query}`;
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
      this.apply(ev.type, obj);
      this.stats.entries = this.index.size;
    }, (timeout + 60) * 1000, this.abort.signal);
    if (gone) throw new Relist();
    // A server (or proxy) that ends every watch at once would have us spin: back off instead.
    if (events === 0 && Date.now() - opened < 500 && !this.closed) throw new Error(`kubernetes: the ${this.resource.plural} watch ended as soon as it opened`);
    return latest;
  }

  private apply(type: string | undefined, obj: ApiObject): void {
    const uid = obj.metadata?.uid;
    if (type === 'DELETED') {
      if (uid) this.index.remove(uid);
      return;
    }
    const r = this.resource.decode(obj);
    if (!r) {
      // An update that makes an object useless (e.g. a Service turned headless and portless) drops the old record.
      if (uid) this.index.remove(uid);
      return;
    }
    if (!this.index.has(r.uid) && this.index.size >= this.maxEntries) {
      this.stats.dropped++;
      this.noteFull(true);
      return;
    }
    this.index.upsert(r);
  }
}
