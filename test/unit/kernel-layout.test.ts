// The kernel record layout is declared once, in bpf/procflow.h; the decoder's copy
// (native/layout.generated.ts) is generated from the compiled object's BTF. These tests need
// no root and no addon: the BTF reader on hand-built objects, and the committed file against
// bpf/build/procflow.bpf.o where it is built (skipped without it, except under CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Btf } from '../../native/btf/btf.js';
import { BtfError } from '../../native/btf/errors.js';
import { assertObjectCurrent, committedLayoutError, DEFAULT_OBJECT, generateLayout } from '../../native/btf/gen-layout.js';
import { decoderLayout, recordsFromBtf } from '../../native/btf/records.js';
import { renderTypeScript } from '../../native/btf/render.js';
import { LAYOUT, PF_COMM_LEN } from '../../native/layout.js';
import { BtfBuilder, elfObject } from '../support/btf-object.js';
import { skipOrFail } from '../support/environment.js';

/** struct rec { __u32 kind; union { __u64 a; __u32 b; }; const volatile __u8 name[16]; void *p; } */
function sampleBtf(): { btf: Btf; rec: number } {
  const b = new BtfBuilder();
  const u8 = b.int('unsigned char', 1);
  const u32 = b.modifier('typedef', b.int('unsigned int', 4), '__u32');
  const u64 = b.int('unsigned long long', 8);
  const idx = b.int('__ARRAY_SIZE_TYPE__', 4);
  const name = b.array(b.modifier('const', b.modifier('volatile', u8)), idx, 16);
  const anon = b.struct('', 8, [['a', u64, 0], ['b', u32, 0]], 'union');
  const rec = b.struct('rec', 40, [['kind', u32, 0], ['', anon, 64], ['name', name, 128], ['p', b.ptr(0), 256]]);
  const kind = b.enum('rec_kind', [['REC_A', 1], ['REC_B', 4096]]);
  b.struct('pf_records', 44, [['rec', rec, 0], ['kind', kind, 320]]);
  return { btf: Btf.fromElf(elfObject({ '.text': Buffer.alloc(8), '.BTF': b.build() }), 'sample.o'), rec };
}

test('the BTF reader resolves members through typedefs, qualifiers, arrays, anonymous unions and pointers', () => {
  const { btf, rec } = sampleBtf();
  assert.deepEqual(btf.fields(rec), [
    { name: 'kind', offset: 0, size: 4 },
    { name: 'a', offset: 8, size: 8 },
    { name: 'b', offset: 8, size: 4 },
    { name: 'name', offset: 16, size: 16, elements: 16 },
    { name: 'p', offset: 32, size: 8 },
  ]);
  assert.deepEqual(btf.enumValues('rec_kind'), [{ name: 'REC_A', value: 1n }, { name: 'REC_B', value: 4096n }]);
  assert.deepEqual(decoderLayout(recordsFromBtf(btf)), {
    LAYOUT: { rec: { size: 40, offsets: { kind: 0, a: 8, b: 8, name: 16, p: 32 } } },
    constants: { REC_A: 1, REC_B: 4096 },
  });
});

test('the BTF reader refuses what a byte decoder cannot read, saying what to change', () => {
  const b = new BtfBuilder();
  const u32 = b.int('unsigned int', 4);
  b.struct('flags', 4, [['on', u32, 0, 1], ['rest', u32, 1, 31]]);
  b.struct('pf_records', 8, [['p', b.ptr(u32), 0]]);
  const btf = new Btf(b.build(), 'bitfields');
  assert.throws(() => btf.fields(btf.struct('flags').id), (e: unknown) =>
    e instanceof BtfError && e.code === 'BTF_UNSUPPORTED' && /flags\.on is a bitfield/.test(e.message) && /__u32/.test(e.hint ?? ''));
  assert.throws(() => recordsFromBtf(btf), (e: unknown) =>
    e instanceof BtfError && /pf_records\.p is a ptr/.test(e.message) && /named struct/.test(e.hint ?? ''));
  assert.throws(() => btf.enumValues('nope'), (e: unknown) => e instanceof BtfError && e.code === 'BTF_NO_TYPE');
});

test('the BTF reader names broken inputs with typed errors', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof BtfError, String(e));
      assert.ok(e.hint, `${e.code} has a hint`);
      return e.code;
    }
    return 'no error';
  };
  assert.equal(code(() => Btf.fromElf(Buffer.from('#!/bin/sh\n'), 'script')), 'BTF_NOT_ELF');
  assert.equal(code(() => Btf.fromElf(elfObject({ '.text': Buffer.alloc(8) }), 'stripped.o')), 'BTF_NO_SECTION');
  const raw = new BtfBuilder().build();
  raw.writeUInt16LE(0x1234, 0);
  assert.equal(code(() => new Btf(raw, 'magic')), 'BTF_CORRUPT');
  const cut = new BtfBuilder();
  cut.struct('s', 4, [['x', cut.int('int', 4), 0]]);
  const short = cut.build();
  short.writeUInt32LE(short.readUInt32LE(12) - 4, 12); // type_len ends inside the struct
  assert.equal(code(() => new Btf(short, 'truncated')), 'BTF_CORRUPT');
});

test('native/layout.generated.ts is what the BTF of bpf/build/procflow.bpf.o generates', (t) => {
  try {
    assertObjectCurrent(DEFAULT_OBJECT);
  } catch (err) {
    const e = err as Error & { code?: string; hint?: string };
    // No object (no clang here): nothing to check against. A stale one means bpf/ changed.
    if (e.code === 'LAYOUT_NO_OBJECT') return skipOrFail(t, `${e.message}; ${e.hint}`);
    assert.fail(`${e.message}; ${e.hint}`);
  }
  const out = generateLayout(DEFAULT_OBJECT);
  const stale = committedLayoutError(out.typescript);
  assert.equal(stale, undefined, stale && `${stale.message}: ${stale.hint}`);
  // And the module the decoder imports is that file, compiled.
  assert.deepEqual(LAYOUT, decoderLayout(out.layout).LAYOUT);
  assert.equal(PF_COMM_LEN, decoderLayout(out.layout).constants.PF_COMM_LEN);
});

test('the generated file says it is generated, and from what', () => {
  const { btf } = sampleBtf();
  const text = renderTypeScript(recordsFromBtf(btf), 'bpf/build/sample.o');
  assert.match(text.split('\n')[0]!, /^\/\/ GENERATED by npm run gen:layout .* from the BTF of bpf\/build\/sample\.o/);
  assert.match(text, /^export const REC_B = 4096;$/m);
  assert.match(text, /^ {6}name: 16,$/m);
});
