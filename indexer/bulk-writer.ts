// Writes prepared documents with _bulk. One p-queue bounds the bulk requests in flight across
// every ingest request (the queue itself is bounded by the admission limits in front of it).
// Whole-request failures and 429/5xx items are retried with backoff; items Elasticsearch
// refuses for good (mapping or parse errors) are handed to the dead-letter writer. A batch is
// reported written only when every document is indexed or dead-lettered.
import type { Client } from '@elastic/elasticsearch';
import PQueue from 'p-queue';
import type { Logger } from '../common/log.js';
import { backoff } from '../common/backoff.js';
import { bulkBody, splitByBytes } from './bulk-body.js';
import { authRefusal, classifyRequestError, isAuthStatus, isRetryableItemStatus } from './es-errors.js';
import { HttpError, unavailable } from './http-error.js';
import type { IndexerMetrics } from './metrics.js';
import type { PreparedDoc } from './ndjson.js';

export interface BulkWriterOptions {
  concurrency: number;
  flushBytes: number;
  maxRetries: number;
  backoffMs: number;
  maxBackoffMs: number;
  /** Retry-After for agents when Elasticsearch stays unavailable. */
  retryAfterMs: number;
}

/** A document Elasticsearch refused for good, with what it said. */
export interface RefusedDoc {
  doc: PreparedDoc;
  status: number;
  errorType: string;
  reason: string;
}

export interface ChunkResult {
  indexed: number;
  refused: RefusedDoc[];
}

interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } };
}
interface BulkResponse {
  errors: boolean;
  items?: Array<Record<string, BulkItem>>;
}

/** Only what the writer reads: keeps the response small to parse. */
const FILTER_PATH = 'errors,items.*.status,items.*.error.type,items.*.error.reason,items.*.error.caused_by.type,items.*.error.caused_by.reason';

export interface WriterHooks {
  /** Elasticsearch could not be reached at all. */
  onUnreachable(reason: string): void;
}

export class BulkWriter {
  private readonly queue: PQueue;

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
   * Indexes every document; resolves with the count indexed and those refused for good.
   * Throws HttpError 503 when Elasticsearch stays unavailable (the agent retries the batch:
   * ids are deterministic, so the documents that did get in are overwritten, not duplicated).
   */
  async write(kind: string, docs: PreparedDoc[]): Promise<ChunkResult> {
    const groups = splitByBytes(docs, this.opts.flushBytes);
    const settled = await Promise.allSettled(groups.map((g) => this.writeGroup(kind, g)));
    const result: ChunkResult = { indexed: 0, refused: [] };
    for (const s of settled) {
      if (s.status === 'rejected') throw s.reason;
      result.indexed += s.value.indexed;
      result.refused.push(...s.value.refused);
    }
    return result;
  }

  private async writeGroup(kind: string, docs: PreparedDoc[]): Promise<ChunkResult> {
    let pending = docs;
    let indexed = 0;
    const refused: RefusedDoc[] = [];
    for (let attempt = 0; ; attempt++) {
      let res: BulkResponse;
      try {
        res = await this.send(pending);
      } catch (err) {
        const failure = classifyRequestError(err);
        const status = (err as { statusCode?: number }).statusCode ?? 0;
        if (isAuthStatus(status)) {
          this.log.error({ status, err: failure.message }, 'indexer: Elasticsearch refused the indexer\'s credentials or privileges');
          throw authRefusal(status, failure.message, this.opts.retryAfterMs);
        }
        if (!failure.retry) throw new HttpError(502, 'elasticsearch_refused', `indexer: Elasticsearch refused a bulk request: ${failure.message}`);
        if (failure.unreachable) this.hooks.onUnreachable(failure.message);
        if (attempt >= this.opts.maxRetries) {
          throw unavailable(`Elasticsearch is unavailable (${failure.message}); retry later`, this.opts.retryAfterMs, 'elasticsearch');
        }
        this.metrics.retried.inc({ kind }, pending.length);
        this.log.debug({ attempt, docs: pending.length, err: failure.message }, 'indexer: bulk request failed, retrying');
        await backoff(attempt, { baseMs: this.opts.backoffMs, maxMs: this.opts.maxBackoffMs });
        continue;
      }
      if (!res.errors) {
        indexed += pending.length;
        break;
      }
      const again: PreparedDoc[] = [];
      const items = res.items ?? [];
      for (let i = 0; i < pending.length; i++) {
        const item = items[i] ? Object.values(items[i]!)[0] : undefined;
        const status = item?.status ?? 0;
        if (status >= 200 && status < 300) indexed++;
        else if (isAuthStatus(status)) {
          const detail = `${item!.error?.type ?? 'error'}: ${item!.error?.reason ?? `status ${status}`}`;
          this.log.error({ status, err: detail }, 'indexer: Elasticsearch refused the indexer\'s credentials or privileges');
          throw authRefusal(status, detail, this.opts.retryAfterMs);
        } else if (!item || isRetryableItemStatus(status)) again.push(pending[i]!);
        else {
          const cause = item.error?.caused_by;
          refused.push({
            doc: pending[i]!,
            status,
            errorType: item.error?.type ?? 'unknown',
            reason: [item.error?.reason, cause ? `caused by ${cause.type}: ${cause.reason}` : ''].filter(Boolean).join('; ') || `status ${status}`,
          });
        }
      }
      if (again.length === 0) break;
      if (attempt >= this.opts.maxRetries) {
        throw unavailable(`Elasticsearch kept refusing ${again.length} documents with 429/5xx; retry later`, this.opts.retryAfterMs, 'elasticsearch_busy');
      }
      this.metrics.retried.inc({ kind }, again.length);
      pending = again;
      await backoff(attempt, { baseMs: this.opts.backoffMs, maxMs: this.opts.maxBackoffMs });
    }
    return { indexed, refused };
  }

  /** One _bulk request through the shared queue; the body is built while it is sent. */
  private send(docs: PreparedDoc[]): Promise<BulkResponse> {
    return this.queue.add(
      async () => {
        const stop = this.metrics.bulkLatency.startTimer();
        try {
          const res = await this.client.transport.request<BulkResponse>(
            { method: 'POST', path: '/_bulk', querystring: { filter_path: FILTER_PATH }, bulkBody: bulkBody(docs) },
            { maxRetries: 0 },
          );
          stop({ outcome: res.errors ? 'item_errors' : 'ok' });
          return res;
        } catch (err) {
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
