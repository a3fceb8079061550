// Reads one request body, bounded: Content-Length is checked before reading, and both the bytes
// on the wire and the bytes after decompression (gzip or zstd) are counted while reading, so
// neither a large upload nor a compression bomb can exceed the limit. A compressed body is
// inflated as each chunk arrives, into a reused buffer (inflate.ts). Lines go to `onLine` as they arrive (views of the chunks, not
// copies, valid during the call); an error thrown there stops the read at once. A line longer than
// the document limit fails while it arrives. A sender too slow (under the minimum rate after a
// grace period, or past the deadline for the whole body) is cut off with 408, which frees what
// it held.
import type { IncomingMessage } from 'node:http';
import { HttpError, unavailable } from './http-error.js';
import type { Ticket } from './in-flight.js';
import { BodyInflater } from './inflate.js';
import type { BatchEncoding } from '../common/batch-encoding.js';
import { LineSplitter, type LineHandler } from '../common/lines.js';

/** Slow senders are judged on their average rate only after this long. */
export const RATE_GRACE_MS = 5000;

export interface BodyLimits {
  maxBytes: number;
  /** Largest line (one document). */
  maxLineBytes: number;
  /** Accounts decompressed bytes against the indexer-wide in-flight budget. */
  ticket: Ticket;
  /** Bytes already reserved on the ticket for this body (its Content-Length). */
  prepaid: number;
  /** The whole body must arrive within this long. */
  deadlineMs: number;
  /** Bytes per second the body must average (as sent) once RATE_GRACE_MS passed; 0 = any. */
  minRate: number;
}

/** The client went away before sending the whole body; there is nobody to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('ingest: the client closed the connection before the body was complete');
    this.name = 'ClientGoneError';
  }
}

const tooLarge = (max: number, what: string) =>
  new HttpError(413, 'body_too_large', `request body ${what ? `${what} ` : ''}exceeds the limit of ${max} bytes (--max-body-size); send smaller batches`, { limit: max });

/** How a body arrives: compressed in one of the batch encodings, or as it is. */
export type BodyEncoding = BatchEncoding | 'identity';

/** Throws HttpError for what can be judged from the headers alone. */
export function checkBodyHeaders(req: IncomingMessage, maxBytes: number): { encoding: BodyEncoding } {
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > maxBytes) throw tooLarge(maxBytes, `of ${length} bytes (Content-Length)`);
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'gzip' || encoding === 'x-gzip') return { encoding: 'gzip' };
  if (encoding === 'zstd') return { encoding: 'zstd' };
  if (encoding === 'identity' || encoding === '') return { encoding: 'identity' };
  throw new HttpError(415, 'unsupported_encoding', `Content-Encoding ${JSON.stringify(encoding)} is not supported; send gzip, zstd or no encoding`);
}

const lineTooLong = (lineNo: number, max: number) =>
  new HttpError(413, 'document_too_large', `line ${lineNo}: a document is larger than the limit of ${max} bytes (--max-document-size)`, { line: lineNo, limit: max });

export function readBody(req: IncomingMessage, encoding: BodyEncoding, limits: BodyLimits, onLine: LineHandler): Promise<void> {
  const { maxBytes, ticket } = limits;
  return new Promise((resolve, reject) => {
    const lines = new LineSplitter(onLine, { maxBytes: limits.maxLineBytes, tooLong: lineTooLong });
    let wireBytes = 0;
    let bodyBytes = 0;
    let prepaid = limits.prepaid;
    let settled = false;
    const started = Date.now();
    const pace = setInterval(() => {
      const elapsed = Date.now() - started;
      if (elapsed > limits.deadlineMs) {
        finish(new HttpError(408, 'body_timeout', `the request body did not arrive within ${limits.deadlineMs} ms (--body-timeout); send smaller batches or check the network`));
      } else if (limits.minRate > 0 && elapsed >= RATE_GRACE_MS && (wireBytes * 1000) / elapsed < limits.minRate) {
        finish(new HttpError(408, 'body_too_slow', `the request body arrived slower than ${limits.minRate} bytes/s (--min-body-rate); the connection is closed`));
      }
    }, 1000);
    pace.unref();
    // Its output is reused after each piece: the splitter copies a line cut at a piece's end.
    const compressed = encoding !== 'identity';
    const inflater = compressed
      ? new BodyInflater(encoding, (piece) => {
          onBody(piece);
          return !settled;
        })
      : null;
    const notEncoded = (err: unknown) => new HttpError(400, `not_${encoding}`, `body is not valid ${encoding}: ${(err as Error).message}`);

    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearInterval(pace);
      req.off('data', onWire);
      if (err) {
        // Stop reading; the handler answers with Connection: close, which ends the socket.
        req.pause();
        inflater?.close();
        reject(err);
      } else if (bodyBytes === 0) {
        reject(new HttpError(400, 'empty_body', 'empty body: send one JSON document per line'));
      } else {
        resolve();
      }
    };
    const end = () => {
      if (settled) return;
      try {
        inflater?.end();
      } catch (err) {
        return finish(notEncoded(err));
      }
      if (settled) return;
      try {
        lines.end();
      } catch (err) {
        return finish(err as Error);
      }
      finish(null);
    };
    const onBody = (chunk: Buffer) => {
      if (settled) return;
      bodyBytes += chunk.length;
      if (bodyBytes > maxBytes) return finish(tooLarge(maxBytes, compressed ? `after ${encoding} decompression` : ''));
      const covered = Math.min(prepaid, chunk.length);
      prepaid -= covered;
      if (chunk.length > covered && !ticket.reserve(chunk.length - covered)) {
        return finish(unavailable('the indexer holds as many batch bytes as it may; retry later', 1000, 'in_flight_bytes'));
      }
      try {
        lines.push(chunk, compressed);
      } catch (err) {
        finish(err as Error);
      }
    };
    const onWire = (chunk: Buffer) => {
      wireBytes += chunk.length;
      if (wireBytes > maxBytes) return finish(tooLarge(maxBytes, 'as sent'));
      if (!inflater) return onBody(chunk);
      try {
        inflater.push(chunk);
      } catch (err) {
        finish(notEncoded(err));
      }
    };

    req.on('data', onWire);
    req.on('end', end);
    req.on('error', () => finish(new ClientGoneError()));
    req.on('close', () => {
      if (!req.complete) finish(new ClientGoneError());
    });
  });
}
