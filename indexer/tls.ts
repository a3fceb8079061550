// The https listener: certificate, key and (for mTLS) the client CA read from files and read
// again when they change, so a renewed certificate is served without a restart. A renewal
// replaces the files one at a time: until certificate and key match again, the previous pair
// stays in use.
import { createServer, type Server, type ServerOptions } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { watchFile, type WatchedFile } from '../common/watched-file.js';

export interface TlsFiles {
  tls_cert_file: string;
  tls_key_file: string;
  tls_client_ca_file: string;
  headers_timeout: number;
}

export interface TlsListener {
  server: Server;
  stop(): void;
}

type Material = { cert: Buffer; key: Buffer; ca?: Buffer };

export function createTlsServer(
  o: TlsFiles,
  httpOptions: Pick<ServerOptions, 'connectionsCheckingInterval' | 'headersTimeout' | 'requestTimeout'>,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  log: Logger,
  reloadIntervalMs = 2000,
): TlsListener {
  const latest: Partial<Material> = {};
  let server: Server | null = null;
  const apply = () => {
    if (!server) return;
    try {
      const next = { cert: latest.cert!, key: latest.key!, ...(latest.ca ? { ca: latest.ca } : {}) };
      createSecureContext(next); // throws while certificate and key do not match
      server.setSecureContext(next);
      log.info('indexer: TLS certificate reloaded');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'indexer: the TLS files changed but do not form a usable pair yet; still serving the previous certificate');
    }
  };
  const watch = (path: string, what: string, flag: string, key: keyof Material): WatchedFile =>
    watchFile(path, {
      what,
      flag,
      intervalMs: reloadIntervalMs,
      onChange: (contents) => {
        latest[key] = contents;
        apply();
      },
      onError: (err) => log.error({ err: err.message, file: path }, `indexer: cannot read the changed ${what}; still serving the previous one`),
    });
  const watched = [
    watch(o.tls_cert_file, 'TLS certificate', '--tls-cert-file', 'cert'),
    watch(o.tls_key_file, 'TLS key', '--tls-key-file', 'key'),
    ...(o.tls_client_ca_file ? [watch(o.tls_client_ca_file, 'client CA bundle', '--tls-client-ca-file', 'ca')] : []),
  ];
  try {
    createSecureContext({ cert: latest.cert, key: latest.key, ...(latest.ca ? { ca: latest.ca } : {}) });
  } catch (err) {
    watched.forEach((w) => w.stop());
    throw new ConfigError(`the TLS files cannot be used: ${(err as Error).message}`, 'give a PEM certificate (--tls-cert-file), its own private key (--tls-key-file) and a PEM CA bundle (--tls-client-ca-file)');
  }
  server = createServer(
    {
      ...httpOptions,
      cert: latest.cert,
      key: latest.key,
      ...(latest.ca ? { ca: latest.ca, requestCert: true, rejectUnauthorized: true } : {}),
      // A client that never finishes its handshake holds a socket: as long as headers may take.
      handshakeTimeout: o.headers_timeout,
      minVersion: 'TLSv1.2',
    },
    handler,
  );
  return { server, stop: () => watched.forEach((w) => w.stop()) };
}
