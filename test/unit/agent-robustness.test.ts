// The agent under things going wrong: a source that throws, a spool whose directory vanished or
// cannot be created, a spooled batch deleted behind the agent's back, a process whose exec
// arrives after its flows were attributed. Each must be counted and survived, never fatal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { unpackBatch } from '../support/batches.js';
import { pino } from 'pino';
import { Agent } from '../../agent/agent.js';
import { ProcessCache } from '../../agent/process/process-cache.js';
import { Redactor } from '../../agent/process/redact.js';
import { Shipper } from '../../agent/delivery/shipper.js';
import { SpoolSink, type DocSink } from '../../agent/delivery/sink.js';
import { Spool } from '../../agent/delivery/spool.js';
import { SyntheticCollector, execEvent, flowRecord } from '../../agent/synthetic.js';
import { describeError } from '../../common/errors.js';
import { sampleFlowLog } from '../support/documents.js';
import { agentDefaults } from '../../agent/config.js';

const S = 1_000_000_000n;
const silent = pino({ level: 'silent' });

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-robust-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

class MemorySink implements DocSink {
  readonly docs: { kind: string; doc: object }[] = [];
  async write(kind: 'flows' | 'process', docs: Iterable<object>): Promise<number> {
    let n = 0;
    for (const doc of docs) {
      this.docs.push({ kind, doc });
      n++;
    }
    return n;
  }
}


/** An HTTP server that answers every batch like an indexer accepting one document; `got` holds the batches, unzipped. */
async function acceptingIndexer(t: { after(fn: () => Promise<void>): void }): Promise<{ got: string[]; server: ReturnType<typeof createServer> }> {
  const got: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push(unpackBatch(Buffer.concat(chunks)).trim());
      res.writeHead(200).end('{"accepted":1}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { got, server };
}

test('a source whose drain throws fails one interval (counted), not the agent or later intervals', async () => {
  const collector = new SyntheticCollector();
  let failNext = true;
  const drain = collector.drainFlows.bind(collector);
  collector.drainFlows = () => {
    if (failNext) {
      failNext = false;
      throw new Error('ring buffer went away');
    }
    return drain();
  };
  const sink = new MemorySink();
  const agent = new Agent({ collector, sink, log: silent }, { ...agentDefaults(), node_name: 'n', flush_interval: 3_600_000, procfs_scan: false, procfsFallback: false, attribution_delay: 0 });
  agent.start();
  try {
    await agent.flush(); // must resolve, not reject
    assert.equal(agent.stats.flushErrors, 1);
    collector.addFlows([flowRecord({ pid: 7, pidStartNs: 5n * S, bytesOut: 10 })]);
    await agent.flush();
    assert.equal(sink.docs.filter((d) => d.kind === 'flows').length, 1, 'the next interval is written');
    const text = await agent.metrics.registry.metrics();
    assert.match(text, /procflow_agent_flush_errors_total 1/);
  } finally {
    await agent.stop();
  }
});

test('a spool directory that disappeared: the batch is dropped and counted, nothing throws, no temp file is left', async (t) => {
  const dir = tempDir(t);
  const spool = new Spool(agentDefaults({ spool_dir: dir, spool_max_size: 1 << 20 }));
  assert.equal(await spool.put('flows', gzipSync('{"a":1}\n'), 1), true);
  rmSync(dir, { recursive: true, force: true });
  assert.equal(await spool.put('flows', gzipSync('{"a":2}\n'), 1), false);
  assert.equal(spool.stats.writeFailedBatches, 1);
  assert.equal(spool.stats.writeFailedDocs, 1);
  // And the sink keeps going after a failed batch (the rest of the interval is still tried).
  const sink = new SpoolSink(spool, agentDefaults({ batch_max_docs: 1 }));
  assert.equal(await sink.write('flows', [sampleFlowLog({ source_port: 3 }), sampleFlowLog({ source_port: 4 })]), 2);
  assert.equal(spool.stats.writeFailedBatches, 3);
});

test('a spool directory that cannot be created is a configuration error naming --spool-dir', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'not-a-dir');
  writeFileSync(file, 'x');
  assert.throws(() => new Spool(agentDefaults({ spool_dir: join(file, 'spool'), spool_max_size: 1 << 20 })), (err: Error) => {
    assert.match(describeError(err), /--spool-dir/);
    return true;
  });
});

test('a spooled batch deleted behind the agent is dropped and counted; the batches after it still ship', async (t) => {
  const { got, server } = await acceptingIndexer(t);
  const dir = tempDir(t);
  const spool = new Spool(agentDefaults({ spool_dir: dir, spool_max_size: 1 << 20 }));
  await spool.put('flows', gzipSync('{"n":1}\n'), 1);
  await spool.put('flows', gzipSync('{"n":2}\n'), 1);
  unlinkSync(join(dir, readdirSync(dir).filter((n) => n.endsWith('.gz')).sort()[0]!));
  const shipper = new Shipper({ ...agentDefaults(), indexer_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't', spool, log: silent, backoff: { baseMs: 20 }, retry_max_delay: 50, ship_concurrency: 1 });
  t.after(() => shipper.stop());
  shipper.start();
  assert.equal(await shipper.drained(10_000), true, 'the spool empties');
  assert.deepEqual(got, ['{"n":2}']);
  assert.equal(spool.stats.droppedBatches, 1);
  assert.equal(spool.stats.droppedDocs, 1);
});

test('an exec arriving after its flows were attributed to the task name keeps the live process cached', () => {
  let now = 0;
  const c = agentDefaults({ node_name: 'n', exit_retention: 1000 });
  const cache = new ProcessCache({ ...c, redactor: new Redactor(c), now: () => now });
  cache.addGone(42, 7n * S, 'curl'); // a flush found neither cache entry nor /proc entry
  cache.onExec(execEvent(42, 7n * S, '/usr/bin/curl', ['-s', 'x']));
  now = 10_000;
  cache.gc();
  const e = cache.get(42, 7n * S);
  assert.ok(e, 'a running process is not evicted as if it had exited');
  assert.equal(e.binary, '/usr/bin/curl');
});

test('an indexer URL with a path (behind a reverse proxy) keeps its path', async (t) => {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.writeHead(req.url === '/procflow/v1/flows' ? 200 : 404).end('{"accepted":1}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const dir = tempDir(t);
  const spool = new Spool(agentDefaults({ spool_dir: dir, spool_max_size: 1 << 20 }));
  await spool.put('flows', gzipSync('{"n":1}\n'), 1);
  const shipper = new Shipper({ ...agentDefaults(), indexer_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/procflow`, token: 't', spool, log: silent, backoff: { baseMs: 20 }, retry_max_delay: 50 });
  t.after(() => shipper.stop());
  shipper.start();
  assert.equal(await shipper.drained(5000), true);
  assert.deepEqual(paths, ['/procflow/v1/flows']);
});

test('--output ndjson into a pipe that closes (| head -1): the agent stops cleanly instead of crashing on EPIPE', async (t) => {
  const run = new URL('../../agent/run.js', import.meta.url).href;
  const cfg = new URL('../../agent/config.js', import.meta.url).href;
  const syn = new URL('../../agent/synthetic.js', import.meta.url).href;
  const script = `
    import { runAgent } from ${JSON.stringify(run)};
    import { agentDefaults } from ${JSON.stringify(cfg)};
    import { SyntheticCollector, flowRecord } from ${JSON.stringify(syn)};
    const collector = new SyntheticCollector();
    let port = 1000;
    setInterval(() => collector.addFlows(Array.from({ length: 200 }, () => flowRecord({ pid: 9, pidStartNs: 1n, localPort: port++ % 60000 + 1, bytesOut: 1 }))), 20).unref();
    const code = await runAgent(agentDefaults({ output: 'ndjson', flush_interval: 1000, procfs_scan: false, listen: '127.0.0.1:0', log_level: 'warn', spool_dir: '/nonexistent/never-used' }), { collector });
    process.exit(code);
  `;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy(); // the reader goes away, as `head -1` does
  const code = await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(() => r('still running'), 20_000))]);
  if (code === 'still running') child.kill('SIGKILL');
  assert.equal(code, 0, err);
  assert.doesNotMatch(err, /Unhandled 'error' event|unhandled/i);
});

test('a Retry-After far in the future (an HTTP date years ahead) pauses sending without a timer overflow', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  let answered = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      answered++;
      res.writeHead(503, { 'retry-after': 'Fri, 31 Dec 2100 23:59:59 GMT' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const spool = new Spool(agentDefaults({ spool_dir: tempDir(t), spool_max_size: 1 << 20 }));
  await spool.put('flows', gzipSync('{"n":1}\n'), 1);
  const shipper = new Shipper({ ...agentDefaults(), indexer_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't', spool, log: silent });
  shipper.start();
  while (answered === 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  await shipper.stop();
  assert.deepEqual(warnings.filter((w) => w === 'TimeoutOverflowWarning'), []);
  assert.equal(answered, 1, 'no retry storm');
  assert.equal(spool.size, 1, 'the batch stays spooled');
});

test('a --listen port already taken is a clear error naming --listen, and the source is closed', async (t) => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => taken.close(() => r())));
  const collector = new SyntheticCollector();
  const { startAgent } = await import('../../agent/run.js');
  const { agentDefaults } = await import('../../agent/config.js');
  await assert.rejects(
    startAgent(agentDefaults({ output: 'ndjson', procfs_scan: false, listen: `127.0.0.1:${(taken.address() as AddressInfo).port}` }), { collector, log: silent }),
    (err: Error) => {
      assert.match(describeError(err), /--listen/);
      return true;
    },
  );
  assert.equal(collector.closed, true);
});

test('arguments longer than the keyword ignore_above are cut to it and marked truncated, so they stay searchable', async () => {
  const { FLOW_LOG_FIELDS, PROCESS_EVENT_FIELDS } = await import('../../schema/index.js');
  const limit = Math.min(FLOW_LOG_FIELDS.process_args.ignoreAbove, PROCESS_EVENT_FIELDS.process_exec.fields.process.fields.arguments.ignoreAbove);
  const c = agentDefaults({ node_name: 'n' });
  const cache = new ProcessCache({ ...c, redactor: new Redactor(c) });
  const long = ['x'.repeat(6000), 'é'.repeat(6000)];
  const e = cache.onExec(execEvent(50, 3n * S, '/usr/bin/long', long));
  assert.ok(e.argsText.length <= limit, `${e.argsText.length} > ${limit}`);
  assert.equal(e.argsTruncated, true);
  assert.ok(e.flags.includes('truncArgs'));
  const p = cache.onProcfs({ pid: 51, ppid: 1, startNs: 4n * S, comm: 'long', uid: 0, gid: 0, exe: '/usr/bin/long', args: ['/usr/bin/long', ...long], argsTruncated: false, cwd: '/', cgroupPath: '' });
  assert.ok(p.argsText.length <= limit);
  assert.equal(p.argsTruncated, true);
  const short = cache.onExec(execEvent(52, 5n * S, '/usr/bin/short', ['-v']));
  assert.equal(short.argsText, '-v');
  assert.equal(short.argsTruncated, false);
});

test('a 200 that is not the indexer\'s answer (an HTML page from a proxy) does not delete the batch', async (t) => {
  let answered = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      answered++;
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Welcome to nginx!</body></html>');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const spool = new Spool(agentDefaults({ spool_dir: tempDir(t), spool_max_size: 1 << 20 }));
  await spool.put('flows', gzipSync('{"n":1}\n'), 1);
  const reasons: string[] = [];
  const shipper = new Shipper({ ...agentDefaults(),
    indexer_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't', spool, log: silent, backoff: { baseMs: 20 }, retry_max_delay: 50,
    onAttempt: (a) => reasons.push(a.reason),
  });
  shipper.start();
  while (answered < 2) await new Promise((r) => setTimeout(r, 20));
  await shipper.stop();
  assert.equal(spool.size, 1, 'the batch stays spooled');
  assert.equal(shipper.stats.sentDocs, 0);
  assert.equal(reasons[0], 'not_indexer');
});

test('a spooled batch that cannot be read is moved to the dead letter as corrupt, counted and logged once; the batches after it ship', async (t) => {
  const { got, server } = await acceptingIndexer(t);
  const dir = tempDir(t);
  // Something that is not a readable file under a batch's name (EISDIR on read), older than a good batch.
  mkdirSync(join(dir, '0000000000000001-flows-4.ndjson.gz'));
  writeFileSync(join(dir, '0000000000000002-flows-1.ndjson.gz'), gzipSync('{"n":2}\n'));
  const spool = new Spool(agentDefaults({ spool_dir: dir, spool_max_size: 1 << 20 }));
  const errors: { msg: string; error: string }[] = [];
  const log = pino({ level: 'error' }, { write: (line: string) => void errors.push(JSON.parse(line)) });
  const outcomes: string[] = [];
  const shipper = new Shipper({ ...agentDefaults(),
    indexer_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't', spool, log, backoff: { baseMs: 20 }, retry_max_delay: 50, ship_concurrency: 1,
    onAttempt: (a) => outcomes.push(a.outcome),
  });
  t.after(() => shipper.stop());
  shipper.start();
  assert.equal(await shipper.drained(10_000), true, 'the spool empties');
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(got, ['{"n":2}']);
  assert.deepEqual(outcomes, ['corrupt', 'ok'], 'tried once, never again');
  assert.equal(spool.stats.corruptBatches, 1);
  assert.equal(spool.stats.corruptDocs, 4);
  assert.equal(errors.filter((e) => /corrupt/.test(e.msg)).length, 1);
  assert.match(errors[0]!.error, /EISDIR/);
  const reason = JSON.parse(readFileSync(join(dir, 'dead-letter', '0000000000000001-flows-4.reason.json'), 'utf8'));
  assert.match(reason.body, /corrupt spool file: cannot be read/);
});
