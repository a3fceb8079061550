// Debian packages of another suite (bullseye, trixie, ...) without touching the system's apt:
// each suite gets an apt configuration of its own (sources list, state, cache, no config parts)
// under a cache folder, handed to apt-get through APT_CONFIG, which apt reads before anything
// else, so /etc/apt's sources and snippets never take part.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MatrixError } from './errors.js';

const MIRROR = 'http://deb.debian.org/debian';
// debian-archive-keyring of bookworm carries the bullseye, bookworm and trixie archive keys.
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface DebianPackage {
  name: string;
  version: string;
  /** Size of the .deb in bytes, from the index. */
  size: number;
}

/** An apt bound to one suite, with all of its state under `dir`. */
export class SuiteApt {
  readonly suite: string;
  readonly dir: string;
  private readonly configFile: string;
  private updated = false;
  private configured = false;

  constructor(suite: string, dir: string) {
    this.suite = suite;
    this.dir = dir;
    this.configFile = join(dir, 'etc', 'apt.conf');
  }

  /** Fetch the suite's package index (once per instance). */
  update(): void {
    if (this.updated) return;
    this.apt('apt-get', ['update'], `apt-get update for ${this.suite}`);
    this.updated = true;
  }

  /** The package a (meta) package depends on first, e.g. linux-image-amd64 -> linux-image-6.1.0-41-amd64. */
  firstDependency(meta: string): string {
    const out = this.apt('apt-cache', ['depends', meta], `apt-cache depends ${meta}`);
    const dep = /^\s*Depends:\s*(\S+)/m.exec(out)?.[1];
    if (!dep) throw new MatrixError(`${this.suite}: ${meta} depends on nothing`, `check ${MIRROR} ${this.suite}`);
    return dep;
  }

  /** The candidate version of `name`, or null when the suite has no such package. */
  find(name: string): DebianPackage | null {
    const r = this.run('apt-cache', ['show', '--no-all-versions', name]);
    if (r.status !== 0) return null;
    const field = (f: string) => new RegExp(`^${f}: (.+)$`, 'm').exec(r.stdout)?.[1]?.trim();
    const version = field('Version');
    if (!version) return null;
    return { name, version, size: Number(field('Size') ?? 0) };
  }

  /** Download `pkg` into `destDir`; returns the .deb's path. */
  download(pkg: DebianPackage, destDir: string): string {
    mkdirSync(destDir, { recursive: true });
    this.apt('apt-get', ['download', `${pkg.name}=${pkg.version}`], `apt-get download ${pkg.name}`, destDir);
    // apt-get names the file <name>_<version with ':' escaped>_<arch>.deb.
    const file = join(destDir, `${pkg.name}_${pkg.version.replace(/:/g, '%3a')}_amd64.deb`);
    if (!existsSync(file)) throw new MatrixError(`apt-get download ${pkg.name} left no ${file}`);
    return file;
  }

  private writeConfig(): void {
    if (this.configured) return;
    if (!existsSync(KEYRING)) {
      throw new MatrixError(`no Debian archive keyring at ${KEYRING}`, 'apt-get install debian-archive-keyring');
    }
    for (const d of ['etc/apt.conf.d', 'etc/sources.list.d', 'etc/preferences.d', 'etc/trusted.gpg.d', 'state/lists/partial', 'cache/archives/partial']) {
      mkdirSync(join(this.dir, d), { recursive: true });
    }
    const status = join(this.dir, 'state', 'status');
    if (!existsSync(status)) writeFileSync(status, '');
    writeFileSync(join(this.dir, 'etc', 'sources.list'), `deb [signed-by=${KEYRING}] ${MIRROR} ${this.suite} main\n`);
    const d = (p: string) => JSON.stringify(join(this.dir, p));
    const lines = [
      `Dir::Etc::Parts ${d('etc/apt.conf.d')};`,
      'Dir::Etc::Main "/dev/null";',
      `Dir::Etc::SourceList ${d('etc/sources.list')};`,
      `Dir::Etc::SourceParts ${d('etc/sources.list.d')};`,
      `Dir::Etc::Preferences ${d('etc/preferences')};`,
      `Dir::Etc::PreferencesParts ${d('etc/preferences.d')};`,
      `Dir::Etc::TrustedParts ${d('etc/trusted.gpg.d')};`,
      `Dir::State ${d('state')};`,
      `Dir::State::status ${d('state/status')};`,
      `Dir::Cache ${d('cache')};`,
      'APT::Architecture "amd64";',
      'APT::Architectures { "amd64"; };',
      'Acquire::Languages "none";',
      'Acquire::Retries "3";',
    ];
    // The download lands in our own directory, which apt's _apt sandbox user cannot write.
    if (process.getuid?.() === 0) lines.push('APT::Sandbox::User "root";');
    writeFileSync(this.configFile, `${lines.join('\n')}\n`);
    this.configured = true;
  }

  private run(cmd: string, args: string[], cwd?: string) {
    this.writeConfig();
    return spawnSync(cmd, ['-q', ...args], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, APT_CONFIG: this.configFile, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' },
    });
  }

  private apt(cmd: string, args: string[], what: string, cwd?: string): string {
    const r = this.run(cmd, args, cwd);
    if (r.error || r.status !== 0) {
      const detail = r.error ? r.error.message : (r.stderr || r.stdout).trim().split('\n').slice(-6).join('\n');
      throw new MatrixError(`${what} failed: ${detail}`, r.error ? 'install apt (this needs a Debian host)' : `check that ${MIRROR} is reachable`);
    }
    return r.stdout;
  }
}
