// Reads one request body into memory, bounded: Content-Length is checked before reading, and
// both the bytes on the wire and the bytes after gzip decompression are counted while reading,
// so neither a large upload nor a gzip bomb can exceed the limit.
import type { IncomingMessage } from 'node:http';
import { createGunzip, type Gunzip } from 'node:zlib';
import { HttpError, unavailable } from './http-error.js';
import type { Ticket } from './in-flight.js';

export interface BodyLimits {
  maxBytes: number;
  /** Accounts decompressed bytes against the indexer-wide in-flight budget. */
  ticket: Ticket;
}

/** The client went away before sending the whole body; there is nobody to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('ingest: the client closed the connection before the body was complete');
    this.name = 'ClientGoneError';
  }
}

const tooLarge = (max: number, what: string) =>
  new HttpError(413, 'body_too_large', `request body ${what} exceeds the limit of ${max} bytes; send smaller batches`, { limit: max });

/** Throws HttpError for what can be judged from the headers alone. */
export function checkBodyHeaders(req: IncomingMessage, maxBytes: number): { gzip: boolean } {
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > maxBytes) throw tooLarge(maxBytes, `of ${length} bytes (Content-Length)`);
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'gzip' || encoding === 'x-gzip') return { gzip: true };
  if (encoding === 'identity' || encoding === '') return { gzip: false };
  throw new HttpError(415, 'unsupported_encoding', `Content-Encoding ${JSON.stringify(encoding)} is not supported; send gzip or no encoding`);
}

export function readBody(req: IncomingMessage, gzip: boolean, limits: BodyLimits): Promise<Buffer> {
  const { maxBytes, ticket } = limits;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wireBytes = 0;
    let bodyBytes = 0;
    let settled = false;
    const gunzip: Gunzip | null = gzip ? createGunzip() : null;

    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      req.off('data', onWire);
      if (err) {
        // Stop reading; the handler answers with Connection: close, which ends the socket.
        req.pause();
        gunzip?.destroy();
        chunks.length = 0;
        reject(err);
      } else if (bodyBytes === 0) {
        reject(new HttpError(400, 'empty_body', 'empty body: send one JSON document per line'));
      } else {
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bodyBytes));
      }
    };
    const onBody = (chunk: Buffer) => {
      if (settled) return;
      bodyBytes += chunk.length;
      if (bodyBytes > maxBytes) return finish(tooLarge(maxBytes, gzip ? 'after gzip decompression' : ''));
      if (!ticket.reserve(chunk.length)) {
        return finish(unavailable('the indexer holds as many batch bytes as it may; retry later', 1000, 'in_flight_bytes'));
      }
      chunks.push(chunk);
    };
    const onWire = (chunk: Buffer) => {
      wireBytes += chunk.length;
      if (wireBytes > maxBytes) return finish(tooLarge(maxBytes, ''));
      if (!gunzip) return onBody(chunk);
      // Backpressure: stop reading the socket while zlib catches up.
      if (!gunzip.write(chunk)) {
        req.pause();
        gunzip.once('drain', () => settled || req.resume());
      }
    };

    if (gunzip) {
      gunzip.on('data', onBody);
      gunzip.on('error', (err) => finish(new HttpError(400, 'not_gzip', `body is not valid gzip: ${err.message}`)));
      gunzip.on('end', () => finish(null));
    }
    req.on('data', onWire);
    req.on('end', () => (gunzip ? gunzip.end() : finish(null)));
    req.on('error', () => finish(new ClientGoneError()));
    req.on('close', () => {
      if (!req.complete) finish(new ClientGoneError());
    });
  });
}
