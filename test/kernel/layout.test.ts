// The TypeScript decoder's record layout must be the one in the BTF of the object the addon
// loads (its embedded copy of bpf/build/procflow.bpf.o), like Tetragon's alignchecker checks
// its mirror structs against BTF. Here, and in the kernel matrix's guests, only dist/ and the
// addon exist; test/unit/kernel-layout.test.ts checks the committed file against the object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon } from '../../native/binding.js';
import * as generated from '../../native/layout.generated.js';
import { decoderLayout, recordsFromObject } from '../../native/btf/records.js';
import { decodeFlows, formatAddress } from '../../native/decode.js';
import { LAYOUT, pad8 } from '../../native/layout.js';
import { skipOrFail } from '../support/environment.js';

test('decoder offsets, sizes and constants equal the BTF of the object the addon loads', (t) => {
  const loaded = loadAddon();
  if ('error' in loaded) return skipOrFail(t, loaded.error);
  const theirs = decoderLayout(recordsFromObject(loaded.addon.bpfObject(), `the object in ${loaded.path}`));
  const { LAYOUT, ...constants } = generated;
  assert.deepEqual(LAYOUT, theirs.LAYOUT, 'native/layout.generated.ts is stale against the addon: npm run build:kernel');
  assert.deepEqual(constants, theirs.constants);
});

test('addresses format like the kernel prints them', () => {
  const b = Buffer.alloc(16);
  b.set([127, 0, 0, 1]);
  assert.equal(formatAddress(b, 0, 4), '127.0.0.1');
  b.fill(0);
  b[15] = 1;
  assert.equal(formatAddress(b, 0, 6), '::1');
  const v6 = Buffer.from('20010db8000000000001000000000001', 'hex');
  assert.equal(formatAddress(v6, 0, 6), '2001:db8::1:0:0:1');
  assert.deepEqual(decodeFlows(Buffer.alloc(0)), []);
});

test('flow counters decode exactly across the 32-bit boundary and up to 2^53', () => {
  const K = LAYOUT.pf_flow_key.offsets;
  const V = LAYOUT.pf_flow_value.offsets;
  const vBase = pad8(LAYOUT.pf_flow_key.size);
  const rec = Buffer.alloc(vBase + pad8(LAYOUT.pf_flow_value.size));
  rec.writeUInt32LE(4242, K.tgid);
  const values = { bytes_out: 2 ** 32 + 5, bytes_in: 2 ** 32 - 1, packets_out: 2 ** 53 - 1, packets_in: 0 };
  for (const [field, v] of Object.entries(values)) rec.writeBigUInt64LE(BigInt(v), vBase + V[field as keyof typeof V]);
  const [f] = decodeFlows(rec);
  assert.equal(f!.pid, 4242);
  assert.deepEqual([f!.bytesOut, f!.bytesIn, f!.packetsOut, f!.packetsIn], Object.values(values));
});

test('flow times and process starts decode exactly as bigints on both sides of 2^53, and repeated addresses and task names read the same', () => {
  const K = LAYOUT.pf_flow_key.offsets;
  const V = LAYOUT.pf_flow_value.offsets;
  const vBase = pad8(LAYOUT.pf_flow_key.size);
  const size = vBase + pad8(LAYOUT.pf_flow_value.size);
  const times = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 64n - 1n];
  const buf = Buffer.alloc(size * times.length);
  times.forEach((t, i) => {
    const off = i * size;
    buf.writeBigUInt64LE(t, off + vBase + V.pid_start_ns);
    buf.writeBigUInt64LE(t, off + vBase + V.last_seen_ns);
    buf.writeBigUInt64LE(times[times.length - 1 - i]!, off + vBase + V.first_seen_ns);
    buf.set([10, 0, i >> 1, 1], off + K.local_addr);
    buf.write(i % 2 ? 'curl' : 'nginx', off + vBase + V.comm);
  });
  const records = decodeFlows(buf);
  assert.deepEqual(records.map((r) => r.pidStartNs), times);
  assert.deepEqual(records.map((r) => r.lastSeenNs), times);
  assert.deepEqual(records.map((r) => r.firstSeenNs), [...times].reverse());
  assert.deepEqual(records.map((r) => r.localIp), times.map((_, i) => `10.0.${i >> 1}.1`));
  assert.deepEqual(records.map((r) => r.comm), times.map((_, i) => (i % 2 ? 'curl' : 'nginx')));
});
