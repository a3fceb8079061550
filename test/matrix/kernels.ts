// The kernels of the matrix, the one list: Debian's own kernel packages of each release users
// run, fetched once and cached under /var/cache/procflow/kernels/<suite>/ (the .deb, vmlinuz,
// the kernel config, the release string and the few modules the guest loads). The host's own
// kernel is the matrix's last row; run-matrix handles it without qemu.
//
// `node dist/test/matrix/kernels.js --ensure [ids...]` fetches ahead of the tests (bootstrap).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeError } from '../../common/errors.js';
import { SuiteApt } from './apt.js';
import { MatrixError } from './errors.js';
import { ModuleTree } from './modules.js';

export interface GuestKernel {
  /** Short id used on the command line and in results.json, e.g. '5.10'. */
  id: string;
  /** Debian suite whose kernel this is. */
  suite: string;
  distro: string;
  /** The meta package that names the suite's current kernel image. */
  meta: string;
}

export const KERNELS: readonly GuestKernel[] = [
  { id: '5.10', suite: 'bullseye', distro: 'Debian 11', meta: 'linux-image-amd64' },
  { id: '6.1', suite: 'bookworm', distro: 'Debian 12', meta: 'linux-image-amd64' },
  { id: '6.12', suite: 'trixie', distro: 'Debian 13', meta: 'linux-image-amd64' },
];

/** The id of the matrix row that runs on this machine's kernel, outside qemu. */
export const HOST_KERNEL_ID = 'host';

/**
 * Modules the guest loads at boot: the 9p root and results shares, the NIC, and an entropy
 * source (node's start-up reads random bytes; a fresh TCG guest has little entropy).
 */
const BOOT_MODULES = ['9p', '9pnet_virtio', 'virtio_pci', 'virtio_net', 'virtio_rng'];
/** Loaded when the kernel has them: veth pairs for tests that use another network namespace. */
const EXTRA_MODULES = ['veth'];

export interface FetchedKernel extends GuestKernel {
  /** The Debian package the image came from, e.g. linux-image-5.10.0-32-amd64-unsigned. */
  package: string;
  version: string;
  /** `uname -r` of the kernel, e.g. 5.10.0-32-amd64. */
  release: string;
  deb: string;
  vmlinuz: string;
  /** Kernel build config, to see what the kernel was built with. */
  config: string;
  /** Root of the cached module subset. */
  modulesDir: string;
  /** Module files relative to modulesDir, dependencies first (the guest loads them in this order). */
  modules: string[];
  /** BOOT_MODULES + EXTRA_MODULES the subset was resolved for. */
  wanted: string[];
}

export function kernelCacheDir(): string {
  if (process.env.PROCFLOW_KERNEL_CACHE) return process.env.PROCFLOW_KERNEL_CACHE;
  return process.getuid?.() === 0 ? '/var/cache/procflow/kernels' : join(homedir(), '.cache', 'procflow', 'kernels');
}

export function kernelById(id: string): GuestKernel {
  const k = KERNELS.find((x) => x.id === id);
  if (!k) throw new MatrixError(`unknown kernel '${id}'`, `choose from ${[...KERNELS.map((x) => x.id), HOST_KERNEL_ID].join(', ')}`);
  return k;
}

const wantedModules = () => [...BOOT_MODULES, ...EXTRA_MODULES];
const recordFile = (k: GuestKernel) => join(kernelCacheDir(), k.suite, 'kernel.json');

function readRecord(k: GuestKernel): FetchedKernel | null {
  try {
    return JSON.parse(readFileSync(recordFile(k), 'utf8')) as FetchedKernel;
  } catch {
    return null;
  }
}

function isComplete(r: FetchedKernel): boolean {
  return existsSync(r.vmlinuz) && r.modules.every((m) => existsSync(join(r.modulesDir, m))) && r.wanted.join() === wantedModules().join();
}

/** The cached kernel, or null when it was never fetched (no network, no apt). */
export function cachedKernel(k: GuestKernel): FetchedKernel | null {
  const r = readRecord(k);
  return r && isComplete(r) ? r : null;
}

function run(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.error || r.status !== 0) {
    throw new MatrixError(`${what} failed: ${r.error?.message ?? r.stderr.trim().split('\n').slice(-4).join('\n')}`, `is ${cmd} installed?`);
  }
}

/** Unpack `deb` and keep what the guest needs; returns the record (not yet written). */
function extract(k: GuestKernel, pkg: { name: string; version: string }, deb: string): FetchedKernel {
  const dir = join(kernelCacheDir(), k.suite);
  const unpacked = join(dir, 'unpack.tmp');
  rmSync(unpacked, { recursive: true, force: true });
  run('dpkg-deb', ['-x', deb, unpacked], `dpkg-deb -x ${deb}`);
  try {
    // Since trixie the modules live under /usr/lib/modules.
    const modulesRoot = [join(unpacked, 'lib', 'modules'), join(unpacked, 'usr', 'lib', 'modules')].find((d) => existsSync(d));
    const release = modulesRoot ? readdirSync(modulesRoot)[0] : undefined;
    if (!modulesRoot || !release) throw new MatrixError(`${pkg.name} has no lib/modules/<release>`, 'the kernel list must name a kernel image package');
    const bootDir = join(unpacked, 'boot');
    if (!existsSync(join(bootDir, `vmlinuz-${release}`))) throw new MatrixError(`${pkg.name} has no boot/vmlinuz-${release}`);
    const tree = new ModuleTree(join(modulesRoot, release));
    const modules = tree.closure(BOOT_MODULES, EXTRA_MODULES);

    const modulesDir = join(dir, 'modules');
    rmSync(modulesDir, { recursive: true, force: true });
    for (const m of modules) {
      mkdirSync(dirname(join(modulesDir, m)), { recursive: true });
      copyFileSync(join(tree.dir, m), join(modulesDir, m));
    }
    for (const f of ['modules.builtin', 'modules.order']) if (existsSync(join(tree.dir, f))) copyFileSync(join(tree.dir, f), join(modulesDir, f));
    const vmlinuz = join(dir, 'vmlinuz');
    const config = join(dir, 'config');
    copyFileSync(join(bootDir, `vmlinuz-${release}`), vmlinuz);
    copyFileSync(join(bootDir, `config-${release}`), config);
    writeFileSync(join(dir, 'release'), `${release}\n`);
    return { ...k, package: pkg.name, version: pkg.version, release, deb, vmlinuz, config, modulesDir, modules, wanted: wantedModules() };
  } finally {
    rmSync(unpacked, { recursive: true, force: true });
  }
}

/**
 * The kernel, fetched and unpacked on first use. Cached: no network when kernel.json and its
 * files are in place; a changed module list is re-extracted from the kept .deb.
 */
export function ensureKernel(k: GuestKernel, progress: (m: string) => void = () => {}): FetchedKernel {
  const cached = cachedKernel(k);
  if (cached) return cached;
  const dir = join(kernelCacheDir(), k.suite);
  mkdirSync(dir, { recursive: true });
  const previous = readRecord(k);
  let pkg: { name: string; version: string };
  let deb: string;
  if (previous && existsSync(previous.deb)) {
    pkg = { name: previous.package, version: previous.version };
    deb = previous.deb;
    progress(`re-extracting ${k.suite} ${pkg.name} ${pkg.version} from the kept .deb`);
  } else {
    const apt = new SuiteApt(k.suite, join(dir, 'apt'));
    progress(`reading the ${k.suite} package index`);
    apt.update();
    const image = apt.firstDependency(k.meta);
    // The -unsigned package holds the same image without the Secure Boot signature wrapper.
    const found = apt.find(`${image}-unsigned`) ?? apt.find(image);
    if (!found) throw new MatrixError(`${k.suite} has no package ${image}`, `check the ${k.suite} suite on deb.debian.org`);
    pkg = found;
    progress(`fetching ${k.suite} ${found.name} ${found.version} (${Math.round(found.size / 1e6)} MB)`);
    deb = apt.download(found, dir);
  }
  progress(`unpacking ${pkg.name}`);
  const record = extract(k, pkg, deb);
  for (const f of readdirSync(dir)) if (f.endsWith('.deb') && join(dir, f) !== deb) rmSync(join(dir, f));
  // The package index (over 100 MB a suite) is fetched again whenever a kernel is.
  rmSync(join(dir, 'apt'), { recursive: true, force: true });
  writeFileSync(`${recordFile(k)}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${recordFile(k)}.tmp`, recordFile(k));
  return record;
}

// `node dist/test/matrix/kernels.js --ensure [ids...]`: fetch the matrix's kernels ahead of time.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const say = (m: string) => process.stderr.write(`kernels: ${m}\n`);
  const args = process.argv.slice(2);
  if (!args.includes('--ensure')) {
    say('usage: node dist/test/matrix/kernels.js --ensure [ids...]');
    process.exitCode = 2;
  } else {
    try {
      const ids = args.filter((a) => !a.startsWith('--'));
      for (const k of ids.length ? ids.map(kernelById) : KERNELS) {
        const r = ensureKernel(k, say);
        say(`${k.id} (${k.distro}): ${r.release} from ${r.package} ${r.version}, in ${dirname(r.vmlinuz)}`);
      }
    } catch (err) {
      say(describeError(err));
      process.exitCode = 1;
    }
  }
}
