// indexer/inflate.ts: gzip and zstd bodies inflated into one reused buffer, and the line
// splitter's copy of a line cut at the end of such a buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import { ZSTD_WINDOW_LOG } from '../../common/batch-encoding.js';
import { BodyInflater } from '../../indexer/inflate.js';
import { LineSplitter } from '../../common/lines.js';

/** Inflates `body` fed in `wire`-byte chunks; each piece is copied, as it is only valid during the call. */
function inflate(body: Buffer, wire: number, encoding: 'gzip' | 'zstd' = 'gzip'): Buffer {
  const pieces: Buffer[] = [];
  const inflater = new BodyInflater(encoding, (piece) => (pieces.push(Buffer.from(piece)), true));
  for (let at = 0; at < body.length; at += wire) inflater.push(body.subarray(at, at + wire));
  inflater.end();
  return Buffer.concat(pieces);
}

// Incompressible enough to span several output buffers without being huge.
const text = Array.from({ length: 40_000 }, (_, i) => `{"n":${i},"h":"${(i * 2654435761 % 2 ** 32).toString(16)}"}`).join('\n') + '\n';

test('a gzip body comes out whole, whatever the wire chunks (larger than one output buffer)', () => {
  const body = gzipSync(text);
  assert.ok(text.length > 256 * 1024);
  for (const wire of [1, 7, 1000, 64 * 1024, body.length]) assert.equal(inflate(body, wire).toString(), text, `wire chunks of ${wire}`);
});

test('concatenated gzip members are one body, as gunzip reads them', () => {
  assert.equal(inflate(Buffer.concat([gzipSync('a\n'), gzipSync('b\n')]), 3).toString(), 'a\nb\n');
});

test('not gzip, a corrupt stream and a cut-off stream throw with zlib\'s reason', () => {
  assert.throws(() => inflate(Buffer.from('{"not":"gzip"}\n'), 4), /incorrect header check/);
  const body = gzipSync(text);
  const corrupt = Buffer.from(body);
  corrupt.fill(0xff, 100, 140);
  assert.throws(() => inflate(corrupt, 64), /invalid|incorrect|unexpected/);
  assert.throws(() => inflate(body.subarray(0, body.length - 9), 64), /unexpected end of file/);
  assert.throws(() => inflate(Buffer.alloc(0), 1), /unexpected end of file/);
});

test('the consumer can stop early: a bomb is not inflated past the first piece refused', () => {
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  let seen = 0;
  const inflater = new BodyInflater('gzip', (piece) => {
    seen += piece.length;
    return seen < 1024 * 1024;
  });
  inflater.push(bomb);
  inflater.close();
  assert.ok(seen >= 1024 * 1024 && seen < 2 * 1024 * 1024, `inflated ${seen} bytes`);
});

test('lines cut at the end of a reused buffer are copied, so the next piece cannot overwrite them', () => {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line.toString()));
  const scratch = Buffer.alloc(16);
  for (const piece of ['{"a":1}\n{', '"b":22}\n', '{"c":3']) {
    scratch.fill(0x20);
    scratch.write(piece);
    splitter.push(scratch.subarray(0, piece.length), true);
  }
  splitter.end();
  assert.deepEqual(lines, ['{"a":1}', '{"b":22}', '{"c":3']);
});

test('a zstd body comes out whole, whatever the wire chunks; concatenated frames are one body', () => {
  const body = zstdCompressSync(text);
  for (const wire of [1, 7, 1000, 64 * 1024, body.length]) assert.equal(inflate(body, wire, 'zstd').toString(), text, `wire chunks of ${wire}`);
  assert.equal(inflate(Buffer.concat([zstdCompressSync('a\n'), zstdCompressSync('b\n')]), 3, 'zstd').toString(), 'a\nb\n');
});

test('not zstd, a cut-off zstd stream and a frame asking for a window above the limit throw', () => {
  assert.throws(() => inflate(Buffer.from('{"not":"zstd"}\n'), 4, 'zstd'), /frame descriptor|prefix/i);
  const body = zstdCompressSync(text);
  assert.throws(() => inflate(body.subarray(0, body.length - 9), 64, 'zstd'), /unexpected end of file/);
  assert.throws(() => inflate(Buffer.alloc(0), 1, 'zstd'), /unexpected end of file/);
  // A frame made with a 64 MiB window: decoding it would allocate that much per request.
  const wide = zstdCompressSync(Buffer.alloc(8 * 1024 * 1024, 0x61), { params: { [constants.ZSTD_c_windowLog]: ZSTD_WINDOW_LOG + 5, [constants.ZSTD_c_compressionLevel]: 19 } });
  assert.throws(() => inflate(wide, 64 * 1024, 'zstd'), /too much memory|window/i);
  const narrow = zstdCompressSync(Buffer.alloc(8 * 1024 * 1024, 0x61), { params: { [constants.ZSTD_c_windowLog]: ZSTD_WINDOW_LOG } });
  assert.equal(inflate(narrow, 64 * 1024, 'zstd').length, 8 * 1024 * 1024);
});
