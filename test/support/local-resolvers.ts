// Local resolvers for the tests of lookups through unix sockets, each in a mount namespace of its
// own so nothing on the machine starts using them: a tmpfs on /run holds the resolver's socket,
// and bind mounts give the namespace its own /etc/resolv.conf and /etc/nsswitch.conf.
//  - nscd: the real daemon from Debian (local-services/resolvers.ts), resolving through the
//    test's DNS server; clients are glibc's getent, which asks nscd before any NSS module.
//  - varlink: a small server speaking systemd-resolved's io.systemd.Resolve (NUL-ended JSON)
//    from a zone; the client is glibc's getent with the real nss-resolve module.
// Clients run inside the namespace through nsenter, which execs: the pid a test gets is the
// asking process's own. nsenter takes the resolver's root too (-r): entering a mount namespace
// resets the root to the namespace's, which is not the chroot a kernel matrix guest runs in.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLocalResolvers, type LocalResolvers } from '../../local-services/resolvers.js';
import { runChild, type ChildResult } from './kernel.js';

export const NSCD_SOCKET = '/run/nscd/socket';
export const VARLINK_SOCKET = '/run/systemd/resolve/io.systemd.Resolve';

/** name -> the canonical name (when it differs) and IPv4 addresses; other names are NXDOMAIN. */
export type VarlinkZone = Record<string, { canonical?: string; addresses: string[] }>;

const VARLINK_SERVER = `
const net = require('node:net');
const [path, zoneJson] = process.argv.slice(2);
const zone = JSON.parse(zoneJson);
const server = net.createServer((c) => {
  let buf = Buffer.alloc(0);
  c.on('error', () => {});
  c.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (let nul = buf.indexOf(0); nul >= 0; nul = buf.indexOf(0)) {
      const msg = JSON.parse(buf.subarray(0, nul).toString());
      buf = buf.subarray(nul + 1);
      const p = msg.parameters || {};
      const z = msg.method === 'io.systemd.Resolve.ResolveHostname' ? zone[String(p.name).toLowerCase()] : undefined;
      const reply = msg.method !== 'io.systemd.Resolve.ResolveHostname'
        ? { error: 'org.varlink.service.MethodNotImplemented', parameters: { method: msg.method } }
        : !z ? { error: 'io.systemd.Resolve.DNSError', parameters: { rcode: 3 } }
        : { parameters: { addresses: z.addresses.map((a) => ({ ifindex: 1, family: 2, address: a.split('.').map(Number) })), name: z.canonical || p.name, flags: 1 } };
      c.write(JSON.stringify(reply) + '\\0');
    }
  });
});
server.listen(path, () => process.stdout.write('varlink: ready\\n'));
`;

const NSCD_CONF = `debug-level 0
paranoia no
enable-cache passwd no
enable-cache group no
enable-cache services no
enable-cache netgroup no
enable-cache hosts yes
positive-time-to-live hosts 60
negative-time-to-live hosts 5
shared hosts no
persistent hosts no
check-files hosts no
`;

export interface ResolverNamespace {
  /** The resolver's process (nscd or the varlink server). */
  readonly resolverPid: number;
  /** Runs `args` inside the namespace, `env` added; resolves when it exits. */
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<ChildResult>;
  stop(): Promise<void>;
}

/** Why the resolvers cannot run here (the test skips, or fails in CI), or null. */
export function localResolversMissing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (mount namespaces)';
  return findLocalResolvers() ? null : 'nscd and nss-resolve are not unpacked: run npm test once (bootstrap fetches them), or node dist/local-services/resolvers.js --ensure';
}

/**
 * Starts a namespace running `kind`'s resolver. nscd resolves through the DNS server at
 * `dnsServer` (port 53: resolv.conf has no port); the varlink server answers from `zone`.
 */
export async function startResolverNamespace(kind: 'nscd' | 'varlink', o: { dnsServer?: string; zone?: VarlinkZone }): Promise<ResolverNamespace> {
  const r = findLocalResolvers() as LocalResolvers;
  const dir = mkdtempSync(join(tmpdir(), `procflow-${kind}-`));
  writeFileSync(join(dir, 'resolv.conf'), `nameserver ${o.dnsServer ?? '127.0.0.1'}\n`);
  writeFileSync(join(dir, 'nsswitch.conf'), kind === 'varlink' ? 'hosts: resolve [!UNAVAIL=return] files\n' : 'hosts: files dns\n');
  writeFileSync(join(dir, 'nscd.conf'), NSCD_CONF);
  writeFileSync(join(dir, 'varlink.js'), VARLINK_SERVER);
  const resolver = kind === 'nscd'
    ? `exec ${r.nscd} -d -f ${dir}/nscd.conf`
    : `exec ${process.execPath} ${dir}/varlink.js ${VARLINK_SOCKET} '${JSON.stringify(o.zone ?? {})}'`;
  // The shell sets the namespace up, then becomes the resolver: its pid is the resolver's.
  const script = [
    'set -e',
    'mount -t tmpfs -o mode=0755 tmpfs /run',
    'mkdir -p /run/nscd /run/systemd/resolve',
    `mount --bind ${dir}/resolv.conf /etc/resolv.conf`,
    `mount --bind ${dir}/nsswitch.conf /etc/nsswitch.conf`,
    resolver,
  ].join('\n');
  const child: ChildProcess = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const socket = kind === 'nscd' ? NSCD_SOCKET : VARLINK_SOCKET;
  const pid = child.pid!;
  // Ready when the socket exists inside the namespace (slow guests of the kernel matrix take a while).
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${kind} exited (${child.exitCode}): ${output}`);
    const probe = await runChild('nsenter', ['-t', String(pid), '-m', '-r', '-w', 'test', '-S', socket]);
    if (probe.code === 0) break;
    if (Date.now() > until) {
      const ls = await runChild('nsenter', ['-t', String(pid), '-m', '-r', '-w', 'ls', '-la', '/run', '/run/nscd', '/run/systemd/resolve']);
      child.kill('SIGKILL');
      throw new Error(`${kind}: ${socket} did not appear in 60 s; output: ${output}; ${ls.stdout}${ls.stderr}; probe: ${probe.stderr}`);
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  const env = kind === 'varlink' ? { LD_LIBRARY_PATH: r.nssDir } : {};
  return {
    resolverPid: pid,
    run: (args, extra = {}) => runChild('nsenter', ['-t', String(pid), '-m', '-r', '-w', ...args], { env: { ...process.env, ...env, ...extra } }),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((res) => child.once('exit', res));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
