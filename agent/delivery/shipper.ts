// Sends spooled batches to the indexer: zstd or gzip NDJSON POSTs (as spooled) with a bearer
// token, over http or https (agent/delivery/indexer-client.ts), at most `ship_concurrency` at a
// time (p-queue), oldest first. An indexer that answers a zstd batch with 415 (one older than
// zstd support) gets it again as gzip at once, and later zstd batches as gzip for a while.
// Failures leave the batch on disk and pause sending for a backoff (exponential, jittered, never
// shorter than the server's Retry-After, up to an hour). 503 (the indexer's backpressure,
// Elasticsearch away) and network errors are retried for ever: an outage must lose nothing.
// Other server errors (500, 502, ...) may be the batch itself (a poison batch), so they are
// retried a bounded number of times on a backoff of that batch alone, then dead-lettered.
// Answers that retrying cannot change are never retried: 400 names a bad line, which moves to
// the dead letter while the rest of the batch is spooled again (without a line number, the batch
// is halved until the bad documents stand alone); 413 halves the batch (a single document that
// is still too large moves to the dead letter). A spool file that cannot be read or
// decompressed moves to the dead letter as corrupt.
import { access } from 'node:fs/promises';
import PQueue from 'p-queue';
import type { Logger } from '../../common/log.js';
import { backoffDelay, parseRetryAfter, type BackoffOptions } from '../../common/backoff.js';
import { isCertificateError } from '../../common/http-client.js';
import { IndexerClient, type IndexerAnswer, type IndexerClientOptions } from './indexer-client.js';
import { CONTRACTS, DOC_KINDS } from '../../schema/index.js';
import type { BatchKind, Spool, SpooledBatch } from './spool.js';
import { compress, decompress, encodingOf, type BatchEncoding } from '../../common/batch-encoding.js';

const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_RETRY_AFTER_MS = 3_600_000;
/**
 * Largest decompressed batch the shipper opens to split it: far above any batch the sink writes
 * (--batch-max-size), so only a damaged or foreign file (a compression bomb) reaches it.
 */
const MAX_DECODED_BYTES = 256 * 1024 ** 2;
/** After an indexer refused zstd, batches go as gzip this long before zstd is tried again (it may have been upgraded). */
const ZSTD_RETRY_MS = 10 * 60_000;

export const ENDPOINTS = Object.fromEntries(DOC_KINDS.map((k) => [k, CONTRACTS[k].route])) as Record<BatchKind, string>;

export interface ShipperOptions extends Omit<IndexerClientOptions, 'log'> {
  spool: Spool;
  log: Logger;
  // Settings, under their names in agent/config.ts, with no defaults here:
  /** Batches in flight at once (at least 1). */
  ship_concurrency: number;
  /** Timeout of one request (ms). */
  request_timeout: number;
  /** Longest backoff between attempts (ms). */
  retry_max_delay: number;
  /** Retries of a batch answered 5xx (not 503) before it is dead-lettered. */
  max_server_error_retries: number;
  /** The backoff's first delay and jitter (tests); its ceiling is retry_max_delay. */
  backoff?: Omit<BackoffOptions, 'maxMs'>;
  /** Called after every attempt, for metrics. */
  onAttempt?: (a: AttemptResult) => void;
}

export type Outcome = 'ok' | 'retry' | 'dead-letter' | 'split' | 'lost' | 'corrupt';

export interface AttemptResult {
  kind: BatchKind;
  docs: number;
  outcome: Outcome;
  status: number;
  /** Why it failed (HTTP status class or network error code). */
  reason: string;
  latencyMs: number;
}

export interface ShipperStats {
  sentBatches: number;
  sentDocs: number;
  failures: number;
  deadLettered: number;
  consecutiveFailures: number;
}

/** The endpoint under the indexer's base URL, keeping a path prefix (a reverse proxy's /procflow). */
export function endpointUrl(base: string, kind: BatchKind): URL {
  return new URL(ENDPOINTS[kind].slice(1), base.endsWith('/') ? base : `${base}/`);
}

/** The indexer's 2xx body: {"accepted": n}. */
function isIndexerAck(body: string): boolean {
  try {
    return typeof (JSON.parse(body) as { accepted?: unknown } | null)?.accepted === 'number';
  } catch {
    return false;
  }
}

/** The indexer's 400 body names the bad line: {"error": "line 3: ...", "line": 3, "reason": "..."}. */
function rejectedLine(body: string): { line: number; reason: string } | undefined {
  try {
    const a = JSON.parse(body) as { line?: unknown; reason?: unknown; error?: unknown } | null;
    if (!a || !Number.isSafeInteger(a.line) || (a.line as number) < 1) return undefined;
    return { line: a.line as number, reason: String(a.reason ?? a.error ?? 'rejected by the indexer') };
  } catch {
    return undefined;
  }
}

/** What to change when the TLS handshake with the indexer failed on a certificate. */
function certificateHint(code: string): string {
  // An alert comes from the indexer: it wanted a client certificate, or refused ours.
  if (/ALERT/.test(code)) {
    return 'the indexer refused the agent\'s client certificate or wants one: pass --indexer-cert-file and --indexer-key-file (PROCFLOW_INDEXER_CERT_FILE, PROCFLOW_INDEXER_KEY_FILE) with a certificate signed by the CA the indexer trusts for clients';
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'the indexer\'s certificate does not name the host of --indexer-url: use a host name the certificate lists';
  return 'the indexer\'s certificate is not signed by a CA the agent trusts: pass the PEM CA bundle that signed it with --indexer-ca-file (PROCFLOW_INDEXER_CA_FILE)';
}

/** 5xx answers other than 503: these count against the batch (--max-server-error-retries). */
const isServerError = (status: number): boolean => status >= 500 && status <= 599 && status !== 503;

const halves = <T>(xs: T[]): T[][] => {
  const half = Math.ceil(xs.length / 2);
  return [xs.slice(0, half), xs.slice(half)];
};

export class Shipper {
  private readonly queue: PQueue;
  private readonly concurrency: number;
  private readonly client: IndexerClient;
  private readonly backoff: BackoffOptions;
  private pausedUntil = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = 0;
  /**
   * Batches answered with a server error, by spool seq: how often, and when the next attempt is
   * due. Only that batch waits out its backoff; the batches behind it keep going, so one poison
   * batch costs the others nothing but its own attempts. Kept in memory: after a restart a batch
   * starts counting again (at worst it gets its retries once more per restart).
   */
  private readonly serverErrors = new Map<number, { attempts: number; notBefore: number }>();
  /**
   * Distinct batches answered with a server error since the last success. More of them than can
   * be in flight at once means the indexer fails everything, not one batch: then shipping pauses
   * as a whole, like for a 503, instead of cycling every spooled batch towards the dead letter.
   */
  private readonly failingBatches = new Set<number>();
  private running = false;
  /** Until when zstd batches are sent as gzip, because the indexer answered 415 to zstd. */
  private gzipOnlyUntil = 0;
  /** Sends between their start and their bookkeeping. */
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  readonly stats: ShipperStats = { sentBatches: 0, sentDocs: 0, failures: 0, deadLettered: 0, consecutiveFailures: 0 };

  constructor(private readonly o: ShipperOptions) {
    this.concurrency = Math.max(1, o.ship_concurrency);
    this.backoff = { ...o.backoff, maxMs: o.retry_max_delay };
    this.client = new IndexerClient(o);
    this.queue = new PQueue({ concurrency: this.concurrency });
    // A finished send frees a slot: look for the next batch then (not from inside the task,
    // where the slot is still taken).
    this.queue.on('next', () => this.pump());
  }

  start(): void {
    this.running = true;
    this.pump();
  }

  /** Stops taking new batches; in-flight sends finish. Spooled batches stay for the next run. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    await this.queue.onIdle();
    this.client.close();
  }

  /** New batches were spooled: send them if nothing holds us back. */
  notify(): void {
    this.pump();
  }

  /** Resolves when the spool is empty, or false after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.o.spool.size === 0) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  private pump(): void {
    if (!this.running) return;
    const now = Date.now();
    if (this.pausedUntil > now) return this.wakeUpAt(this.pausedUntil);
    // Only as many tasks as can run: the backlog waits on disk, not in memory.
    const due = (b: SpooledBatch) => (this.serverErrors.get(b.seq)?.notBefore ?? 0) <= now;
    while (this.queue.size + this.queue.pending < this.concurrency) {
      const batch = this.o.spool.claim(due);
      if (!batch) break;
      void this.queue.add(() => this.send(batch));
    }
    // Batches waiting out their own backoff: come back when the first one is due.
    let next = Infinity;
    for (const [seq, e] of this.serverErrors) {
      if (!this.o.spool.has(seq)) this.serverErrors.delete(seq); // dropped by the spool meanwhile
      else if (e.notBefore > now) next = Math.min(next, e.notBefore);
    }
    if (next < Infinity) this.wakeUpAt(next);
  }

  /** Pumps again at `at` (or earlier, when an earlier wake-up is already set). */
  private wakeUpAt(at: number): void {
    if (this.wakeTimer && this.wakeAt <= at) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    // setTimeout fires at once beyond 2^31-1 ms (with a warning): cap it, pump re-arms it.
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.pump();
    }, Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS));
  }

  private wakeIdle(): void {
    if (this.o.spool.size === 0 && this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async send(b: SpooledBatch): Promise<void> {
    this.active++;
    if (await this.fileGone(b)) {
      this.o.onAttempt?.({ kind: b.kind, docs: b.docs, outcome: 'lost', status: 0, reason: 'spool_file_missing', latencyMs: 0 });
      this.active--;
      this.wakeIdle();
      return;
    }
    const started = performance.now();
    let status = 0;
    let reason = 'ok';
    let outcome: Outcome = 'ok';
    let retryAfterMs: number | undefined;
    let body = '';
    let serverError = false;
    try {
      const spooled = await this.readBatch(b);
      const url = endpointUrl(this.o.indexer_url, b.kind);
      const sent = typeof spooled === 'string' ? spooled : await this.post(b, url, spooled);
      if (sent === 'lost' || sent === 'corrupt') {
        const why = sent === 'lost' ? 'spool_file_missing' : 'corrupt_spool_file';
        this.o.onAttempt?.({ kind: b.kind, docs: b.docs, outcome: sent, status: 0, reason: why, latencyMs: 0 });
        this.active--;
        this.wakeIdle();
        return;
      }
      const { answer, payload } = sent;
      status = answer.status;
      body = answer.body;
      if (status >= 200 && status < 300 && !isIndexerAck(body)) {
        // Something else answered (a proxy's page, a catch-all server): deleting the batch
        // on its word would lose it.
        outcome = 'retry';
        reason = 'not_indexer';
        this.o.log.error({ status, url: url.href, response: body.slice(0, 200) }, 'shipper: the answer is not from a procflow indexer (no {"accepted":n}); the batch stays spooled; check --indexer-url (PROCFLOW_INDEXER_URL)');
      } else if (status >= 200 && status < 300) {
        await this.o.spool.remove(b);
        this.serverErrors.delete(b.seq);
        this.failingBatches.clear();
        this.stats.sentBatches++;
        this.stats.sentDocs += b.docs;
        this.stats.consecutiveFailures = 0;
      } else if (status === 400) {
        reason = 'http_400';
        outcome = await this.isolateRejected(b, payload, body);
      } else if (status === 413) {
        reason = 'http_413';
        outcome = await this.split(b, payload, body);
      } else {
        outcome = 'retry';
        reason = `http_${status}`;
        const asked = parseRetryAfter(answer.retryAfter);
        // Honoured up to an hour: a proxy's absurd value must not stall shipping while the spool fills.
        retryAfterMs = asked === undefined ? undefined : Math.min(asked, MAX_RETRY_AFTER_MS);
        if (status === 401 || status === 403) {
          this.o.log.error({ status }, 'shipper: the indexer refused the token; check --token-file (PROCFLOW_TOKEN_FILE) or --token (PROCFLOW_TOKEN) on the agent against the indexer\'s tokens');
        } else if (status === 404 || status === 405) {
          this.o.log.error({ status, url: url.href }, 'shipper: no indexer answers at this URL; check --indexer-url (PROCFLOW_INDEXER_URL): it must be the base URL of `procflow indexer`, not Elasticsearch');
        } else if (isServerError(status)) {
          serverError = true;
          if (await this.givenUp(b, status, body)) outcome = 'dead-letter';
        }
      }
    } catch (err) {
      outcome = 'retry';
      const e = err as NodeJS.ErrnoException;
      reason = e.name === 'TimeoutError' || e.code === 'ETIMEDOUT' ? 'timeout' : (e.code ?? e.name ?? 'error');
      body = e.message;
      if (isCertificateError(err)) {
        // Not retried faster or slower than any network error: the batch stays spooled until the CA is fixed.
        this.o.log.error({ batch: b.seq, url: this.o.indexer_url, code: e.code, err: e.message }, `shipper: TLS with the indexer failed: ${certificateHint(e.code ?? '')}; the batch stays spooled`);
      }
    }
    if (outcome === 'retry') this.retryLater(b, { status, reason, retryAfterMs, detail: body, serverError });
    this.o.onAttempt?.({ kind: b.kind, docs: b.docs, outcome, status, reason, latencyMs: performance.now() - started });
    this.active--;
    this.wakeIdle();
  }

  /** Gives the batch back to the spool for a later attempt: its own backoff for a server error, else a pause of all shipping. */
  private retryLater(b: SpooledBatch, f: { status: number; reason: string; retryAfterMs: number | undefined; detail: string; serverError: boolean }): void {
    this.o.spool.release(b);
    this.stats.failures++;
    const pause = Math.max(f.retryAfterMs ?? 0, backoffDelay(this.stats.consecutiveFailures++, this.backoff));
    let delay = pause;
    let attempt: string | undefined;
    if (f.serverError) {
      const e = this.serverErrors.get(b.seq)!;
      delay = Math.max(f.retryAfterMs ?? 0, backoffDelay(e.attempts - 1, this.backoff));
      e.notBefore = Date.now() + delay;
      attempt = `${e.attempts} of ${this.o.max_server_error_retries + 1}`;
      this.failingBatches.add(b.seq);
    }
    if (!f.serverError || this.failingBatches.size > this.concurrency) this.pausedUntil = Math.max(this.pausedUntil, Date.now() + pause);
    this.o.log.warn({ batch: b.seq, kind: b.kind, status: f.status, reason: f.reason, attempt, retryInMs: delay, detail: f.detail.slice(0, 200) }, 'shipper: send failed; the batch stays spooled');
  }

  /**
   * Counts a server error against the batch; once it has had its retries it moves to the dead
   * letter (true), so a batch the indexer can never take does not stay at the head for ever.
   */
  private async givenUp(b: SpooledBatch, status: number, body: string): Promise<boolean> {
    const e = this.serverErrors.get(b.seq) ?? { attempts: 0, notBefore: 0 };
    e.attempts++;
    this.serverErrors.set(b.seq, e);
    if (e.attempts <= this.o.max_server_error_retries) return false;
    this.serverErrors.delete(b.seq);
    this.failingBatches.delete(b.seq);
    const kept = await this.o.spool.moveToDeadLetter(b, { status, body: `the indexer answered ${status} ${e.attempts} times: ${body.slice(0, 4000)}` });
    this.stats.deadLettered++;
    this.o.log.error(
      { batch: b.seq, kind: b.kind, docs: b.docs, status, attempts: e.attempts, response: body.slice(0, 500), movedTo: kept ? 'dead-letter' : 'deleted (the dead letter could not take it)' },
      'shipper: the indexer kept failing this batch with a server error; it moved to the dead letter (procflow_agent_dead_letter_batches_total). The indexer\'s log has the cause; raise --max-server-error-retries to keep trying longer',
    );
    return true;
  }

  /**
   * A batch whose file vanished (deleted outside the agent): retrying cannot bring it back, and as
   * the oldest batch it would hold up every later one, so it is forgotten and counted as dropped.
   */
  private async fileGone(b: SpooledBatch): Promise<boolean> {
    try {
      await access(b.file);
      return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
      this.o.spool.forget(b);
      this.o.log.error({ batch: b.seq, kind: b.kind, docs: b.docs, file: b.file }, 'shipper: a spooled batch file disappeared (deleted outside the agent?); its documents are counted as dropped');
      return true;
    }
  }

  /**
   * The batch's bytes, or what became of it when the file cannot be read (moved aside as
   * corrupt, or forgotten when it vanished): retrying cannot make it readable.
   */
  private async readBatch(b: SpooledBatch): Promise<Buffer | 'lost' | 'corrupt'> {
    try {
      return await this.o.spool.read(b);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (await this.fileGone(b))) return 'lost';
      await this.corrupt(b, `cannot be read: ${(err as Error).message}`);
      return 'corrupt';
    }
  }

  /**
   * Sends the batch in its own encoding; a zstd batch goes as gzip (made here, not spooled) when the
   * indexer refused zstd lately or answers this one 415. Resolves with the answer and what was
   * sent, or 'corrupt' when a zstd batch to be sent as gzip cannot be read (moved aside).
   */
  private async post(b: SpooledBatch, url: URL, spooled: Buffer): Promise<{ answer: IndexerAnswer; payload: Buffer } | 'corrupt'> {
    const encoding: BatchEncoding = encodingOf(spooled) ?? 'gzip';
    if (encoding === 'zstd' && Date.now() >= this.gzipOnlyUntil) {
      const answer = await this.client.post(url, spooled, 'zstd', this.o.request_timeout);
      if (answer.status !== 415) return { answer, payload: spooled };
      this.gzipOnlyUntil = Date.now() + ZSTD_RETRY_MS;
      this.o.log.warn({ batch: b.seq, response: answer.body.slice(0, 200) },
        'shipper: the indexer does not take zstd batches (415); they are sent as gzip, which costs the agent CPU. Upgrade the indexer, or set --batch-compression gzip (PROCFLOW_BATCH_COMPRESSION)');
    }
    if (encoding === 'gzip') return { answer: await this.client.post(url, spooled, 'gzip', this.o.request_timeout), payload: spooled };
    let payload: Buffer;
    try {
      payload = await compress('gzip', await decompress(spooled, MAX_DECODED_BYTES));
    } catch (err) {
      await this.corrupt(b, `cannot be decompressed: ${(err as Error).message}`);
      return 'corrupt';
    }
    return { answer: await this.client.post(url, payload, 'gzip', this.o.request_timeout), payload };
  }

  /** The batch's lines (every line, blank ones too, so the indexer's line numbers index it). */
  private async decode(b: SpooledBatch, payload: Buffer): Promise<string[] | undefined> {
    try {
      const lines = (await decompress(payload, MAX_DECODED_BYTES)).toString('utf8').split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      if (!lines.some((l) => l.trim() !== '')) throw new Error('it holds no documents');
      return lines;
    } catch (err) {
      await this.corrupt(b, `cannot be decompressed: ${(err as Error).message}`);
      return undefined;
    }
  }

  private async corrupt(b: SpooledBatch, error: string): Promise<void> {
    const kept = await this.o.spool.quarantine(b, error);
    this.o.log.error(
      { batch: b.seq, kind: b.kind, docs: b.docs, file: b.file, error, movedTo: kept ? 'dead-letter' : 'deleted (the dead letter could not take it)' },
      'shipper: a spooled batch is corrupt; it is not retried (procflow_agent_spool_corrupt_batches_total)',
    );
  }

  /** Spools `lines` again as one new batch (at the back of the queue), in the encoding of the batch they came from. */
  private async respool(kind: BatchKind, encoding: BatchEncoding, lines: string[]): Promise<void> {
    const docs = lines.filter((l) => l.trim() !== '');
    if (docs.length) await this.o.spool.put(kind, await compress(encoding, `${docs.join('\n')}\n`), docs.length);
  }

  /**
   * 400: the indexer validates every line and names the first bad one. That line moves to the
   * dead letter with the reason; the lines before it (valid) are spooled again as one batch, the
   * lines after it (not looked at yet) as two halves, so many bad lines are found in about as
   * many requests as there are bad lines, each on a smaller batch. Without a line number (a
   * proxy, an older indexer) the batch is halved until the bad document stands alone.
   */
  private async isolateRejected(b: SpooledBatch, payload: Buffer, body: string): Promise<Outcome> {
    const lines = await this.decode(b, payload);
    if (!lines) return 'corrupt';
    const named = rejectedLine(body);
    const bad = named && named.line <= lines.length && lines[named.line - 1]!.trim() !== '' ? named : undefined;
    const docs = lines.filter((l) => l.trim() !== '');
    if (!bad && docs.length > 1) {
      for (const part of halves(docs)) await this.respool(b.kind, encodingOf(payload) ?? 'gzip', part);
      await this.o.spool.remove(b);
      return 'split';
    }
    if (!bad || docs.length === 1) {
      this.o.log.error({ batch: b.seq, kind: b.kind, docs: b.docs, response: body.slice(0, 500) }, 'shipper: the indexer rejected a document as invalid; moved to the dead letter');
      await this.o.spool.moveToDeadLetter(b, { status: 400, body: body.slice(0, 4096), ...(bad ? { lines: [{ line: 1, reason: bad.reason }] } : {}) });
      this.stats.deadLettered++;
      return 'dead-letter';
    }
    await this.respool(b.kind, encodingOf(payload) ?? 'gzip', lines.slice(0, bad.line - 1));
    for (const part of halves(lines.slice(bad.line))) await this.respool(b.kind, encodingOf(payload) ?? 'gzip', part);
    this.o.log.error({ batch: b.seq, kind: b.kind, line: bad.line, reason: bad.reason }, 'shipper: the indexer rejected one document of a batch; it moved to the dead letter, the rest of the batch is sent again');
    await this.o.spool.deadLetterDocuments(b.kind, await compress(encodingOf(payload) ?? 'gzip', `${lines[bad.line - 1]}\n`), 1, { status: 400, body: body.slice(0, 4096), lines: [{ line: 1, reason: bad.reason }] });
    this.stats.deadLettered++;
    await this.o.spool.remove(b);
    return 'dead-letter';
  }

  /** 413: the batch is bigger than the indexer takes; halve it (a single document dead-letters). */
  private async split(b: SpooledBatch, payload: Buffer, body: string): Promise<Outcome> {
    const lines = await this.decode(b, payload);
    if (!lines) return 'corrupt';
    const docs = lines.filter((l) => l.trim() !== '');
    if (docs.length <= 1) {
      const bytes = Buffer.byteLength(docs[0] ?? '');
      this.o.log.error({ batch: b.seq, kind: b.kind, bytes, response: body.slice(0, 500) }, 'shipper: a single document is larger than the indexer accepts (413); moved to the dead letter');
      await this.o.spool.moveToDeadLetter(b, { status: 413, body: `a single document of ${bytes} bytes is larger than the indexer accepts (its --max-body-size, or a proxy's limit): ${body.slice(0, 1000)}` });
      this.stats.deadLettered++;
      return 'dead-letter';
    }
    for (const part of halves(docs)) await this.respool(b.kind, encodingOf(payload) ?? 'gzip', part);
    await this.o.spool.remove(b);
    return 'split';
  }
}
