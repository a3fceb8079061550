// End to end on this machine: the real kernel collection, `procflow agent` and `procflow indexer`
// as child processes, the real Elasticsearch. Known traffic (TCP over IPv4 and IPv6 with exact
// byte counts, UDP, a process that lives for milliseconds, a server started before the agent)
// must land in procflow-flows-* with the right process_name, args and bytes; process_exec/exit
// documents must match the processes run; the indexer killed for 30 s and the agent restarted
// with batches still spooled must lose nothing and duplicate nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkKernelSupport } from '../../native/index.js';
import { FLOWS_PATTERN, PROCESS_PATTERN, type FlowLog, type ProcessEventDoc } from '../../schema/index.js';
import { getTestCluster, type TestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';
import { freePort } from '../../common/net.js';
import { CLI, run, start, stop, waitFor, type Started } from '../support/processes.js';

const TOKEN = 'e2e-agent-token';
const RUN = `e2e${Date.now().toString(36)}`;
const NODE_NAME = `agent-${RUN}`;

// A TCP (v4 and v6) and UDP server: after the client half-closes, it answers twice as many bytes.
const SERVER = `
const net = require('node:net'), dgram = require('node:dgram');
const onConn = (s) => { let n = 0; s.on('data', (d) => (n += d.length)); s.on('end', () => s.end(Buffer.alloc(2 * n, 0x62))); s.on('error', () => {}); };
const v4 = net.createServer(onConn).listen(0, '127.0.0.1', () => {
  const v6 = net.createServer(onConn).listen(0, '::1', () => {
    const u = dgram.createSocket('udp4'); u.on('message', () => {});
    u.bind(0, '127.0.0.1', () => console.log(JSON.stringify({ v4: v4.address().port, v6: v6.address().port, udp: u.address().port })));
  });
});`;

// A client: sends exactly N bytes, half-closes, reads the answer to the end, checks it.
const TCP_CLIENT = `
const net = require('node:net'); const [, host, port, n] = process.argv.slice(1);
const c = net.connect(Number(port), host, () => c.end(Buffer.alloc(Number(n), 0x61)));
let got = 0; c.on('data', (d) => (got += d.length)); c.on('close', () => process.exit(got === 2 * Number(n) ? 0 : 3));`;

const UDP_CLIENT = `
const dgram = require('node:dgram'); const [, port, count, size] = process.argv.slice(1);
const s = dgram.createSocket('udp4'); let left = Number(count);
const next = () => left-- > 0 ? s.send(Buffer.alloc(Number(size), 0x75), Number(port), '127.0.0.1', next) : s.close();
next();`;

describe('agent end to end (kernel + indexer + Elasticsearch)', () => {
  let cluster: TestCluster | undefined;
  let reason = '';
  let indexer: Started | undefined;
  let agent: Started | undefined;
  let server: Started | undefined;
  let ports: { v4: number; v6: number; udp: number };
  let indexerPort = 0;
  const spoolDir = mkdtempSync(join(tmpdir(), 'procflow-e2e-spool-'));

  // Starting a process takes seconds under qemu's emulation (the kernel matrix's guests), more
  // when the host is busy: the waits for a start allow for that.
  const STARTUP_MS = 120_000;
  const startIndexer = async () => {
    indexer = start([CLI, 'indexer', '--es-url', cluster!.url, '--listen', `127.0.0.1:${indexerPort}`, '--token', TOKEN, '--retry-after', '1s', '--log-level', 'warn']);
    await waitFor('the indexer', async () => (indexer!.output().includes('listening on') ? true : undefined), STARTUP_MS);
  };
  const startAgentChild = async () => {
    agent = start([CLI, 'agent', '--indexer-url', `http://127.0.0.1:${indexerPort}`, '--token', TOKEN, '--flush-interval', '1s', '--spool-dir', spoolDir,
      '--listen', '127.0.0.1:0', '--node-name', NODE_NAME, '--process-events-rate', '0', '--retry-max-delay', '2s', '--shutdown-timeout', '1s', '--log-level', 'info']);
    await waitFor('the agent', async () => {
      if (agent!.child.exitCode !== null) throw new Error(`the agent exited: ${agent!.output()}`);
      return agent!.output().includes('agent: running') ? true : undefined;
    }, STARTUP_MS);
  };

  before(async () => {
    const support = checkKernelSupport();
    if (!support.ok) return void (reason = `kernel collection unavailable: missing ${support.missing.join(', ')}`);
    const res = await getTestCluster();
    if (!res.cluster) return void (reason = res.reason);
    cluster = res.cluster;
    indexerPort = await freePort();
    // The server starts before the agent: its attribution must come from the /proc scan.
    server = start(['-e', SERVER, `e2e-server-${RUN}`]);
    ports = await waitFor('the test server', async () => (server!.output().includes('udp') ? JSON.parse(server!.output().trim().split('\n')[0]!) : undefined));
    await startIndexer();
    await startAgentChild();
  });

  after(async () => {
    await stop(agent);
    await stop(indexer);
    await stop(server, 'SIGKILL');
    rmSync(spoolDir, { recursive: true, force: true });
    if (cluster) {
      for (const [index, field] of [[FLOWS_PATTERN, 'host'], [PROCESS_PATTERN, 'node_name']] as const) {
        await cluster.client.deleteByQuery({ index, query: { term: { [field]: NODE_NAME } }, refresh: true, ignore_unavailable: true, allow_no_indices: true }).catch(() => {});
      }
      await cluster.stop();
    }
  });

  const need = (t: TestContext): boolean => {
    if (!cluster) skipOrFail(t, reason);
    return cluster !== undefined;
  };

  async function flowsOf(pid: number): Promise<FlowLog[]> {
    await cluster!.client.indices.refresh({ index: FLOWS_PATTERN, ignore_unavailable: true, allow_no_indices: true });
    const res = await cluster!.client.search<FlowLog>({ index: FLOWS_PATTERN, size: 1000, query: { bool: { filter: [{ term: { host: NODE_NAME } }, { term: { process_id: String(pid) } }] } } });
    return res.hits.hits.map((h) => h._source!);
  }

  /**
   * Waits until the flows of `pid` towards `port` add up to `bytesOut` (and `bytesIn`), then
   * returns them. The two directions can fall in different intervals: wait for both.
   */
  // The server's port: dest_port when the agent knew (or guessed) the roles right; UDP between two
  // ephemeral ports has no telling, so the port may be on either side there.
  async function waitBytes(pid: number, port: number, bytesOut: number, timeoutMs = 40_000, bytesIn = 0): Promise<FlowLog[]> {
    return waitFor(`flows of pid ${pid} to port ${port} with ${bytesOut} bytes out`, async () => {
      const docs = (await flowsOf(pid)).filter((d) => d.dest_port === port || (d.proto === 'udp' && d.source_port === port));
      return docs.reduce((n, d) => n + d.bytes_out, 0) >= bytesOut && docs.reduce((n, d) => n + d.bytes_in, 0) >= bytesIn ? docs : undefined;
    }, timeoutMs);
  }

  async function processDocs(pid: number): Promise<ProcessEventDoc[]> {
    await cluster!.client.indices.refresh({ index: PROCESS_PATTERN, ignore_unavailable: true, allow_no_indices: true });
    const res = await cluster!.client.search<ProcessEventDoc>({
      index: PROCESS_PATTERN, size: 100,
      query: { bool: { filter: [{ term: { node_name: NODE_NAME } }], should: [{ term: { 'process_exec.process.pid': pid } }, { term: { 'process_exit.process.pid': pid } }], minimum_should_match: 1 } },
    });
    return res.hits.hits.map((h) => h._source!);
  }

  const sum = (docs: FlowLog[], f: 'bytes_out' | 'bytes_in') => docs.reduce((n, d) => n + d[f], 0);

  it('attributes TCP v4/v6, UDP, a millisecond process and a pre-existing server, with exact bytes', { timeout: 120_000 }, async (t) => {
    if (!need(t)) return;
    const v4 = await run(process.execPath, ['-e', TCP_CLIENT, `e2e-v4-${RUN}`, '127.0.0.1', String(ports.v4), '12345']);
    const v6 = await run(process.execPath, ['-e', TCP_CLIENT, `e2e-v6-${RUN}`, '::1', String(ports.v6), '23456']);
    const udp = await run(process.execPath, ['-e', UDP_CLIENT, `e2e-udp-${RUN}`, String(ports.udp), '7', '1000']);
    const short = await run('/bin/bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${ports.v4}; printf hello >&3; exec 3>&-`]);
    assert.deepEqual([v4.code, v6.code, udp.code, short.code], [0, 0, 0, 0], 'the traffic ran');

    const v4Docs = await waitBytes(v4.pid, ports.v4, 12345, 40_000, 24690);
    assert.equal(sum(v4Docs, 'bytes_out'), 12345);
    assert.equal(sum(v4Docs, 'bytes_in'), 24690);
    for (const d of v4Docs) {
      assert.equal(d.process_name, process.execPath);
      assert.equal(d.process_source, 'kernel');
      assert.equal(d.proto, 'tcp');
      assert.equal(d.reporter, 'src');
      assert.equal(d.source_ip, '127.0.0.1');
      assert.ok(d.process_args?.[0]?.endsWith(`e2e-v4-${RUN} 127.0.0.1 ${ports.v4} 12345`), JSON.stringify(d.process_args));
      assert.match(d.community_id ?? '', /^1:/);
    }
    const v6Docs = await waitBytes(v6.pid, ports.v6, 23456, 40_000, 46912);
    assert.equal(sum(v6Docs, 'bytes_out'), 23456);
    assert.equal(sum(v6Docs, 'bytes_in'), 46912);
    assert.ok(v6Docs.every((d) => d.dest_ip === '::1' && d.process_name === process.execPath));

    // bytes_out is what this host's process sent, whichever side the reporter is on.
    const udpDocs = await waitBytes(udp.pid, ports.udp, 7000);
    assert.equal(sum(udpDocs, 'bytes_out'), 7000);
    assert.ok(udpDocs.every((d) => d.proto === 'udp' && d.process_args?.[0]?.includes(`e2e-udp-${RUN}`)));

    const shortDocs = await waitBytes(short.pid, ports.v4, 5);
    assert.equal(sum(shortDocs, 'bytes_out'), 5);
    assert.ok(shortDocs.every((d) => d.process_name === '/bin/bash' && d.process_args?.[0]?.includes('/dev/tcp/127.0.0.1')), JSON.stringify(shortDocs[0]));

    // The server predates the agent: attributed from /proc, with its arguments.
    const serverDocs = await waitFor('the server side', async () => {
      const docs = (await flowsOf(server!.child.pid!)).filter((d) => d.reporter === 'dst' && d.dest_port === ports.v4);
      return sum(docs, 'bytes_in') >= 12345 + 5 ? docs : undefined;
    });
    const exe = readlinkSync(`/proc/${server!.child.pid}/exe`);
    for (const d of serverDocs) {
      assert.equal(d.process_name, exe);
      assert.equal(d.process_source, 'procfs');
      assert.ok(d.process_args?.[0]?.endsWith(`e2e-server-${RUN}`));
    }

    // process_exec / process_exit documents of the processes run, joined by exec_id.
    for (const p of [v4, short]) {
      const docs = await waitFor(`process events of ${p.pid}`, async () => {
        const d = await processDocs(p.pid);
        return d.length >= 2 ? d : undefined;
      });
      const exec = docs.find((d) => d.event_type === 'process_exec')!;
      const exit = docs.find((d) => d.event_type === 'process_exit')!;
      assert.equal(exec.process_exec!.process.exec_id, exit.process_exit!.process.exec_id);
      assert.equal(exit.process_exit!.status, 0);
      const flows = p === v4 ? v4Docs : shortDocs;
      assert.equal(flows[0]!.process_exec_id, exec.process_exec!.process.exec_id);
      assert.equal(exec.process_exec!.process.binary, p === v4 ? process.execPath : '/bin/bash');
      assert.equal(exec.process_exec!.parent?.pid, process.pid);
    }

    // `procflow flows`: the terminal view of the same data lists these processes as talkers.
    const view = start([CLI, 'flows', '--es-url', cluster!.url, '--host', NODE_NAME, '--since', '10m', '--top', '20', '-o', 'json']);
    await new Promise((r) => view.child.once('exit', r));
    assert.equal(view.child.exitCode, 0, view.output());
    const talkers = (JSON.parse(view.output()) as { talkers: { process: string; bytesOut: number }[] }).talkers;
    assert.ok(talkers.some((x) => x.process === '/bin/bash' && x.bytesOut >= 5), view.output());
    assert.ok(talkers.some((x) => x.process === process.execPath && x.bytesOut >= 12345 + 23456 + 7000));
  });

  it('an indexer down for 30 s loses nothing and duplicates nothing', { timeout: 240_000 }, async (t) => {
    if (!need(t)) return;
    await stop(indexer, 'SIGKILL');
    const downAt = Date.now();
    const during: { pid: number; bytes: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const n = 5000 + i * 1111;
      const r = await run(process.execPath, ['-e', TCP_CLIENT, `e2e-outage-${i}-${RUN}`, '127.0.0.1', String(ports.v4), String(n)]);
      assert.equal(r.code, 0);
      during.push({ pid: r.pid, bytes: n });
      await sleep(5000);
    }
    await sleep(Math.max(0, 30_000 - (Date.now() - downAt)));
    assert.ok(readdirSync(spoolDir).some((n) => n.endsWith('.ndjson.zst')), 'batches waited in the spool');
    await startIndexer();
    for (const d of during) {
      // Both directions: the answer's bytes may sit in a later batch than the request's.
      const docs = await waitBytes(d.pid, ports.v4, d.bytes, 60_000, 2 * d.bytes);
      await sleep(2000); // anything duplicated would arrive by now
      const again = (await flowsOf(d.pid)).filter((x) => x.dest_port === ports.v4);
      const seen = JSON.stringify(again.map((x) => [x.start_time, x.end_time, x.bytes_out, x.bytes_in, x.process_exec_id]));
      assert.equal(sum(again, 'bytes_out'), d.bytes, `exactly once: ${seen}`);
      assert.equal(sum(again, 'bytes_in'), 2 * d.bytes, `exactly once: ${seen}`);
      assert.equal(again.length, docs.length, `no document after both directions arrived: ${seen}`);
    }
  });

  it('an agent restarted with batches in its spool sends them', { timeout: 240_000 }, async (t) => {
    if (!need(t)) return;
    await stop(indexer, 'SIGKILL');
    const r = await run(process.execPath, ['-e', TCP_CLIENT, `e2e-restart-${RUN}`, '127.0.0.1', String(ports.v4), '4321']);
    assert.equal(r.code, 0);
    await sleep(2500); // at least one flush with the indexer down
    await stop(agent); // SIGTERM: flushes the interval; the batches stay spooled
    assert.equal(agent!.child.exitCode, 0, agent!.output().slice(-2000));
    assert.ok(readdirSync(spoolDir).some((n) => n.endsWith('.ndjson.zst')), 'the stopped agent left batches');
    await startAgentChild();
    assert.match(agent!.output(), /resuming the spool/);
    await startIndexer();
    const docs = await waitBytes(r.pid, ports.v4, 4321, 60_000, 8642);
    assert.equal(sum(docs, 'bytes_out'), 4321);
    assert.equal(sum(docs, 'bytes_in'), 8642);
  });
});
