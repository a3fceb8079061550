// The agent's local HTTP port: /metrics (Prometheus), /healthz, and /v1/events, the live
// process event stream `procflow events` reads (NDJSON, one document a line; query parameters
// namespace, pod, binary filter on the agent side).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Agent } from './agent.js';
import { ConfigError } from '../common/errors.js';
import { EventFilter } from './process-events.js';

export interface AgentServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export async function startAgentServer(agent: Agent, hostPort: string, extraHealth: () => Record<string, unknown> = () => ({})): Promise<AgentServer> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
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
        const body = { status: ok ? 'ok' : 'stalled', lastFlush: new Date(agent.stats.lastFlushMs).toISOString(), cacheSize: agent.cache.size, ...extraHealth() };
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
  const m = /^(.*):(\d+)$/.exec(hostPort)!;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ConfigError(
      `agent: cannot listen on ${hostPort} for /metrics, /healthz and /v1/events: ${err.code ?? err.message}`,
      err.code === 'EADDRINUSE' ? 'another process (another agent?) holds the port: stop it or pick another --listen HOST:PORT (PROCFLOW_LISTEN)' : 'pick a local address for --listen HOST:PORT (PROCFLOW_LISTEN)',
    )));
    server.listen(Number(m[2]), host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  return {
    server,
    url,
    close: () => new Promise((resolve) => {
      agent.hub.close();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
