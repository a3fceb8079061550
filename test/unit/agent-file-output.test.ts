// --output file: rotated NDJSON files that a shipper tails while they rotate. The agent runs on
// a synthetic source (its whole pipeline, flush to file); a tailer that follows renames the way
// Filebeat and Fluent Bit do must read every document exactly once.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { agentDefaults, type AgentConfig } from '../../agent/config.js';
import { FileSink } from '../../agent/delivery/file-sink.js';
import { RotatingFile } from '../../agent/delivery/rotating-file.js';
import { startAgent } from '../../agent/run.js';
import { SyntheticCollector, flowRecord } from '../../agent/synthetic.js';
import { ConfigError } from '../../common/errors.js';
import { sampleFlowLog } from '../support/documents.js';
import { skipOrFail } from '../support/environment.js';
import { FileTailer } from '../support/file-tailer.js';
import { pino } from 'pino';

const silent = pino({ level: 'silent' });

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const LIMITS = { output_file_max_size: 64 * 1024, output_file_max_age: 0, output_file_backups: 3, output_file_compress: true };

function fileConfig(dir: string, over: Partial<AgentConfig> = {}): AgentConfig {
  return agentDefaults({ output: 'file', output_path: dir, ...LIMITS, process_events: false, dns: false, node_name: 'file-node', flush_interval: 3_600_000, attribution_delay: 0, procfs_scan: false, listen: '127.0.0.1:0', ...over });
}

test('a shipper tailing the flow file while it rotates reads every document once', async (t) => {
  const dir = tempDir(t);
  const collector = new SyntheticCollector();
  const running = await startAgent(fileConfig(dir), { collector, log: silent });
  const tailer = new FileTailer(dir, 'procflow-flows');
  tailer.start();
  // An interval's documents (about 40 kB) rotate the 64 kB file at most once, while the tailer
  // reads; it keeps up between intervals, as a shipper that is not overloaded does (one that lags
  // by more than one rotation may find the backup it missed already compressed).
  const rounds = 60;
  const perRound = 100;
  for (let r = 0; r < rounds; r++) {
    collector.addFlows(Array.from({ length: perRound }, (_, i) => flowRecord({ pid: 100, pidStartNs: 1n, localPort: 10_000 + r * perRound + i, bytesOut: 1 + i, packetsOut: 1 })));
    await running.agent.flush();
    await tailer.waitFor((r + 1) * perRound);
  }
  await running.shutdown();
  await tailer.stop();

  const ports = tailer.lines.map((l) => (JSON.parse(l) as { source_port: number }).source_port);
  assert.equal(ports.length, rounds * perRound, 'each flow log read once: none lost, none repeated');
  assert.equal(new Set(ports).size, rounds * perRound);
  assert.ok(tailer.files > 10, `the tailer followed ${tailer.files} files: the file rotated many times`);

  const names = readdirSync(dir).filter((n) => n.startsWith('procflow-flows-')).sort();
  assert.equal(names.length, 3, `--output-file-backups 3 kept: ${names.join(', ')}`);
  assert.ok(names.slice(0, 2).every((n) => n.endsWith('.ndjson.gz')), `backups but the newest compressed: ${names.join(', ')}`);
  assert.ok(names[2]!.endsWith('.ndjson'), 'the newest backup stays plain for a shipper that lags');
  for (const n of names) {
    const raw = readFileSync(join(dir, n));
    const text = n.endsWith('.gz') ? gunzipSync(raw).toString() : raw.toString();
    assert.ok(text.endsWith('\n') && text.length <= LIMITS.output_file_max_size, `${n}: whole lines within the size limit`);
    for (const line of text.trimEnd().split('\n')) JSON.parse(line);
  }
  assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left behind');
});

test('a partial last line (a crash mid-write) is cut off when the file is opened again, and counted', async (t) => {
  const dir = tempDir(t);
  const whole = `${JSON.stringify(sampleFlowLog())}\n`.repeat(2);
  writeFileSync(join(dir, 'procflow-flows.ndjson'), `${whole}{"@timestamp":"2026-`);
  const sink = new FileSink({ output_path: dir, ...LIMITS });
  await sink.prepare();
  assert.equal(readFileSync(join(dir, 'procflow-flows.ndjson'), 'utf8'), whole);
  assert.equal(sink.stats.files.flows.repairedBytes, '{"@timestamp":"2026-'.length);
  assert.equal(await sink.write('flows', [sampleFlowLog({ source_port: 7 })]), 1);
  await sink.close();
  const lines = readFileSync(join(dir, 'procflow-flows.ndjson'), 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.equal((JSON.parse(lines[2]!) as { source_port: number }).source_port, 7);
});

test('a file older than --output-file-max-age is rotated at the next write; an empty one never is', async (t) => {
  const dir = tempDir(t);
  let now = Date.parse('2026-12-02T10:00:00Z');
  const f = new RotatingFile(dir, 'procflow-flows', { ...LIMITS, output_file_max_age: 60_000 }, () => now);
  await f.prepare();
  now += 120_000;
  assert.equal(f.needsRotation(0, 10), false, 'an empty file has nothing to hand over');
  await f.append(Buffer.from('{}\n'), 1);
  assert.equal(f.needsRotation(0, 10), false, 'the age counts from the first line');
  now += 60_000;
  assert.equal(f.needsRotation(0, 10), true);
  await f.rotate();
  await f.close();
  assert.deepEqual(readdirSync(dir).sort(), ['procflow-flows-20261202T100300.000Z.ndjson', 'procflow-flows.ndjson']);
});

test('documents that fail the contract are counted and not written', async (t) => {
  const dir = tempDir(t);
  const sink = new FileSink({ output_path: dir, ...LIMITS });
  const bad = { ...sampleFlowLog(), bytes_out: -1 };
  assert.equal(await sink.write('flows', [sampleFlowLog(), bad, sampleFlowLog({ source_port: 9 })]), 2);
  await sink.close();
  assert.equal(sink.stats.invalidDocs.flows, 1);
  assert.equal(readFileSync(join(dir, 'procflow-flows.ndjson'), 'utf8').trimEnd().split('\n').length, 2);
});

test('FileSink.hold writes the files write() writes, rotating between the same lines, and counts the invalid ones', async (t) => {
  // About 90 kB of lines against a 64 kB file: a rotation falls inside the held blocks.
  const docs: object[] = Array.from({ length: 120 }, (_, i) => sampleFlowLog({ source_port: i, process_name: `/usr/bin/${'é'.repeat(i * 3)}` }));
  docs.splice(7, 0, { ...sampleFlowLog(), bytes_out: -1 });
  const written = async (use: (sink: FileSink) => Promise<number>) => {
    const dir = tempDir(t);
    const sink = new FileSink({ output_path: dir, ...LIMITS, output_file_compress: false });
    assert.equal(await use(sink), docs.length - 1);
    await sink.close();
    const files = readdirSync(dir).sort();
    return { files: files.length, lines: files.map((n) => readFileSync(join(dir, n), 'utf8')).join('').split('\n').filter(Boolean).sort(), invalid: sink.stats.invalidDocs.flows };
  };
  const direct = await written((sink) => sink.write('flows', docs));
  const held = await written(async (sink) => {
    const h = sink.hold('flows');
    for (const d of docs) h.add(d);
    assert.equal(h.count, docs.length - 1, 'the invalid one is counted at once, not held');
    const n = await h.write();
    assert.equal(h.count, 0);
    return n;
  });
  assert.ok(direct.files >= 2, `rotated into ${direct.files} files`);
  assert.deepEqual(held, direct);
  assert.equal(held.invalid, 1);
});

test('a full disk: the lost documents are counted and the file keeps only whole lines', async (t) => {
  if (process.getuid?.() !== 0) return skipOrFail(t, 'mounting a small tmpfs needs root');
  const dir = mkdtempSync(join(tmpdir(), 'procflow-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  t.after(() => {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const sink = new FileSink({ output_path: dir, ...LIMITS, output_file_max_size: 1024 ** 2, output_file_backups: 0 });
  await sink.prepare();
  const total = 400;
  const docs = Array.from({ length: total }, (_, i) => sampleFlowLog({ source_port: i }));
  await assert.rejects(sink.write('flows', docs), /ENOSPC|no space/i);
  const text = readFileSync(join(dir, 'procflow-flows.ndjson'), 'utf8');
  const lines = text.length ? text.trimEnd().split('\n') : [];
  assert.ok(text === '' || text.endsWith('\n'), 'no partial line left for a tailer');
  assert.ok(sink.stats.writeFailedDocs.flows > 0);
  assert.equal(lines.length + sink.stats.writeFailedDocs.flows, total, 'every document is either in the file or counted as lost');
  assert.equal(sink.stats.files.flows.lines, lines.length);
  await sink.close();
});

test('--output file into a directory that cannot be written fails the start with the setting named', async () => {
  await assert.rejects(startAgent(fileConfig('/proc/procflow-cannot-write'), { collector: new SyntheticCollector(), log: silent }),
    (err: Error) => err instanceof ConfigError && /--output-path/.test(err.message));
});
