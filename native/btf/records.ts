// The records and constants user space decodes, read from a BPF object's BTF. Which ones is
// declared in C, next to the records: each member of struct pf_records (bpf/procflow.h) names a
// record struct or an enum of constants. Nothing here knows a record by name.
import { Btf, type FieldLayout } from './btf.js';
import { BtfError } from './errors.js';

/** The struct in bpf/procflow.h whose members name what the generator emits. */
export const RECORDS_STRUCT = 'pf_records';

export interface RecordType {
  /** The C struct name, e.g. pf_flow_key. */
  name: string;
  size: number;
  fields: FieldLayout[];
}

export interface ConstantGroup {
  /** The C enum name, e.g. pf_event_kind. */
  name: string;
  values: { name: string; value: number }[];
}

export interface RecordsLayout {
  records: RecordType[];
  constants: ConstantGroup[];
}

/** The decoder's shape of a layout: what native/layout.generated.ts exports. */
export interface DecoderLayout {
  LAYOUT: Record<string, { size: number; offsets: Record<string, number> }>;
  constants: Record<string, number>;
}

/** Every record and enum struct pf_records names, in its member order. */
export function recordsFromBtf(btf: Btf): RecordsLayout {
  const out: RecordsLayout = { records: [], constants: [] };
  for (const m of btf.struct(RECORDS_STRUCT).members) {
    const t = btf.resolve(m.type);
    const where = `${RECORDS_STRUCT}.${m.name}`;
    if ((t.kind === 'struct' || t.kind === 'union') && t.name) {
      out.records.push({ name: t.name, size: t.size, fields: btf.fields(t.id) });
    } else if ((t.kind === 'enum' || t.kind === 'enum64') && t.name) {
      const values = t.values.map(({ name, value }) => {
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new BtfError('BTF_UNSUPPORTED', btf.source, `${t.name}.${name} = ${value} does not fit a JavaScript number`,
            'keep constants the decoder reads below 2^53');
        }
        return { name, value: Number(value) };
      });
      out.constants.push({ name: t.name, values });
    } else {
      throw new BtfError('BTF_UNSUPPORTED', btf.source, `${where} is a ${t.kind} ${t.name || '(anonymous)'}`,
        `make each member of struct ${RECORDS_STRUCT} a named struct (a record, by value) or a named enum (constants)`);
    }
  }
  return out;
}

/** The layout as the decoder sees it: sizes, offsets by member name, constants by name. */
export function decoderLayout(layout: RecordsLayout): DecoderLayout {
  const LAYOUT: DecoderLayout['LAYOUT'] = {};
  for (const r of layout.records) {
    LAYOUT[r.name] = { size: r.size, offsets: Object.fromEntries(r.fields.map((f) => [f.name, f.offset])) };
  }
  const constants = Object.fromEntries(layout.constants.flatMap((g) => g.values.map((v) => [v.name, v.value])));
  return { LAYOUT, constants };
}

/** recordsFromBtf of an ELF object's .BTF. */
export function recordsFromObject(file: Buffer, source: string): RecordsLayout {
  return recordsFromBtf(Btf.fromElf(file, source));
}
