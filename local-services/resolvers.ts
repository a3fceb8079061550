// The local resolvers the DNS tests drive: nscd, and glibc's nss-resolve module (the client of
// systemd-resolved's varlink service), from Debian's packages. They are unpacked into
// <cache>/resolvers, never installed: an installed nscd would start serving every lookup on
// the machine. The tests run them inside a mount namespace of their own.
//
// `node dist/local-services/resolvers.js --ensure` fetches them (bootstrap runs it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeError, ProcflowError } from '../common/errors.js';
import { cacheDir, type Progress } from './elasticsearch.js';

const PACKAGES = ['nscd', 'libnss-resolve'];

export interface LocalResolvers {
  /** The nscd daemon. */
  nscd: string;
  /** A directory holding libnss_resolve.so.2, for LD_LIBRARY_PATH. */
  nssDir: string;
}

const root = () => join(cacheDir(), 'resolvers');
const stamp = () => join(root(), 'ready');

/** The unpacked resolvers, or null when they are not there yet (never fetches). */
export function findLocalResolvers(): LocalResolvers | null {
  const found = { nscd: join(root(), 'usr/sbin/nscd'), nssDir: join(root(), 'usr/lib/x86_64-linux-gnu') };
  return existsSync(stamp()) && existsSync(found.nscd) && existsSync(join(found.nssDir, 'libnss_resolve.so.2')) ? found : null;
}

function run(cmd: string, args: string[], cwd: string): { ok: boolean; detail: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  return { ok: !r.error && r.status === 0, detail: r.error?.message ?? (r.stderr || r.stdout).trim().split('\n').slice(-4).join('\n') };
}

/** Downloads the packages with apt and unpacks them into <cache>/resolvers, once. */
export function ensureLocalResolvers(progress: Progress = () => {}): LocalResolvers {
  const found = findLocalResolvers();
  if (found) return found;
  const work = mkdtempSync(join(tmpdir(), 'procflow-resolvers-'));
  try {
    progress(`fetching ${PACKAGES.join(' and ')} from Debian's archive (unpacked into ${root()}, not installed)`);
    let got = run('apt-get', ['download', ...PACKAGES], work);
    if (!got.ok) {
      // An old package index names versions the mirror no longer has.
      run('apt-get', ['update', '-qq'], work);
      got = run('apt-get', ['download', ...PACKAGES], work);
    }
    if (!got.ok) {
      throw new ProcflowError('LOCAL_RESOLVERS', `resolvers: apt-get download ${PACKAGES.join(' ')} failed: ${got.detail}`,
        'check that apt reaches a Debian mirror (apt-get update), then run again');
    }
    rmSync(root(), { recursive: true, force: true });
    mkdirSync(root(), { recursive: true });
    for (const deb of readdirSync(work).filter((f) => f.endsWith('.deb'))) {
      const x = run('dpkg-deb', ['-x', join(work, deb), root()], work);
      if (!x.ok) throw new ProcflowError('LOCAL_RESOLVERS', `resolvers: unpacking ${deb} failed: ${x.detail}`, `remove ${root()} and run again`);
    }
    // Written last: an interrupted fetch is redone, never half-used.
    writeFileSync(stamp(), `${PACKAGES.join(' ')}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const ready = findLocalResolvers();
  if (!ready) throw new ProcflowError('LOCAL_RESOLVERS', `resolvers: ${root()} lacks nscd or libnss_resolve.so.2 after unpacking`, `remove ${root()} and run again`);
  return ready;
}

// `node dist/local-services/resolvers.js --ensure`: fetch them ahead of the tests.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv.includes('--ensure')) {
  const say = (m: string) => process.stderr.write(`procflow: ${m}\n`);
  try {
    const r = ensureLocalResolvers(say);
    say(`local resolvers ready: ${r.nscd}, ${r.nssDir}/libnss_resolve.so.2`);
  } catch (err) {
    say(describeError(err));
    process.exitCode = 1;
  }
}
