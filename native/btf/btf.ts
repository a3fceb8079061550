// A reader of BTF, the BPF Type Format (the kernel's Documentation/bpf/btf.rst): the .BTF
// section clang writes into a BPF object with -g. It decodes the type and string sections and
// answers what a decoder of the object's records needs: the byte offset and size of each
// struct member, through typedef/const/volatile chains, and the values of enums. Little-endian
// BTF only (what clang -target bpf writes on x86_64).
import { elfSection } from './elf.js';
import { BtfError } from './errors.js';

export type BtfKind =
  | 'int' | 'ptr' | 'array' | 'struct' | 'union' | 'enum' | 'fwd' | 'typedef' | 'volatile' | 'const'
  | 'restrict' | 'func' | 'func_proto' | 'var' | 'datasec' | 'float' | 'decl_tag' | 'type_tag' | 'enum64';

/** Kind numbers of btf_type.info bits 24-28, in order from 1 (BTF_KIND_INT). */
const KINDS: readonly BtfKind[] = [
  'int', 'ptr', 'array', 'struct', 'union', 'enum', 'fwd', 'typedef', 'volatile', 'const',
  'restrict', 'func', 'func_proto', 'var', 'datasec', 'float', 'decl_tag', 'type_tag', 'enum64',
];

/** Bytes after the 12-byte btf_type, by kind, given vlen. */
const TRAILER: Record<BtfKind, (vlen: number) => number> = {
  int: () => 4, ptr: () => 0, array: () => 12, struct: (n) => n * 12, union: (n) => n * 12,
  enum: (n) => n * 8, fwd: () => 0, typedef: () => 0, volatile: () => 0, const: () => 0,
  restrict: () => 0, func: () => 0, func_proto: (n) => n * 8, var: () => 4, datasec: (n) => n * 12,
  float: () => 0, decl_tag: () => 4, type_tag: () => 0, enum64: (n) => n * 12,
};

/** Kinds that only qualify or rename another type: sizes and members look through them. */
const TRANSPARENT: ReadonlySet<BtfKind> = new Set(['typedef', 'volatile', 'const', 'restrict', 'type_tag']);

/** Pointers of the BPF target are 64-bit whatever the host. */
const POINTER_SIZE = 8;
const HEADER_SIZE = 24;
const MAGIC = 0xeb9f;

export interface BtfMember {
  name: string;
  type: number;
  bitOffset: number;
  /** Width of a bitfield member, 0 for whole members. */
  bitfieldSize: number;
}

export interface BtfEnumValue {
  name: string;
  value: bigint;
}

interface Named {
  id: number;
  name: string;
}

export type BtfType =
  | (Named & { kind: 'int'; size: number; bits: number; bitOffset: number; signed: boolean })
  | (Named & { kind: 'float'; size: number })
  | (Named & { kind: 'ptr'; type: number })
  | (Named & { kind: 'array'; type: number; nelems: number })
  | (Named & { kind: 'struct' | 'union'; size: number; members: BtfMember[] })
  | (Named & { kind: 'enum' | 'enum64'; size: number; values: BtfEnumValue[] })
  | (Named & { kind: 'typedef' | 'volatile' | 'const' | 'restrict' | 'type_tag'; type: number })
  | (Named & { kind: 'fwd' | 'func' | 'func_proto' | 'var' | 'datasec' | 'decl_tag' });

/** A member of a struct as a decoder reads it: bytes, not bits. */
export interface FieldLayout {
  name: string;
  offset: number;
  size: number;
  /** Element count when the member is an array (of the outermost dimension). */
  elements?: number;
}

export class Btf {
  /** Index = type id; 0 is void and has no entry. */
  private readonly types: (BtfType | undefined)[] = [undefined];

  /** Decode raw BTF (the contents of a .BTF section); `source` names it in errors. */
  constructor(data: Buffer, readonly source: string) {
    if (data.length < HEADER_SIZE) throw this.corrupt('the BTF header is truncated');
    const magic = data.readUInt16LE(0);
    if (magic !== MAGIC) {
      throw magic === 0x9feb
        ? new BtfError('BTF_UNSUPPORTED', source, 'big-endian BTF', 'build the object with -target bpf (bpfel) on a little-endian host')
        : this.corrupt(`bad BTF magic 0x${magic.toString(16)}`);
    }
    const hdrLen = data.readUInt32LE(4);
    const section = (off: number, len: number, what: string): Buffer => {
      const start = hdrLen + off;
      if (start + len > data.length) throw this.corrupt(`the ${what} section lies past the end of .BTF`);
      return data.subarray(start, start + len);
    };
    const types = section(data.readUInt32LE(8), data.readUInt32LE(12), 'type');
    const strings = section(data.readUInt32LE(16), data.readUInt32LE(20), 'string');
    const str = (off: number): string => {
      const end = strings.indexOf(0, off);
      if (off >= strings.length || end < 0) throw this.corrupt(`string offset ${off} lies outside the string section`);
      return strings.toString('utf8', off, end);
    };
    for (let at = 0; at < types.length; ) {
      if (at + 12 > types.length) throw this.corrupt('the type section ends inside a type');
      const id = this.types.length;
      const info = types.readUInt32LE(at + 4);
      const kind = KINDS[((info >>> 24) & 0x1f) - 1];
      if (!kind) {
        throw new BtfError('BTF_UNSUPPORTED', source, `type ${id} has BTF kind ${(info >>> 24) & 0x1f}, unknown to this reader`,
          'teach native/btf/btf.ts its encoding (include/uapi/linux/btf.h)');
      }
      const vlen = info & 0xffff;
      const end = at + 12 + TRAILER[kind](vlen);
      if (end > types.length) throw this.corrupt(`type ${id} (${kind}) runs past the type section`);
      this.types.push(decodeType(types, at, { id, kind, name: str(types.readUInt32LE(at)), vlen, kflag: info >>> 31 === 1, str }));
      at = end;
    }
  }

  /** The BTF of an ELF object (its .BTF section). */
  static fromElf(file: Buffer, source: string): Btf {
    const data = elfSection(file, '.BTF', source);
    if (!data) {
      throw new BtfError('BTF_NO_SECTION', source, 'the object has no .BTF section',
        'compile the BPF program with clang -g (llvm-strip -g keeps .BTF): npm run build:kernel');
    }
    return new Btf(data, source);
  }

  type(id: number): BtfType {
    const t = this.types[id];
    if (!t) throw this.corrupt(id === 0 ? 'a member or variable has type void' : `type id ${id} does not exist`);
    return t;
  }

  /** The first type called `name` of one of `kinds`. */
  named(name: string, kinds: readonly BtfKind[]): BtfType {
    const t = this.types.find((x) => x?.name === name && kinds.includes(x.kind));
    if (!t) {
      throw new BtfError('BTF_NO_TYPE', this.source, `no ${kinds.join(' or ')} named ${name}`,
        'BTF carries only types a global or a program names: reference the type from the BPF object');
    }
    return t;
  }

  /** The type under typedefs and qualifiers. */
  resolve(id: number): BtfType {
    let t = this.type(id);
    for (let hops = 0; TRANSPARENT.has(t.kind); hops++) {
      if (hops > 64) throw this.corrupt(`type ${id} is a loop of typedefs or qualifiers`);
      t = this.type((t as { type: number }).type);
    }
    return t;
  }

  /** Size in bytes of a value of type `id`. */
  sizeOf(id: number): number {
    const t = this.resolve(id);
    switch (t.kind) {
      case 'int':
      case 'float':
      case 'enum':
      case 'enum64':
      case 'struct':
      case 'union':
        return t.size;
      case 'ptr':
        return POINTER_SIZE;
      case 'array':
        return t.nelems * this.sizeOf(t.type);
      default:
        throw new BtfError('BTF_UNSUPPORTED', this.source, `type ${t.id} (${t.kind} ${t.name}) has no size`,
          'record members must be integers, enums, arrays, pointers or structs');
    }
  }

  /** The struct or union called `name`. */
  struct(name: string): Extract<BtfType, { kind: 'struct' | 'union' }> {
    return this.named(name, ['struct', 'union']) as Extract<BtfType, { kind: 'struct' | 'union' }>;
  }

  /**
   * Members of a struct or union in bytes, in declaration order. Members of anonymous inner
   * structs and unions appear under their own names, as C code names them. Bitfields are refused:
   * a byte-level decoder cannot read them.
   */
  fields(id: number, base = 0): FieldLayout[] {
    const t = this.resolve(id);
    if (t.kind !== 'struct' && t.kind !== 'union') {
      throw new BtfError('BTF_UNSUPPORTED', this.source, `type ${id} (${t.kind} ${t.name}) is not a struct or union`,
        'records are structs: name a struct type');
    }
    const out: FieldLayout[] = [];
    for (const m of t.members) {
      const inner = this.resolve(m.type);
      const where = `${t.name || '(anonymous)'}.${m.name || '(anonymous)'}`;
      const narrow = inner.kind === 'int' && (inner.bits !== inner.size * 8 || inner.bitOffset !== 0);
      if (m.bitfieldSize !== 0 || m.bitOffset % 8 !== 0 || narrow) {
        throw new BtfError('BTF_UNSUPPORTED', this.source, `${where} is a bitfield`,
          'declare it as a whole __u8/__u16/__u32/__u64 in bpf/procflow.h: the decoder reads bytes');
      }
      const offset = base + m.bitOffset / 8;
      if (!m.name && (inner.kind === 'struct' || inner.kind === 'union')) {
        out.push(...this.fields(inner.id, offset));
        continue;
      }
      const field: FieldLayout = { name: m.name, offset, size: this.sizeOf(m.type) };
      if (inner.kind === 'array') field.elements = inner.nelems;
      out.push(field);
    }
    return out;
  }

  /** The enum called `name`, its values in declaration order. */
  enumValues(name: string): BtfEnumValue[] {
    const t = this.named(name, ['enum', 'enum64']);
    return (t as Extract<BtfType, { kind: 'enum' | 'enum64' }>).values;
  }

  private corrupt(why: string): BtfError {
    return new BtfError('BTF_CORRUPT', this.source, why, 'rebuild the object (npm run build:kernel); the file may be truncated');
  }
}

interface TypeHead {
  id: number;
  kind: BtfKind;
  name: string;
  vlen: number;
  kflag: boolean;
  str: (off: number) => string;
}

/** One btf_type at `at` and its trailing data. */
function decodeType(b: Buffer, at: number, h: TypeHead): BtfType {
  const { id, kind, name, vlen, kflag, str } = h;
  const sizeOrType = b.readUInt32LE(at + 8);
  const tail = at + 12;
  switch (kind) {
    case 'int': {
      const enc = b.readUInt32LE(tail);
      // Encoding flags in bits 24-27 (bit 0: signed), a bit offset in 16-23, the width in 0-7.
      return { id, name, kind, size: sizeOrType, bits: enc & 0xff, bitOffset: (enc >>> 16) & 0xff, signed: ((enc >>> 24) & 1) === 1 };
    }
    case 'float':
      return { id, name, kind, size: sizeOrType };
    case 'ptr':
    case 'typedef':
    case 'volatile':
    case 'const':
    case 'restrict':
    case 'type_tag':
      return { id, name, kind, type: sizeOrType };
    case 'array':
      return { id, name, kind, type: b.readUInt32LE(tail), nelems: b.readUInt32LE(tail + 8) };
    case 'struct':
    case 'union': {
      const members: BtfMember[] = [];
      for (let i = 0; i < vlen; i++) {
        const m = tail + i * 12;
        const offset = b.readUInt32LE(m + 8);
        // With kind_flag set, the offset packs the bitfield size (bits 24-31) over the bit offset.
        members.push({
          name: str(b.readUInt32LE(m)),
          type: b.readUInt32LE(m + 4),
          bitOffset: kflag ? offset & 0xffffff : offset,
          bitfieldSize: kflag ? offset >>> 24 : 0,
        });
      }
      return { id, name, kind, size: sizeOrType, members };
    }
    case 'enum':
    case 'enum64': {
      // kind_flag marks a signed enum; without it values are unsigned. enum64 splits each
      // value into a low and a high 32-bit word.
      const values: BtfEnumValue[] = [];
      const wide = kind === 'enum64';
      for (let i = 0; i < vlen; i++) {
        const e = tail + i * (wide ? 12 : 8);
        let raw = BigInt(b.readUInt32LE(e + 4));
        if (wide) raw |= BigInt(b.readUInt32LE(e + 8)) << 32n;
        const value = kflag ? BigInt.asIntN(wide ? 64 : 32, raw) : raw;
        values.push({ name: str(b.readUInt32LE(e)), value });
      }
      return { id, name, kind, size: sizeOrType, values };
    }
    default:
      return { id, name, kind } as BtfType;
  }
}
