// The per-kernel initramfs: static busybox, the guest's /init and the kernel's cached module
// subset (decompressed here: busybox insmod cannot read .ko.xz), as a gzipped newc cpio.
// Cached by content next to the kernel: the same busybox, init and modules give the same file.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeCpio, type CpioEntry } from './cpio.js';
import { MatrixError } from './errors.js';
import { INIT_SCRIPT, MODULE_LIST } from './guest-init.js';
import type { FetchedKernel } from './kernels.js';
import { readModule } from './modules.js';

const BUSYBOX = process.env.PROCFLOW_BUSYBOX ?? '/bin/busybox';

/** True when the ELF file has no program interpreter, i.e. runs without a libc on the side. */
function isStaticElf(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  const PT_INTERP = 3;
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === PT_INTERP) return false;
  return true;
}

function readBusybox(): Buffer {
  if (!existsSync(BUSYBOX)) throw new MatrixError(`no busybox at ${BUSYBOX}`, 'apt-get install busybox-static');
  const bin = readFileSync(BUSYBOX);
  if (!isStaticElf(bin)) throw new MatrixError(`${BUSYBOX} is linked dynamically; the initramfs has no libc`, 'apt-get install busybox-static');
  return bin;
}

/** Flat file name of a module inside the initramfs (/lib/modules/<name>.ko). */
const flatName = (m: string) => basename(m).replace(/\.ko(\.(xz|zst|gz))?$/, '.ko');

/** Path of the kernel's initramfs, built when its inputs changed. */
export function ensureInitramfs(kernel: FetchedKernel): string {
  const busybox = readBusybox();
  const hash = createHash('sha256').update(busybox).update(INIT_SCRIPT).update(kernel.release);
  for (const m of kernel.modules) hash.update(m).update(readFileSync(join(kernel.modulesDir, m)));
  const dir = dirname(kernel.vmlinuz);
  const file = join(dir, `initramfs-${hash.digest('hex').slice(0, 16)}.cpio.gz`);
  if (existsSync(file)) return file;

  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'etc', 'etc/procflow', 'lib', 'lib/modules', 'newroot', 'proc', 'sys', 'tmp'].map((path): CpioEntry => ({ kind: 'dir', path })),
    // The kernel opens /dev/console for init before anything is mounted.
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'file', path: 'init', data: INIT_SCRIPT, mode: 0o755 },
    { kind: 'file', path: MODULE_LIST, data: `${kernel.modules.map(flatName).join('\n')}\n` },
    ...kernel.modules.map((m): CpioEntry => ({ kind: 'file', path: `lib/modules/${flatName(m)}`, data: readModule(join(kernel.modulesDir, m)) })),
  ];
  const names = kernel.modules.map(flatName);
  const clash = names.find((n, i) => names.indexOf(n) !== i);
  if (clash) throw new MatrixError(`two modules named ${clash} in ${kernel.package}`);

  for (const old of readdirSync(dir)) if (/^initramfs-.*\.cpio\.gz$/.test(old)) rmSync(join(dir, old));
  writeFileSync(`${file}.tmp`, gzipSync(writeCpio(entries)));
  renameSync(`${file}.tmp`, file);
  return file;
}
