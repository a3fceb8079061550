// How the writer reacts to a failed Elasticsearch request: retry it (429, 5xx, connection
// trouble, timeouts), or give up because retrying the same request cannot help.
import { errors } from '@elastic/elasticsearch';
import { unavailable, type HttpError } from './http-error.js';

export type FailureClass =
  | { retry: true; unreachable: boolean; message: string }
  | { retry: false; message: string };

export function classifyRequestError(err: unknown): FailureClass {
  if (err instanceof errors.ResponseError) {
    const status = err.statusCode ?? 0;
    const message = `Elasticsearch answered ${status}: ${err.message}`;
    return status === 429 || status >= 500 ? { retry: true, unreachable: false, message } : { retry: false, message };
  }
  if (err instanceof errors.ConnectionError || err instanceof errors.NoLivingConnectionsError) {
    return { retry: true, unreachable: true, message: `Elasticsearch unreachable: ${err.message}` };
  }
  if (err instanceof errors.TimeoutError) return { retry: true, unreachable: false, message: `Elasticsearch timed out: ${err.message}` };
  if (err instanceof errors.DeserializationError) return { retry: true, unreachable: false, message: `Elasticsearch sent an unreadable answer: ${err.message}` };
  throw err;
}

/**
 * Elasticsearch refused the indexer itself (wrong credentials, missing privileges): no
 * document is at fault, so nothing is dead-lettered; the agent keeps the batch (503) while
 * the operator fixes the indexer's settings.
 */
export const isAuthStatus = (status: number): boolean => status === 401 || status === 403;

export function authRefusal(status: number, detail: string, retryAfterMs: number): HttpError {
  return unavailable(
    `Elasticsearch refused the indexer's credentials or privileges (HTTP ${status}: ${detail}); ` +
      'check --es-username/--es-password or --es-api-key and that this user may write procflow-* indices',
    retryAfterMs,
    'elasticsearch_auth',
  );
}

/** Item statuses worth retrying: the cluster was busy or broken, the document is fine. */
export const isRetryableItemStatus = (status: number): boolean => status === 429 || status >= 500;
