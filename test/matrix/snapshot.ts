// A copy of the built checkout for one matrix run: dist/, bin/, package.json and the native addon
// (the BPF programs are inside it), and node_modules (hard links where the filesystem allows,
// else a copy: a symlink would point into the checkout, which guests may not see when it lies
// under a directory they mount a tmpfs on, such as a CI clone in /tmp). Every kernel of a run
// then tests the same build, and a rebuild in the checkout while guests run (tsc rewrites files
// in place) cannot hand a guest a half-written file, which its 9p cache would keep seeing.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MatrixError } from './errors.js';
import { GUEST_TMPFS_DIRS, guestTmpfsOver } from './guest-init.js';
import { CHECKOUT } from './guest.js';
import { kernelCacheDir } from './kernels.js';

const COPIED = ['package.json', 'bin', 'dist', 'native/build/Release/procflow.node'];

/** Copy the built parts of the checkout; returns the snapshot's root (the commands' cwd). */
export function snapshotCheckout(): string {
  const dir = join(kernelCacheDir(), 'checkout');
  if (guestTmpfsOver(dir)) {
    throw new MatrixError(`the kernel cache ${kernelCacheDir()} is under a directory guests see as an empty tmpfs`,
      `set PROCFLOW_KERNEL_CACHE outside ${GUEST_TMPFS_DIRS.join(', ')}`);
  }
  for (const p of COPIED) {
    if (!existsSync(join(CHECKOUT, p))) throw new MatrixError(`${join(CHECKOUT, p)} is missing`, 'build first: npm run build');
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'native', 'build', 'Release'), { recursive: true });
  for (const p of COPIED) cpSync(join(CHECKOUT, p), join(dir, p), { recursive: true });
  try {
    execFileSync('cp', ['-al', join(CHECKOUT, 'node_modules'), join(dir, 'node_modules')], { stdio: 'ignore' });
  } catch {
    rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
    cpSync(join(CHECKOUT, 'node_modules'), join(dir, 'node_modules'), { recursive: true });
  }
  return dir;
}
