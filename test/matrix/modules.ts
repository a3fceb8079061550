// Kernel modules of an unpacked Debian kernel package: which file is which module, what each one
// depends on, which are built in, and the closure of a few wanted modules in load order.
// Debian's packages ship no modules.dep (depmod runs when the package is installed), so the
// dependencies come from each module's own `.modinfo` section, the same field depmod reads.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MatrixError } from './errors.js';

/** A module's name as the kernel knows it: file name without `.ko[.xz|.zst|.gz]`, '-' as '_'. */
export function moduleName(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** The module's ELF image, decompressed on the host (busybox insmod cannot decompress). */
export function readModule(path: string): Buffer {
  try {
    if (path.endsWith('.ko')) return readFileSync(path);
    if (path.endsWith('.ko.gz')) return gunzipSync(readFileSync(path));
    const tool = path.endsWith('.ko.xz') ? 'xz' : path.endsWith('.ko.zst') ? 'zstd' : null;
    if (!tool) throw new MatrixError(`${path}: not a kernel module file`);
    return execFileSync(tool, ['-dc', path], { maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (err instanceof MatrixError) throw err;
    throw new MatrixError(`cannot read kernel module ${path}: ${(err as Error).message}`, 'apt-get install xz-utils zstd', { cause: err });
  }
}

/** The NUL-separated key=value strings of an ELF64 object's `.modinfo` section. */
export function modinfo(elf: Buffer): Map<string, string[]> {
  const info = new Map<string, string[]>();
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) throw new MatrixError('not an ELF64 kernel module');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 0x18)), size: Number(elf.readBigUInt64LE(at + 0x20)) };
  };
  const names = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameEnd = elf.indexOf(0, names.offset + s.name);
    if (elf.toString('latin1', names.offset + s.name, nameEnd) !== '.modinfo') continue;
    for (const entry of elf.toString('utf8', s.offset, s.offset + s.size).split('\0')) {
      const eq = entry.indexOf('=');
      if (eq <= 0) continue;
      const key = entry.slice(0, eq);
      info.set(key, [...(info.get(key) ?? []), entry.slice(eq + 1)]);
    }
  }
  return info;
}

/** The modules directory of one kernel release (lib/modules/<release>, or usr/lib/... since trixie). */
export class ModuleTree {
  readonly dir: string;
  private readonly files = new Map<string, string>();
  private readonly builtin = new Set<string>();

  constructor(dir: string) {
    this.dir = dir;
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.ko(\.(xz|zst|gz))?$/.test(e.name)) this.files.set(moduleName(e.name), relative(dir, p));
      }
    };
    if (existsSync(join(dir, 'kernel'))) walk(join(dir, 'kernel'));
    const builtinList = join(dir, 'modules.builtin');
    if (existsSync(builtinList)) {
      for (const line of readFileSync(builtinList, 'utf8').split('\n')) if (line.trim()) this.builtin.add(moduleName(line.trim()));
    }
  }

  isBuiltin(name: string): boolean {
    return this.builtin.has(name.replace(/-/g, '_'));
  }

  /** Path of the module file relative to the tree, or undefined. */
  fileOf(name: string): string | undefined {
    return this.files.get(name.replace(/-/g, '_'));
  }

  /**
   * The wanted modules and everything they depend on, dependencies first, as paths relative to
   * the tree. Built-in modules are left out; a wanted module that is neither built in nor present
   * is an error unless it is listed in `optional`.
   */
  closure(wanted: string[], optional: string[] = []): string[] {
    const ordered: string[] = [];
    const seen = new Set<string>();
    const visit = (name: string, chain: string[], required: boolean) => {
      const n = name.replace(/-/g, '_');
      if (seen.has(n) || this.isBuiltin(n)) return;
      const file = this.fileOf(n);
      if (!file) {
        if (!required) return;
        throw new MatrixError(`module ${n} (${chain.concat(n).join(' -> ')}) is neither built in nor in ${this.dir}`,
          'the kernel list names a kernel flavour without it; pick the generic amd64 flavour');
      }
      seen.add(n);
      const deps = modinfo(readModule(join(this.dir, file))).get('depends')?.[0] ?? '';
      for (const dep of deps.split(',').filter(Boolean)) visit(dep, chain.concat(n), true);
      ordered.push(file);
    };
    for (const w of wanted) visit(w, [], true);
    for (const w of optional) visit(w, [], false);
    return ordered;
  }
}
