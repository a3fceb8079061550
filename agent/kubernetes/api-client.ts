// A small client for the Kubernetes API server: GET as JSON and watch streams as JSON lines,
// over https with the cluster's CA and the service account token. The token file is read again
// for every request because projected service account tokens rotate (about hourly).
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { ProcflowError } from '../../common/errors.js';
import { isCertificateError, openRequest, readBody } from '../../common/http-client.js';
import { LineSplitter } from '../../common/lines.js';

export interface KubeApiSettings {
  /** API server URL; empty = in cluster, from KUBERNETES_SERVICE_HOST and _PORT. */
  apiUrl: string;
  /** Bearer token file; empty = no Authorization header (e.g. behind `kubectl proxy`). */
  tokenFile: string;
  /** CA bundle of the API server; empty = the system's CAs. */
  caFile: string;
}

/** The API server answered with an error status (its Status object's reason and message). */
export class KubeApiError extends ProcflowError {
  constructor(readonly status: number, readonly reason: string, message: string) {
    super('KUBERNETES_API', `kubernetes: ${message}`, hintFor(status));
    this.name = 'KubeApiError';
  }
}

function hintFor(status: number): string | undefined {
  if (status === 401) return 'the token was refused: check --kubernetes-token-file (PROCFLOW_KUBERNETES_TOKEN_FILE) or the service account';
  if (status === 403) return 'the agent\'s service account may not list and watch what it reads: bind it to a ClusterRole with list and watch on pods, services and discovery.k8s.io endpointslices (deploy/kubernetes/agent-rbac.yaml)';
  return undefined;
}

function inClusterUrl(env: NodeJS.ProcessEnv): string | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return undefined;
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export class KubeApi {
  readonly base: URL;
  private readonly ca: Buffer | undefined;

  /** Resolves the settings now, so a missing service account fails at start, not later. */
  constructor(private readonly s: KubeApiSettings, env: NodeJS.ProcessEnv = process.env) {
    const url = s.apiUrl || inClusterUrl(env);
    if (!url) {
      throw new ProcflowError('KUBERNETES_NOT_CONFIGURED', 'kubernetes: --kubernetes is on, but there is no API server to ask: KUBERNETES_SERVICE_HOST is not set and --kubernetes-api-url is empty',
        'run the agent in a pod (the DaemonSet in deploy/kubernetes/), or pass --kubernetes-api-url, or leave --kubernetes off');
    }
    this.base = new URL(url);
    this.ca = s.caFile && this.base.protocol === 'https:' ? readSetupFile(s.caFile, 'CA bundle', '--kubernetes-ca-file') : undefined;
    if (s.tokenFile) this.token();
  }

  private token(): string | undefined {
    if (!this.s.tokenFile) return undefined;
    return readSetupFile(this.s.tokenFile, 'token', '--kubernetes-token-file').toString('utf8').trim();
  }

  /** Opens a GET; resolves with the response once its headers arrive. */
  private async open(path: string, timeoutMs: number, signal?: AbortSignal): Promise<IncomingMessage> {
    const token = this.token();
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      return await openRequest(new URL(path, this.base), { headers, ca: this.ca, timeoutMs, signal });
    } catch (err) {
      throw wrapNetworkError(err as Error, this.base.origin);
    }
  }

  /** GET a JSON document; error statuses become KubeApiError. */
  async getJson<T>(path: string, timeoutMs = 30_000, signal?: AbortSignal): Promise<T> {
    const res = await this.open(path, timeoutMs, signal);
    const body = await readBody(res);
    if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, body);
    try {
      return JSON.parse(body) as T;
    } catch {
      throw new ProcflowError('KUBERNETES_API', `kubernetes: ${path} answered with something that is not JSON`, 'check --kubernetes-api-url points at the API server');
    }
  }

  /**
   * Streams a watch: calls onEvent for every JSON line until the server ends the stream (resolves)
   * or the connection fails or goes silent for idleMs (rejects).
   */
  async watch(path: string, onEvent: (ev: unknown) => void, idleMs: number, signal?: AbortSignal): Promise<void> {
    const res = await this.open(path, idleMs, signal);
    if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, await readBody(res));
    const lines = new LineSplitter((raw) => {
      const line = raw.toString('utf8').trim();
      if (!line) return;
      let ev: unknown;
      try {
        ev = JSON.parse(line);
      } catch {
        throw new ProcflowError('KUBERNETES_API', 'kubernetes: the watch stream carried a line that is not JSON');
      }
      onEvent(ev);
    });
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: Buffer) => {
        try {
          lines.push(chunk);
        } catch (err) {
          res.destroy();
          reject(err);
        }
      });
      res.on('end', resolve);
      res.on('error', (err) => reject(wrapNetworkError(err, this.base.origin)));
      res.on('aborted', () => reject(new ProcflowError('KUBERNETES_API', 'kubernetes: the watch connection was cut')));
    });
  }
}

function readSetupFile(path: string, what: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ProcflowError('KUBERNETES_NOT_CONFIGURED', `kubernetes: cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      `mount the service account (automountServiceAccountToken) or pass ${flag}`);
  }
}

function statusError(status: number, body: string): KubeApiError {
  let reason = '';
  let message = body.slice(0, 300);
  try {
    const s = JSON.parse(body) as { reason?: string; message?: string };
    reason = s.reason ?? '';
    message = s.message ?? message;
  } catch {
    // not a Status object: keep the start of the body
  }
  return new KubeApiError(status, reason, `API server answered ${status}${reason ? ` ${reason}` : ''}: ${message}`);
}

function wrapNetworkError(err: Error, origin: string): Error {
  if (err instanceof ProcflowError || err.name === 'AbortError') return err;
  return new ProcflowError('KUBERNETES_UNREACHABLE', `kubernetes: ${origin} unreachable: ${err.message}`,
    isCertificateError(err) ? 'the API server certificate is not trusted: pass its CA with --kubernetes-ca-file' : undefined, { cause: err });
}
