// Hand-built BTF and ELF64 objects for testing native/btf without clang: a small encoder of the
// type and string sections (include/uapi/linux/btf.h) and an ELF writer with section headers only.

const KIND = { int: 1, ptr: 2, array: 3, struct: 4, union: 5, enum: 6, typedef: 8, volatile: 9, const: 10 } as const;

export class BtfBuilder {
  private readonly strings: string[] = [];
  private stringBytes = 1; // offset 0 is the empty string
  private readonly offsets = new Map<string, number>([['', 0]]);
  private readonly types: Buffer[] = [];

  private str(s: string): number {
    let off = this.offsets.get(s);
    if (off === undefined) {
      off = this.stringBytes;
      this.offsets.set(s, off);
      this.strings.push(s);
      this.stringBytes += Buffer.byteLength(s) + 1;
    }
    return off;
  }

  private add(name: string, kind: number, vlen: number, sizeOrType: number, tail: number[] = [], kflag = false): number {
    const words = [this.str(name), ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType, ...tail];
    const b = Buffer.alloc(words.length * 4);
    words.forEach((w, i) => b.writeUInt32LE(w >>> 0, i * 4));
    this.types.push(b);
    return this.types.length;
  }

  int(name: string, size: number, opts: { signed?: boolean; bits?: number } = {}): number {
    return this.add(name, KIND.int, 0, size, [((opts.signed ? 1 : 0) << 24) | (opts.bits ?? size * 8)]);
  }

  ptr(type: number): number {
    return this.add('', KIND.ptr, 0, type);
  }

  array(elem: number, index: number, nelems: number): number {
    return this.add('', KIND.array, 0, 0, [elem, index, nelems]);
  }

  /** Members as [name, type, bit offset, bitfield size]; a bitfield size sets kind_flag. */
  struct(name: string, size: number, members: [string, number, number, number?][], kind: 'struct' | 'union' = 'struct'): number {
    const kflag = members.some((m) => (m[3] ?? 0) > 0);
    const tail = members.flatMap(([n, type, bit, width]) => [this.str(n), type, kflag ? ((width ?? 0) << 24) | bit : bit]);
    return this.add(name, KIND[kind], members.length, size, tail, kflag);
  }

  enum(name: string, values: [string, number][]): number {
    return this.add(name, KIND.enum, values.length, 4, values.flatMap(([n, v]) => [this.str(n), v]));
  }

  modifier(kind: 'typedef' | 'volatile' | 'const', type: number, name = ''): number {
    return this.add(name, KIND[kind], 0, type);
  }

  /** The raw .BTF section: header, types, strings. */
  build(): Buffer {
    const types = Buffer.concat(this.types);
    const strings = Buffer.concat([Buffer.alloc(1), ...this.strings.map((s) => Buffer.from(`${s}\0`))]);
    const h = Buffer.alloc(24);
    h.writeUInt16LE(0xeb9f, 0);
    h.writeUInt8(1, 2);
    h.writeUInt32LE(24, 4);
    h.writeUInt32LE(0, 8);
    h.writeUInt32LE(types.length, 12);
    h.writeUInt32LE(types.length, 16);
    h.writeUInt32LE(strings.length, 20);
    return Buffer.concat([h, types, strings]);
  }
}

/** An ELF64 little-endian relocatable object holding `sections` (PROGBITS) and .shstrtab. */
export function elfObject(sections: Record<string, Buffer>): Buffer {
  const named = [...Object.entries(sections), ['.shstrtab', Buffer.alloc(0)] as [string, Buffer]];
  const names = Buffer.concat([Buffer.alloc(1), ...named.map(([n]) => Buffer.from(`${n}\0`))]);
  named[named.length - 1]![1] = names;
  const ehdr = Buffer.alloc(64);
  ehdr.writeUInt32LE(0x464c457f, 0);
  ehdr.set([2, 1, 1], 4); // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
  ehdr.writeUInt16LE(1, 16); // ET_REL
  ehdr.writeUInt16LE(247, 18); // EM_BPF
  let at = 64;
  const bodies = named.map(([, b]) => {
    const offset = at;
    at += b.length;
    return offset;
  });
  ehdr.writeBigUInt64LE(BigInt(at), 0x28); // e_shoff: headers after the bodies
  ehdr.writeUInt16LE(64, 0x34); // e_ehsize
  ehdr.writeUInt16LE(64, 0x3a); // e_shentsize
  ehdr.writeUInt16LE(named.length + 1, 0x3c); // e_shnum, with the null section
  ehdr.writeUInt16LE(named.length, 0x3e); // e_shstrndx: .shstrtab is last
  const shdrs = Buffer.alloc((named.length + 1) * 64);
  let nameAt = 1;
  named.forEach(([name, body], i) => {
    const s = (i + 1) * 64;
    shdrs.writeUInt32LE(nameAt, s);
    shdrs.writeUInt32LE(i === named.length - 1 ? 3 : 1, s + 4); // SHT_STRTAB or SHT_PROGBITS
    shdrs.writeBigUInt64LE(BigInt(bodies[i]!), s + 24);
    shdrs.writeBigUInt64LE(BigInt(body.length), s + 32);
    nameAt += Buffer.byteLength(name) + 1;
  });
  return Buffer.concat([ehdr, ...named.map(([, b]) => b), shdrs]);
}
