// The agent's local HTTP port: /metrics (Prometheus), /healthz, and /v1/events, the live
// process event stream `procflow events` reads (NDJSON, one document a line; query parameters
// namespace, pod, binary filter on the agent side).
// Events carry process arguments and metrics name the host's processes, so both need a bearer
// token from --api-token-file when one is set (and run.ts refuses an address other than
// loopback without one). /healthz stays open for probes, and shows only the status to callers
// without a token. A Unix socket (--listen unix:PATH) is reachable only by its owner (0600).
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Agent } from './agent.js';
import { AuthThrottle, TokenFile } from '../common/bearer-tokens.js';
import { unixSocketPath } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { EventFilter } from './process/process-events.js';

export interface AgentServer {
  server: Server;
  /** http://HOST:PORT, or unix:PATH for a socket. */
  url: string;
  close(): Promise<void>;
}

/** `listen` and `api_token_file` are the settings of those names (agent/config.ts). */
export interface AgentServerOptions {
  /** HOST:PORT or unix:PATH. */
  listen: string;
  /** Tokens /metrics and /v1/events require; empty = none required. */
  api_token_file: string;
  log: Logger;
  /** More /healthz fields, shown to authorized callers. */
  extraHealth?: () => Record<string, unknown>;
}

/** A socket file left by an agent that did not stop cleanly is removed; a live one, or any other file, is not. */
async function clearStaleSocket(path: string, listen: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new ConfigError(`agent: ${path} (--listen ${listen}) exists and is not a socket`, 'pick another path for --listen unix:PATH (PROCFLOW_LISTEN), or move that file away');
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path, () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new ConfigError(`agent: another process listens on ${listen}`, 'stop it (another agent?) or pick another --listen unix:PATH (PROCFLOW_LISTEN)');
  unlinkSync(path);
}

/** Wrong API tokens one address may send per minute before it is refused without a check. */
const API_AUTH_FAILURES_PER_MINUTE = 10;

export async function startAgentServer(agent: Agent, o: AgentServerOptions): Promise<AgentServer> {
  const tokens = o.api_token_file ? new TokenFile(o.api_token_file, { what: 'API token file', flag: '--api-token-file', log: o.log }) : undefined;
  const throttle = new AuthThrottle(API_AUTH_FAILURES_PER_MINUTE);
  // A wrong token counts against its address; an address out of tries is refused unchecked.
  const authorized = (req: IncomingMessage): boolean => {
    if (!tokens) return true;
    const address = req.socket.remoteAddress ?? 'unix';
    if (throttle.retryAfterMs(address) > 0) return false;
    if (tokens.accepts(req.headers.authorization)) return true;
    if (req.headers.authorization !== undefined) throttle.failed(address);
    return false;
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (url.pathname !== '/healthz' && !authorized(req)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="procflow-agent"', 'content-type': 'text/plain' })
        .end('unauthorized: send Authorization: Bearer TOKEN with a token of the agent\'s --api-token-file\n');
      return;
    }
    switch (url.pathname) {
      case '/metrics':
        agent.metrics.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': agent.metrics.registry.contentType }).end(text),
          (err: Error) => res.writeHead(500).end(err.message),
        );
        return;
      case '/healthz': {
        const ok = agent.healthy();
        const status = { status: ok ? 'ok' : 'stalled', lastFlush: new Date(agent.stats.lastFlushMs).toISOString() };
        // Error texts and counts are for the operator, not for whoever can reach the port.
        const body = authorized(req) ? { ...status, cacheSize: agent.cache.size, ...o.extraHealth?.() } : status;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
        return;
      }
      case '/v1/events': {
        let filter: EventFilter;
        try {
          filter = new EventFilter({
            namespaces: url.searchParams.getAll('namespace'),
            podRegex: url.searchParams.get('pod') ?? undefined,
            binaryRegex: url.searchParams.get('binary') ?? undefined,
          });
        } catch (err) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
        res.flushHeaders();
        agent.hub.subscribe(res, filter);
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /v1/events\n');
    }
  });
  const socketPath = unixSocketPath(o.listen);
  try {
    if (socketPath) await clearStaleSocket(socketPath, o.listen);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new ConfigError(
        `agent: cannot listen on ${o.listen} for /metrics, /healthz and /v1/events: ${err.code ?? err.message}`,
        err.code === 'EADDRINUSE' ? 'another process (another agent?) holds the port: stop it or pick another --listen HOST:PORT (PROCFLOW_LISTEN)' : 'pick a local address for --listen HOST:PORT or unix:PATH (PROCFLOW_LISTEN)',
      )));
      if (socketPath) {
        // The socket is created by bind inside listen(), synchronously: with this umask it is
        // never reachable by others, not even for a moment before the chmod below.
        const umask = process.umask(0o177);
        try {
          server.listen(socketPath, () => resolve());
        } finally {
          process.umask(umask);
        }
      } else {
        const m = /^(.*):(\d+)$/.exec(o.listen)!;
        server.listen(Number(m[2]), m[1]!.replace(/^\[|\]$/g, ''), () => resolve());
      }
    });
    if (socketPath) chmodSync(socketPath, 0o600);
  } catch (err) {
    tokens?.stop();
    throw err;
  }
  const addr = server.address() as AddressInfo | string;
  const url = typeof addr === 'string' ? `unix:${addr}` : `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  return {
    server,
    url,
    close: () => new Promise((resolve) => {
      agent.hub.close();
      tokens?.stop();
      server.close(() => {
        // net removes the socket file itself; this covers a file it could not remove.
        if (socketPath) {
          try {
            unlinkSync(socketPath);
          } catch {
            // already gone
          }
        }
        resolve();
      });
      server.closeAllConnections();
    }),
  };
}
