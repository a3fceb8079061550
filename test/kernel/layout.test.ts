// The TypeScript decoder's record layouts must match bpf/procflow.h as the C compiler laid it
// out (the addon reports sizeof/offsetof), like Tetragon's alignchecker does against BTF.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon } from '../../native/binding.js';
import { LAYOUT, PF_ARGS_MAX, PF_COMM_LEN, PF_PATH_MAX, EVENT_ERROR_ARGS, EVENT_ERROR_CWD, EVENT_ERROR_CWD_DEPTH, EVENT_ERROR_CWD_LONG, EVENT_ERROR_FILENAME } from '../../native/layout.js';
import { decodeFlows, formatAddress } from '../../native/decode.js';
import { skipOrFail } from '../support/environment.js';

test('decoder offsets and sizes equal the C header', (t) => {
  const loaded = loadAddon();
  if ('error' in loaded) return skipOrFail(t, loaded.error);
  const c = loaded.addon.layout();
  for (const [name, mine] of Object.entries(LAYOUT)) {
    const theirs = c[name];
    assert.ok(theirs, `addon reports ${name}`);
    assert.equal(mine.size, theirs.size, `sizeof(struct ${name})`);
    for (const [field, off] of Object.entries(theirs.offsets)) {
      assert.equal((mine.offsets as Record<string, number>)[field], off, `offsetof(struct ${name}, ${field})`);
    }
  }
  assert.deepEqual(c.constants, {
    PF_ARGS_MAX,
    PF_PATH_MAX,
    PF_COMM_LEN,
    EVENT_ERROR_FILENAME,
    EVENT_ERROR_ARGS,
    EVENT_ERROR_CWD,
    EVENT_ERROR_CWD_DEPTH,
    EVENT_ERROR_CWD_LONG,
  });
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
