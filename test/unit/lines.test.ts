// common/lines.ts: the one line splitter of every NDJSON stream (indexer bodies, the Kubernetes
// watch, `procflow events`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { LineSplitter, streamLines, type LineLimit } from '../../common/lines.js';

function split(chunks: string[], limit: LineLimit | null = null, end = true): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  const s = new LineSplitter((line, n) => out.push([line.toString('utf8'), n]), limit);
  for (const c of chunks) s.push(Buffer.from(c));
  if (end) s.end();
  return out;
}

const tooLong: LineLimit = { maxBytes: 8, tooLong: (n, max) => new Error(`line ${n} is longer than ${max} bytes`) };

test('lines split at every chunk boundary come out whole, numbered, blank lines counted', () => {
  const text = '{"a":1}\n\n{"b":2}\n{"c":3}';
  const want: Array<[string, number]> = [['{"a":1}', 1], ['', 2], ['{"b":2}', 3], ['{"c":3}', 4]];
  for (let cut = 0; cut <= text.length; cut++) assert.deepEqual(split([text.slice(0, cut), text.slice(cut)]), want, `cut at ${cut}`);
  assert.deepEqual(split([...text]), want, 'one byte a chunk');
});

test('CRLF lines lose their CR, also when the CR and LF arrive in different chunks', () => {
  assert.deepEqual(split(['a\r\nb\r', '\nc\r\n']), [['a', 1], ['b', 2], ['c', 3]]);
  assert.deepEqual(split(['x\ry\n']), [['x\ry', 1]], 'a CR inside a line stays');
});

test('a line spanning many chunks is joined once; a line inside one chunk is a view of it', () => {
  const parts = Array.from({ length: 50 }, (_, i) => String(i % 10).repeat(7));
  assert.deepEqual(split([...parts, '\n']), [[parts.join(''), 1]]);
  const chunk = Buffer.from('one\ntwo\n');
  const seen: Buffer[] = [];
  const s = new LineSplitter((line) => seen.push(line));
  s.push(chunk);
  assert.equal(seen[0]!.buffer, chunk.buffer, 'no copy');
});

test('end() gives the last line without a newline; without end() it is held back', () => {
  assert.deepEqual(split(['a\nb'], null, false), [['a', 1]]);
  assert.deepEqual(split(['a\nb']), [['a', 1], ['b', 2]]);
  assert.deepEqual(split(['a\n']), [['a', 1]], 'nothing after the last newline: no empty line');
});

test('the limit fails a long line with its number, as soon as its bytes pass it', () => {
  assert.deepEqual(split(['12345678\n', '1234567\r\n'], tooLong), [['12345678', 1], ['1234567', 2]], 'at the limit, and a CR not counted');
  assert.throws(() => split(['ok\n123456789\n'], tooLong), /line 2 is longer than 8 bytes/);
  // An endless line fails while it arrives, before any newline: memory stays bounded.
  const s = new LineSplitter(() => assert.fail('no line'), tooLong);
  s.push(Buffer.from('12345'));
  assert.throws(() => s.push(Buffer.from('67890')), /line 1 is longer than 8 bytes/);
  assert.throws(() => split(['123456789'], tooLong), /line 1 is longer/, 'the last line too');
});

test('streamLines yields the lines of a stream across chunks and drops a cut-off tail', async () => {
  const got: string[] = [];
  for await (const line of streamLines(Readable.from([Buffer.from('{"a"'), Buffer.from(':1}\r\n\n{"b":2}\n{"cut')]))) got.push(line.toString('utf8'));
  assert.deepEqual(got, ['{"a":1}', '', '{"b":2}']);
});

test('streamLines pulls the next chunk only once the lines before were taken, and applies the limit', async () => {
  const pulled: number[] = [];
  async function* source() {
    for (let i = 0; i < 3; i++) {
      pulled.push(i);
      yield Buffer.from(`${i}\n`);
    }
  }
  const lines = streamLines(source());
  assert.equal((await lines.next()).value!.toString(), '0');
  assert.deepEqual(pulled, [0]);
  await lines.return(undefined);
  assert.deepEqual(pulled, [0], 'stopping early stops reading');
  await assert.rejects(async () => {
    for await (const _ of streamLines(Readable.from([Buffer.from('123456789\n')]), tooLong)) assert.fail('no line');
  }, /line 1 is longer than 8 bytes/);
});
