// Just enough ELF64 to find a section by name: the file header, the section header table and
// the section-name string table (System V ABI, "Sections"). BPF objects are ELF64; clang's
// -target bpf on x86_64 writes them little-endian.
import { BtfError } from './errors.js';

const ELF_MAGIC = 0x464c457f; // "\x7fELF" read little-endian
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SHT_NOBITS = 8; // occupies no file space (.bss)
const SHN_XINDEX = 0xffff; // the real e_shstrndx is in section 0's sh_link

interface SectionHeader {
  nameOffset: number;
  type: number;
  offset: number;
  size: number;
  link: number;
}

function notElf(source: string, why: string): BtfError {
  return new BtfError('BTF_NOT_ELF', source, why, 'pass the BPF object clang writes (bpf/build/procflow.bpf.o)');
}

function u64(file: Buffer, at: number, source: string): number {
  const v = file.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw notElf(source, `offset ${v} at byte ${at} is too large`);
  return Number(v);
}

function sectionHeader(file: Buffer, shoff: number, index: number, source: string): SectionHeader {
  const at = shoff + index * SHDR_SIZE;
  if (at + SHDR_SIZE > file.length) throw notElf(source, `section header ${index} lies past the end of the file`);
  return {
    nameOffset: file.readUInt32LE(at),
    type: file.readUInt32LE(at + 4),
    offset: u64(file, at + 24, source),
    size: u64(file, at + 32, source),
    link: file.readUInt32LE(at + 40),
  };
}

function contents(file: Buffer, sh: SectionHeader, what: string, source: string): Buffer {
  if (sh.type === SHT_NOBITS) return Buffer.alloc(0);
  if (sh.offset + sh.size > file.length) throw notElf(source, `${what} lies past the end of the file`);
  return file.subarray(sh.offset, sh.offset + sh.size);
}

/** The bytes of section `name` of an ELF64 little-endian object, or undefined when it has none. */
export function elfSection(file: Buffer, name: string, source: string): Buffer | undefined {
  if (file.length < EHDR_SIZE || file.readUInt32LE(0) !== ELF_MAGIC) throw notElf(source, 'not an ELF file');
  if (file[4] !== ELFCLASS64 || file[5] !== ELFDATA2LSB) throw notElf(source, 'not a 64-bit little-endian ELF object');
  const shoff = u64(file, 0x28, source);
  if (file.readUInt16LE(0x3a) !== SHDR_SIZE) throw notElf(source, 'unexpected section header size');
  if (shoff === 0) return undefined;
  // Past 0xff00 sections, the count and the name table index live in section 0.
  const first = sectionHeader(file, shoff, 0, source);
  const count = file.readUInt16LE(0x3c) || first.size;
  const namesIndex = file.readUInt16LE(0x3e) === SHN_XINDEX ? first.link : file.readUInt16LE(0x3e);
  if (namesIndex >= count) throw notElf(source, 'the section name table index is out of range');
  const names = contents(file, sectionHeader(file, shoff, namesIndex, source), 'the section name table', source);
  for (let i = 1; i < count; i++) {
    const sh = sectionHeader(file, shoff, i, source);
    const end = names.indexOf(0, sh.nameOffset);
    if (sh.nameOffset >= names.length || end < 0) throw notElf(source, `section ${i} has a name outside the name table`);
    if (names.toString('latin1', sh.nameOffset, end) === name) return contents(file, sh, `section ${name}`, source);
  }
  return undefined;
}
