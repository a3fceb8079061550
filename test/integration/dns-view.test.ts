// `procflow dns` against the real Elasticsearch: the processes that asked most, each with its
// top domains and failed answers, filters by response code and name, the newest logs with
// control characters escaped, and -o json with the values unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { DNS_CONTRACT, type DnsLog } from '../../schema/index.js';
import { installTemplates } from '../../schema/install.js';
import { sampleDnsLog } from '../support/documents.js';
import { getTestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';

const CLI = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));

interface View {
  processes: { process: string; queries: number; failed: number; p99Ns: number | null; domains: { domain: string; queries: number; failed: number }[] }[];
  latest: DnsLog[];
}

test('procflow dns lists the processes that asked most with their domains and failures, filters, and escapes what it prints', async (t) => {
  const res = await getTestCluster();
  if (!res.cluster) return skipOrFail(t, res.reason);
  const { client, url } = res.cluster;
  const host = `dns-view-${randomUUID().slice(0, 8)}`;
  const now = Date.now();
  const at = (n: number) => ({ '@timestamp': new Date(now - n * 1000).toISOString(), end_time: new Date(now - n * 1000).toISOString(), start_time: new Date(now - n * 1000 - 15_000).toISOString() });
  const docs: DnsLog[] = [
    sampleDnsLog({ ...at(3), host, qname: 'example.com', count: 5, latency_p99: 2_500_000 }),
    sampleDnsLog({ ...at(2), host, qname: 'missing.example', rcode: 'NXDomain', rrsets: [], count: 2, latency_p99: 900_000 }),
    sampleDnsLog({ ...at(1), host, qname: 'api.example.com', count: 1, process_name: '/usr/bin/python3', process_id: '77', process_args: ['sync.py\u001b[2J'], latency_p99: 40_000_000 }),
  ];
  for (const d of docs) assert.equal(DNS_CONTRACT.validate(d), null);
  // The index the documents land in must have procflow's mapping (a cluster of its own has no templates yet).
  await installTemplates(client, { retentionDays: 7 });
  await client.bulk({ refresh: true, operations: docs.flatMap((d) => [{ index: { _index: DNS_CONTRACT.index(d), _id: DNS_CONTRACT.id(d) } }, d]) });
  t.after(async () => {
    for (const d of docs) await client.delete({ index: DNS_CONTRACT.index(d), id: DNS_CONTRACT.id(d), refresh: true });
    await res.cluster.stop();
  });
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'dns', '--es-url', url, '--host', host, '--since', '10m', ...args], { encoding: 'utf8', timeout: 60_000 });

  const json = run('-o', 'json', '--latest', '3');
  assert.equal(json.status, 0, json.stderr);
  const view = JSON.parse(json.stdout) as View;
  assert.deepEqual(view.processes.map((p) => [p.process, p.queries, p.failed, p.p99Ns]), [['/usr/bin/curl', 7, 2, 2_500_000], ['/usr/bin/python3', 1, 0, 40_000_000]]);
  assert.deepEqual(view.processes[0]!.domains, [{ domain: 'example.com', queries: 5, failed: 0 }, { domain: 'missing.example', queries: 2, failed: 2 }]);
  assert.deepEqual(view.latest.map((d) => d.qname), ['api.example.com', 'missing.example', 'example.com']);
  assert.deepEqual(view.latest[0]!.process_args, ['sync.py\u001b[2J']);

  const failures = JSON.parse(run('-o', 'json', '--rcode', 'NXDomain').stdout) as View;
  assert.deepEqual(failures.processes.map((p) => [p.process, p.queries]), [['/usr/bin/curl', 2]]);
  const one = JSON.parse(run('-o', 'json', '--domain', 'API.example.com.').stdout) as View;
  assert.deepEqual(one.processes.map((p) => p.process), ['/usr/bin/python3']);

  const text = run('--latest', '1');
  assert.equal(text.status, 0, text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 6, text.stdout);
  assert.match(lines[1]!, /^\/usr\/bin\/curl +7 +2 +2\.5 ms +example\.com 5, missing\.example 2 \(2 failed\)$/);
  assert.match(lines[2]!, /^\/usr\/bin\/python3 +1 +0 +40\.0 ms +api\.example\.com 1$/);
  assert.ok(lines[5]!.endsWith('/usr/bin/python3 sync.py\\x1b[2J'), lines[5]);
  assert.ok(!/[\u0000-\u0009\u000b-\u001f]/.test(text.stdout), 'no control character but the line ends reaches the terminal');

  const none = run('--rcode', 'Refused');
  assert.equal(none.status, 0, none.stderr);
  assert.match(none.stdout, /^no DNS logs in procflow-dns-\* in the last 600 s that match/);
});

test('procflow dns with Elasticsearch unreachable says so and what to do', () => {
  const out = spawnSync(process.execPath, [CLI, 'dns', '--es-url', 'http://127.0.0.1:9'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(out.status, 1, out.stdout);
  assert.match(out.stderr, /127\.0\.0\.1:9/);
});
