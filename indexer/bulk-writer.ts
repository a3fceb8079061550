// Writes prepared documents with _bulk. One p-queue bounds the bulk requests in flight across
// every ingest request (the queue itself is bounded by the admission limits in front of it).
// Whole-request failures and 429/5xx items are retried with backoff; items Elasticsearch
// refuses for good (mapping or parse errors) are handed to the dead-letter writer. A batch is
// reported written only when every document is indexed or dead-lettered. Documents are created
// (never overwritten): a 409 means the id is taken, and the stored copy decides: the same
// content is a retry that already got in (counted as written), different content is refused
// for good (dead-lettered as a conflict), so the count acknowledged is what the cluster holds.
// "The same" is judged in the kind's canonical form (schema/canonical.ts): a logsdb index
// rebuilds its _source, so a date or an address can come back written differently.
//
// Whole-request answers that retrying cannot change: 413 (larger than http.max_content_length)
// halves the request until it fits; 404 (the index does not exist and may not be created) and
// 401/403 are the cluster's setup, not the documents' fault: 503 with Retry-After, nothing
// dead-lettered; 400 means the indexer built a request Elasticsearch cannot parse: 500, logged
// with Elasticsearch's error. In no case is anything acknowledged that was not written.
import { Serializer, errors, type Client } from '@elastic/elasticsearch';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import PQueue from 'p-queue';
import type { Logger } from '../common/log.js';
import { CONTRACTS, type Canonicalizer, type DocKind } from '../schema/index.js';
import { backoffDelay } from '../common/backoff.js';
import type { BulkEntries } from './arena.js';
import { bulkBody, splitByBytes } from './bulk-body.js';
import { authRefusal, classifyRequestError, isAuthStatus, isRetryableItemStatus } from './es-errors.js';
import { HttpError, unavailable } from './http-error.js';
import type { IndexerMetrics } from './metrics.js';
import type { RefusedDoc } from './ndjson.js';

export interface BulkWriterOptions {
  concurrency: number;
  flushBytes: number;
  maxRetries: number;
  backoffMs: number;
  maxBackoffMs: number;
  /** Retry-After for agents when Elasticsearch stays unavailable. */
  retryAfterMs: number;
}

export interface ChunkResult {
  /** Documents the cluster now holds as sent (created now, or found already stored). */
  indexed: number;
  refused: RefusedDoc[];
}

const isVersionConflict = (item: BulkItem | undefined): boolean => item?.status === 409 && item.error?.type === 'version_conflict_engine_exception';

interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } };
}

/** The index a bulk item could not write to because it does not exist and may not be created. */
const isIndexMissing = (item: BulkItem | undefined): boolean => item?.status === 404 && item.error?.type === 'index_not_found_exception';
interface BulkResponse {
  errors: boolean;
  items?: Array<Record<string, BulkItem>>;
}

/** Only what the writer reads: keeps the response small to parse. */
const FILTER_PATH = 'errors,items.*.status,items.*.error.type,items.*.error.reason,items.*.error.caused_by.type,items.*.error.caused_by.reason';

/** How a bulk answer filtered by FILTER_PATH starts when every item was written. */
const ALL_WRITTEN = '{"errors":false';

/**
 * The indexer's client reads answers as usual, but for a bulk answer that says every item was
 * written: the thousands of items in it are not parsed (nothing reads them then).
 */
export class IndexerSerializer extends Serializer {
  override deserialize<T = unknown>(json: string): T {
    if (json.startsWith(ALL_WRITTEN) && (json[ALL_WRITTEN.length] === ',' || json[ALL_WRITTEN.length] === '}')) return { errors: false } as T;
    return super.deserialize<T>(json);
  }
}

export interface WriterHooks {
  /** Elasticsearch could not be reached at all. */
  onUnreachable(reason: string): void;
  /**
   * Elasticsearch will not write: the target index does not exist and may not be created
   * (`index`), or the bulk endpoint itself answered 404 (`index` null). `reason` has the hint.
   */
  onIndexMissing(index: string | null, reason: string): void;
}

/** Elasticsearch's own error of a refused request, for logs. */
function esErrorBody(err: unknown): unknown {
  return err instanceof errors.ResponseError ? err.meta?.body : undefined;
}

export class BulkWriter {
  private readonly queue: PQueue;
  /** Shutting down: nothing is retried any more (the agents retry, elsewhere or later). */
  private draining = false;
  /** Ends the backoff waits at once when shutting down. */
  private readonly retryWaits = new AbortController();
  /** Past the shutdown deadline: the bulk requests still waiting for Elasticsearch are cut off. */
  private requestsAborted = false;
  private readonly requests = new AbortController();

  constructor(
    private readonly client: Client,
    private readonly opts: BulkWriterOptions,
    private readonly metrics: IndexerMetrics,
    private readonly hooks: WriterHooks,
    private readonly log: Logger,
  ) {
    this.queue = new PQueue({ concurrency: opts.concurrency });
  }

  /**
   * Writes every entry; resolves with the count indexed and those refused for good.
   * Throws HttpError 503 when Elasticsearch stays unavailable (the agent retries the batch:
   * ids are deterministic, so the documents that did get in are found stored, not duplicated).
   */
  async write(kind: string, entries: BulkEntries): Promise<ChunkResult> {
    if (entries.count === 0) return { indexed: 0, refused: [] };
    const groups = splitByBytes(entries, this.opts.flushBytes);
    const settled = await Promise.allSettled(groups.map((g) => this.writeGroup(kind, entries, g)));
    const result: ChunkResult = { indexed: 0, refused: [] };
    for (const s of settled) {
      if (s.status === 'rejected') throw s.reason;
      result.indexed += s.value.indexed;
      // Appended one by one here and below: spread into push(), a list as long as --max-batch-docs
      // allows could overflow the call's arguments (about 125,000).
      for (const x of s.value.refused) result.refused.push(x);
    }
    return result;
  }

  /**
   * Shutting down: requests still running may finish, but nothing is retried any more (a batch
   * that needs a retry is answered 503, and its agent sends it again).
   */
  stopRetrying(): void {
    this.draining = true;
    this.retryWaits.abort();
  }

  /** The shutdown deadline passed: abort the bulk requests still waiting for Elasticsearch. */
  abortRequests(): void {
    this.stopRetrying();
    this.requestsAborted = true;
    this.requests.abort();
  }

  private shuttingDown(): HttpError {
    return unavailable('the indexer is shutting down before Elasticsearch took the batch; retry', 1000, 'shutting_down');
  }

  /** Waits out a retry's backoff; throws 503 at once when shutting down. */
  private async pause(attempt: number): Promise<void> {
    if (this.draining) throw this.shuttingDown();
    try {
      await sleep(backoffDelay(attempt, { baseMs: this.opts.backoffMs, maxMs: this.opts.maxBackoffMs }), undefined, { signal: this.retryWaits.signal });
    } catch {
      throw this.shuttingDown();
    }
  }

  /** Writes the entries numbered in `group`, retrying what may be retried. */
  private async writeGroup(kind: string, entries: BulkEntries, group: number[]): Promise<ChunkResult> {
    let pending = group;
    let indexed = 0;
    const refused: RefusedDoc[] = [];
    for (let attempt = 0; ; attempt++) {
      let res: BulkResponse;
      try {
        res = await this.send(entries, pending);
      } catch (err) {
        if (this.requestsAborted) throw this.shuttingDown();
        const failure = classifyRequestError(err);
        const status = (err as { statusCode?: number }).statusCode ?? 0;
        if (isAuthStatus(status)) {
          this.log.error({ status, err: failure.message }, 'indexer: Elasticsearch refused the indexer\'s credentials or privileges');
          throw authRefusal(status, failure.message, this.opts.retryAfterMs);
        }
        if (status === 413) {
          const halves = await this.writeHalves(kind, entries, pending);
          indexed += halves.indexed;
          for (const x of halves.refused) refused.push(x);
          break;
        }
        if (status === 404) throw this.indexMissing(null, `the bulk endpoint answered 404 (${failure.message}); check --es-url (PROCFLOW_ES_URL)`);
        if (status === 400) {
          this.log.error({ status, docs: pending.length, es: esErrorBody(err) }, 'indexer: Elasticsearch refused a bulk request as malformed; nothing was acknowledged');
          throw new HttpError(500, 'elasticsearch_bad_request', `indexer: Elasticsearch could not parse the indexer's bulk request (${failure.message}); nothing was acknowledged; please report this with the indexer's log`);
        }
        if (!failure.retry) {
          this.log.error({ status, docs: pending.length, es: esErrorBody(err) }, 'indexer: Elasticsearch refused a bulk request; nothing was acknowledged');
          throw new HttpError(502, 'elasticsearch_refused', `indexer: Elasticsearch refused a bulk request: ${failure.message}`);
        }
        if (failure.unreachable) this.hooks.onUnreachable(failure.message);
        if (attempt >= this.opts.maxRetries) {
          throw unavailable(`Elasticsearch is unavailable (${failure.message}); retry later`, this.opts.retryAfterMs, 'elasticsearch');
        }
        this.metrics.retried.inc({ kind }, pending.length);
        this.log.debug({ attempt, docs: pending.length, err: failure.message }, 'indexer: bulk request failed, retrying');
        await this.pause(attempt);
        continue;
      }
      if (!res.errors) {
        indexed += pending.length;
        break;
      }
      const again: number[] = [];
      const taken: number[] = [];
      const items = res.items ?? [];
      for (let i = 0; i < pending.length; i++) {
        const item = items[i] ? Object.values(items[i]!)[0] : undefined;
        const status = item?.status ?? 0;
        if (status >= 200 && status < 300) indexed++;
        else if (isVersionConflict(item)) taken.push(pending[i]!);
        else if (isIndexMissing(item)) {
          throw this.indexMissing(entries.index(pending[i]!), `${item!.error?.type}: ${item!.error?.reason ?? 'no such index'}`);
        } else if (isAuthStatus(status)) {
          const detail = `${item!.error?.type ?? 'error'}: ${item!.error?.reason ?? `status ${status}`}`;
          this.log.error({ status, err: detail }, 'indexer: Elasticsearch refused the indexer\'s credentials or privileges');
          throw authRefusal(status, detail, this.opts.retryAfterMs);
        } else if (!item || isRetryableItemStatus(status)) again.push(pending[i]!);
        else {
          const cause = item.error?.caused_by;
          refused.push({
            doc: entries.doc(pending[i]!),
            status,
            errorType: item.error?.type ?? 'unknown',
            reason: [item.error?.reason, cause ? `caused by ${cause.type}: ${cause.reason}` : ''].filter(Boolean).join('; ') || `status ${status}`,
          });
        }
      }
      if (taken.length) {
        const stored = await this.compareStored(kind, entries, taken);
        indexed += stored.same;
        for (const x of stored.different) refused.push(x);
        // Deleted between the 409 and the look (retention, an operator): create it again.
        for (const x of stored.gone) again.push(x);
      }
      if (again.length === 0) break;
      if (attempt >= this.opts.maxRetries) {
        throw unavailable(`Elasticsearch kept refusing ${again.length} documents with 429/5xx; retry later`, this.opts.retryAfterMs, 'elasticsearch_busy');
      }
      this.metrics.retried.inc({ kind }, again.length);
      pending = again;
      await this.pause(attempt);
    }
    return { indexed, refused };
  }

  /**
   * 413: the request is larger than Elasticsearch accepts (http.max_content_length). Halves
   * are written on their own (and halved again while still too large); a single document that
   * is too large on its own is answered 413, so the agent keeps it aside instead of retrying.
   */
  private async writeHalves(kind: string, entries: BulkEntries, docs: number[]): Promise<ChunkResult> {
    if (docs.length === 1) {
      const bytes = entries.size(docs[0]!);
      this.log.warn({ bytes }, 'indexer: Elasticsearch refused a single document as too large (413, http.max_content_length)');
      throw new HttpError(413, 'document_too_large', `indexer: Elasticsearch refused a document of ${bytes} bytes as too large (HTTP 413; its http.max_content_length, or a proxy's limit in front of it)`, { bytes });
    }
    this.metrics.bulkSplits.inc();
    const half = Math.ceil(docs.length / 2);
    this.log.debug({ docs: docs.length }, 'indexer: Elasticsearch answered 413; writing the bulk request in halves');
    const parts = await Promise.allSettled([this.writeGroup(kind, entries, docs.slice(0, half)), this.writeGroup(kind, entries, docs.slice(half))]);
    const result: ChunkResult = { indexed: 0, refused: [] };
    for (const p of parts) {
      if (p.status === 'rejected') throw p.reason;
      result.indexed += p.value.indexed;
      for (const x of p.value.refused) result.refused.push(x);
    }
    return result;
  }

  private indexMissing(index: string | null, detail: string): HttpError {
    const what = index ? `Elasticsearch may not create the index ${index} (${detail})` : `Elasticsearch will not take writes: ${detail}`;
    const reason = `${what}; run \`procflow setup\` to install the procflow templates, and allow Elasticsearch to create procflow-* indices (action.auto_create_index)`;
    this.log.error({ index, err: detail }, 'indexer: Elasticsearch refused to create a procflow index; not ready until it may');
    this.hooks.onIndexMissing(index, reason);
    return unavailable(reason, this.opts.retryAfterMs, 'elasticsearch_index_missing');
  }

  /**
   * Documents whose ids are taken: fetch the stored copies and compare content (as parsed JSON
   * in the kind's canonical form, so neither formatting nor a synthetic _source can matter). Rare (retries after a lost answer, forged or broken ids), so
   * the cost of parsing both sides is paid only here.
   */
  private async compareStored(kind: string, entries: BulkEntries, taken: number[]): Promise<{ same: number; different: RefusedDoc[]; gone: number[] }> {
    const canonical: Canonicalizer = kind in CONTRACTS ? CONTRACTS[kind as DocKind].canonical : (d) => d;
    const docs = taken.map((n) => entries.doc(n));
    let res: { docs: Array<{ found?: boolean; _source?: unknown }> };
    try {
      res = await this.queue.add(() =>
        this.client.mget<unknown>({ docs: docs.map((d) => ({ _index: d.index, _id: d.id })), realtime: true }, { maxRetries: 0, signal: this.requests.signal }),
      ) as typeof res;
    } catch (err) {
      if (this.requestsAborted) throw this.shuttingDown();
      const failure = classifyRequestError(err);
      throw unavailable(`Elasticsearch could not be asked for stored documents (${failure.message}); retry later`, this.opts.retryAfterMs, 'elasticsearch');
    }
    const out = { same: 0, different: [] as RefusedDoc[], gone: [] as number[] };
    docs.forEach((doc, i) => {
      const got = res.docs[i];
      if (!got?.found) return void out.gone.push(taken[i]!);
      if (isDeepStrictEqual(canonical(JSON.parse(doc.source.toString('utf8'))), canonical(got._source))) return void out.same++;
      this.metrics.conflicts.inc();
      out.different.push({
        doc,
        status: 409,
        errorType: 'conflicting_document',
        reason: `a different document with the id ${doc.id} is already stored in ${doc.index}; the stored one was kept`,
      });
    });
    return out;
  }

  /**
   * One _bulk request through the shared queue; the body is the entries' bytes. A request that
   * ends without Elasticsearch's answer taints the entries (see BulkEntries.taint).
   */
  private send(entries: BulkEntries, group: number[]): Promise<BulkResponse> {
    return this.queue.add(
      async () => {
        if (this.requestsAborted) throw this.shuttingDown();
        const stop = this.metrics.bulkLatency.startTimer();
        try {
          const res = await this.client.transport.request<BulkResponse>(
            { method: 'POST', path: '/_bulk', querystring: { filter_path: FILTER_PATH }, bulkBody: bulkBody(entries, group) },
            { maxRetries: 0, signal: this.requests.signal },
          );
          stop({ outcome: res.errors ? 'item_errors' : 'ok' });
          return res;
        } catch (err) {
          entries.taint();
          stop({ outcome: 'error' });
          throw err;
        }
      },
    );
  }

  /** Resolves when no bulk request is queued or running. */
  onIdle(): Promise<void> {
    return this.queue.onIdle();
  }
}
