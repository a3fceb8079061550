// --output file into Elasticsearch the way the README's Fluent Bit configuration ships it: every
// line of every kind's files, tailed while they rotate, is created in procflow-<kind>-YYYY.MM.DD
// (the day of its @timestamp, Logstash-style) with an id hashed from the line (Generate_ID).
// procflow's strict templates must take each line as written, and a shipper that reads a
// backup again after a restart must add nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Client } from '@elastic/elasticsearch';
import { pino } from 'pino';
import { agentDefaults } from '../../agent/config.js';
import { startAgent } from '../../agent/run.js';
import { SyntheticCollector, execEvent, exitEvent, flowRecord } from '../../agent/synthetic.js';
import { DOC_KINDS, INDEX_PREFIX, dailyIndex, type DocKind } from '../../schema/index.js';
import { installTemplates } from '../../schema/install.js';
import { getTestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';
import { FileTailer } from '../support/file-tailer.js';

const lineId = (line: string) => createHash('sha1').update(line).digest('hex');

/** Creates each line in its day's index; returns how many were new and how many already there. */
async function ship(client: Client, kind: DocKind, lines: string[]): Promise<{ created: number; existed: number; errors: string[] }> {
  const out = { created: 0, existed: 0, errors: [] as string[] };
  if (!lines.length) return out;
  const operations = lines.flatMap((line) => {
    const doc = JSON.parse(line) as { '@timestamp': string };
    return [{ create: { _index: dailyIndex(kind, doc['@timestamp']), _id: lineId(line) } }, doc];
  });
  const res = await client.bulk({ operations, refresh: true });
  for (const item of res.items) {
    const r = item.create!;
    if (r.status === 201) out.created++;
    else if (r.status === 409) out.existed++;
    else out.errors.push(`${r.status} ${JSON.stringify(r.error)}`);
  }
  return out;
}

test('rotated output files shipped like the README\'s Fluent Bit setup land in procflow\'s indices once each', async (t) => {
  const res = await getTestCluster();
  if (!res.cluster) return skipOrFail(t, res.reason);
  const { client } = res.cluster;
  await installTemplates(client, { retentionDays: 7 });
  const dir = mkdtempSync(join(tmpdir(), 'procflow-ship-'));
  const node = `file-ship-${process.pid}`;
  t.after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await client.deleteByQuery({ index: `${INDEX_PREFIX}-*`, query: { bool: { should: [{ term: { host: node } }, { term: { node_name: node } }] } }, refresh: true, ignore_unavailable: true }).catch(() => {});
    await res.cluster.stop();
  });

  const collector = new SyntheticCollector();
  const running = await startAgent(agentDefaults({
    output: 'file', output_path: dir, output_file_max_size: 16 * 1024, output_file_backups: 4, output_file_compress: true,
    node_name: node, flush_interval: 3_600_000, attribution_delay: 0, procfs_scan: false, dns: false, listen: '127.0.0.1:0',
  }), { collector, log: pino({ level: 'silent' }) });
  const tailers = Object.fromEntries(DOC_KINDS.map((k) => [k, new FileTailer(dir, `${INDEX_PREFIX}-${k}`)])) as Record<DocKind, FileTailer>;
  for (const tl of Object.values(tailers)) tl.start();

  const rounds = 12;
  for (let r = 0; r < rounds; r++) {
    const pids = Array.from({ length: 10 }, (_, i) => 20_000 + r * 10 + i);
    collector.emit(pids.map((pid) => execEvent(pid, BigInt(pid) * 1000n, '/usr/bin/curl', ['-s', `https://example.com/${pid}`, 'naïve ünïcode'])));
    collector.addFlows(pids.map((pid) => flowRecord({ pid, pidStartNs: BigInt(pid) * 1000n, localPort: pid, bytesOut: pid, packetsOut: 1, bytesIn: 7, packetsIn: 1 })));
    collector.emit(pids.map((pid) => exitEvent(pid, BigInt(pid) * 1000n, r % 3, 0)));
    await running.agent.flush();
    // The shipper keeps up: what the agent wrote is read before the next interval.
    await Promise.all(DOC_KINDS.map((k) => tailers[k].waitFor(running.fileSink!.stats.files[k].lines)));
  }
  await running.shutdown();
  for (const tl of Object.values(tailers)) await tl.stop();

  assert.equal(tailers.flows.lines.length, rounds * 10, 'every flow log was read from the files');
  assert.equal(tailers.process.lines.length, rounds * 20, 'every exec and exit was read from the files');
  assert.ok(tailers.flows.files > 2 && tailers.process.files > 2, 'the files rotated while they were tailed');

  for (const kind of DOC_KINDS) {
    const first = await ship(client, kind, tailers[kind].lines);
    assert.deepEqual(first.errors, [], `${kind}: the templates take every line as written`);
    assert.equal(first.created, tailers[kind].lines.length, `${kind}: each line created once`);
  }
  // A restarted shipper without its registry reads the plain files again: nothing new lands.
  for (const kind of DOC_KINDS) {
    const plain = readdirSync(dir).filter((n) => n.startsWith(`${INDEX_PREFIX}-${kind}`) && n.endsWith('.ndjson'));
    const again = plain.flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n').filter(Boolean));
    const second = await ship(client, kind, again);
    assert.deepEqual([second.created, second.errors], [0, []], `${kind}: read again, nothing duplicated`);
    assert.equal(second.existed, again.length);
  }
  const flows = await client.count({ index: `${INDEX_PREFIX}-flows-*`, query: { term: { host: node } } });
  assert.equal(flows.count, rounds * 10);
  const hit = await client.search<{ process_args: string[]; bytes_out: number }>({ index: `${INDEX_PREFIX}-flows-*`, query: { bool: { filter: [{ term: { host: node } }, { term: { source_port: 20_005 } }] } } });
  assert.deepEqual(hit.hits.hits[0]?._source?.process_args, ['-s https://example.com/20005 naïve ünïcode'], 'arguments kept as written, non-ASCII included');
});
