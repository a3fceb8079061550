// Each dashboard panel's query, as Kibana would send it, against the real Elasticsearch with
// the real templates installed and contract-shaped documents seeded: every Lens layer returns
// buckets with values, every saved search returns its columns, every control has options, and
// every field the objects read is aggregatable in the real index mapping where it aggregates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Client, estypes } from '@elastic/elasticsearch';
import { getTestCluster, type TestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';
import { sampleDnsLog, sampleFlowLog } from '../support/documents.js';
import { installTemplates } from '../../schema/install.js';
import { DNS_CONTRACT, FLOW_CONTRACT, PROCESS_CONTRACT, type DnsLog, type FlowLog, type ProcessEventDoc, type ProcessInfo } from '../../schema/index.js';
import { buildSavedObjects } from '../../kibana/objects.js';
import { bucketRows, controlRequest, dashboardControls, dataViewIndex, fieldUses, lensRequests, searchRequest, type TimeRange } from '../../kibana/es-query.js';

let cluster: TestCluster | undefined;
let reason = '';
const objects = buildSavedObjects();
const now = new Date();
const range: TimeRange = { from: new Date(now.getTime() - 24 * 3600_000), to: new Date(now.getTime() + 60_000) };

const iso = (minutesAgo: number) => new Date(now.getTime() - minutesAgo * 60_000).toISOString();

function flow(minutesAgo: number, o: Partial<FlowLog>): FlowLog {
  const end = iso(minutesAgo);
  return sampleFlowLog({
    '@timestamp': end,
    start_time: iso(minutesAgo + 1),
    end_time: end,
    source_ip: '10.0.0.5',
    source_port: 40000 + minutesAgo,
    source_name_aggr: 'pvt',
    dest_ip: '93.184.216.34',
    bytes_in: 5000,
    bytes_out: 1200,
    packets_in: 6,
    packets_out: 4,
    process_args: ['-s', 'https://example.com/'],
    process_exec_id: 'node-a:4242:1',
    container_id: 'c0ffee0000000000000000000000000000000000000000000000000000000001',
    tcp_mean_smooth_rtt: 1800,
    tcp_max_smooth_rtt: 2500,
    tcp_mean_min_rtt: 900,
    tcp_max_min_rtt: 1000,
    tcp_mean_send_congestion_window: 10,
    tcp_min_send_congestion_window: 10,
    tcp_mean_mss: 1448,
    tcp_min_mss: 1448,
    tcp_total_retransmissions: 2,
    tcp_lost_packets: 1,
    ...o,
  });
}

const proc = (pid: number, binary: string, args: string, parent?: ProcessInfo): ProcessInfo => ({
  exec_id: `node-a:${pid}:1`,
  pid,
  uid: 0,
  cwd: '/',
  binary,
  arguments: args,
  flags: pid === 103 ? 'execve' : 'execve clone',
  start_time: iso(30),
  auid: 1000,
  user: { name: 'root' },
  ...(parent ? { parent_exec_id: parent.exec_id } : {}),
});

function processEvents(): ProcessEventDoc[] {
  const shell = proc(100, '/usr/bin/bash', '-c deploy.sh');
  const curl = proc(101, '/usr/bin/curl', '-s https://example.com/', shell);
  const grep = proc(102, '/usr/bin/grep', 'needle haystack', shell);
  const sleeper = proc(103, '/usr/bin/sleep', '600', shell);
  const init = proc(1, '/sbin/init', '');
  const exec = (m: number, p: ProcessInfo, parent: ProcessInfo): ProcessEventDoc => ({ '@timestamp': iso(m), time: iso(m), node_name: 'node-a', event_type: 'process_exec', process_exec: { process: p, parent, ancestors: [init] } });
  const exit = (m: number, p: ProcessInfo, parent: ProcessInfo, status: number, signal?: string): ProcessEventDoc => ({
    '@timestamp': iso(m),
    time: iso(m),
    node_name: 'node-a',
    event_type: 'process_exit',
    process_exit: { process: p, parent, status, time: iso(m), ...(signal ? { signal } : {}) },
  });
  return [exec(20, curl, shell), exec(19, grep, shell), exec(18, sleeper, shell), exit(17, curl, shell, 0), exit(16, grep, shell, 1), exit(15, sleeper, shell, 0, 'SIGKILL')];
}

function flows(): FlowLog[] {
  return [
    flow(5, {
      source_workload: 'web', source_workload_kind: 'Deployment', dest_workload: 'api', dest_workload_kind: 'StatefulSet',
      source_container_name: 'web', source_container_image: 'nginx:1.27', source_container_image_id: 'docker.io/library/nginx@sha256:1',
      dest_service_name: 'api', dest_service_namespace: 'shop', dest_service_port: 'http', dest_service_port_num: 80,
      process_parent_name: '/usr/bin/bash', process_user_name: 'root',
    }),
    flow(65, { host: 'node-b', bytes_out: 90_000, bytes_in: 300, process_name: '/usr/bin/ssh', process_args: ['-p', '22', 'backup@10.0.0.9'], dest_ip: '10.0.0.9', dest_port: 22, process_id: '777', process_exec_id: 'node-b:777:1' }),
    flow(125, { proto: 'udp', dest_ip: '10.0.0.2', dest_port: 53, process_name: '/usr/lib/systemd/systemd-resolved', process_args: [], bytes_out: 80, bytes_in: 160, num_flows_completed: 0, tcp_total_retransmissions: undefined, tcp_lost_packets: undefined, tcp_mean_smooth_rtt: undefined, tcp_max_smooth_rtt: undefined }),
    flow(185, { reporter: 'dst', source_ip: '10.0.0.7', dest_ip: '10.0.0.5', dest_port: 8080, process_name: '/usr/sbin/nginx', process_args: ['-g', 'daemon off;'], bytes_out: 40_000, bytes_in: 900, num_flows_completed: 0 }),
  ];
}

function dnsLog(minutesAgo: number, o: Partial<DnsLog>): DnsLog {
  const end = iso(minutesAgo);
  return JSON.parse(JSON.stringify(sampleDnsLog({ '@timestamp': end, start_time: iso(minutesAgo + 1), end_time: end, ...o }))) as DnsLog;
}

const noLatency = { latency_count: 0, latency_mean: undefined, latency_max: undefined, latency_min: undefined, latency_p50: undefined, latency_p90: undefined, latency_p99: undefined };

/** example.com asked 5 times (curl 4, wget 1), an NXDomain for curl, a ServFail without latency for nginx. */
function dnsLogs(): DnsLog[] {
  const failed = { rrsets: [], dns_resolved_ip: undefined };
  return [
    dnsLog(3, { count: 2 }),
    dnsLog(4, { count: 1, process_name: '/usr/bin/wget', process_id: '4343', process_exec_id: 'node-a:4343:1', process_args: ['-q', 'https://example.com/'] }),
    dnsLog(66, { count: 2, qtype: 'AAAA', rrsets: [{ name: 'example.com', class: 'IN', type: 'AAAA', rdata: ['2606:2800:21f:cb07:6820:80da:af6b:8b2c'] }], dns_resolved_ip: ['2606:2800:21f:cb07:6820:80da:af6b:8b2c'], latency_p50: 3_000_000, latency_p90: 5_000_000, latency_p99: 9_000_000, latency_max: 9_000_000 }),
    dnsLog(6, { count: 3, qname: 'no-such-host.example', rcode: 'NXDomain', ...failed }),
    dnsLog(126, { host: 'node-b', count: 1, qname: 'api.internal', rcode: 'ServFail', process_name: '/usr/sbin/nginx', process_id: '900', process_exec_id: 'node-b:900:1', process_args: [], ...failed, ...noLatency }),
  ];
}

/** Deletes procflow indices by name (clusters with action.destructive_requires_name refuse wildcards). */
async function deleteProcflowIndices(client: Client): Promise<void> {
  const res = await client.indices.resolveIndex({ name: 'procflow-*', expand_wildcards: 'all' });
  const names = res.indices.map((i) => i.name);
  if (names.length) await client.indices.delete({ index: names }, { ignore: [404] });
}

async function seed(client: Client): Promise<void> {
  const operations: unknown[] = [];
  for (const d of flows()) {
    const clean = JSON.parse(JSON.stringify(d)) as FlowLog;
    assert.equal(FLOW_CONTRACT.validate(clean), null);
    operations.push({ index: { _index: FLOW_CONTRACT.index(clean), _id: FLOW_CONTRACT.id(clean) } }, clean);
  }
  for (const d of processEvents()) {
    assert.equal(PROCESS_CONTRACT.validate(d), null);
    operations.push({ index: { _index: PROCESS_CONTRACT.index(d), _id: PROCESS_CONTRACT.id(d) } }, d);
  }
  for (const d of dnsLogs()) {
    assert.equal(DNS_CONTRACT.validate(d), null);
    operations.push({ index: { _index: DNS_CONTRACT.index(d), _id: DNS_CONTRACT.id(d) } }, d);
  }
  const res = await client.bulk({ operations: operations as never, refresh: 'wait_for' });
  assert.equal(res.errors, false, JSON.stringify(res.items.filter((i) => i.index?.error).map((i) => i.index?.error)));
}

before(async () => {
  const res = await getTestCluster();
  if (!res.cluster) return void (reason = res.reason);
  cluster = res.cluster;
  await deleteProcflowIndices(cluster.client);
  await installTemplates(cluster.client, { retentionDays: 7 });
  await seed(cluster.client);
});

after(async () => {
  if (cluster) await deleteProcflowIndices(cluster.client);
  await cluster?.stop();
});

test('every field the objects read is mapped in the real indices, aggregatable where it aggregates', async (t) => {
  if (!cluster) return skipOrFail(t, reason);
  const { client } = cluster;
  for (const dv of objects.filter((o) => o.type === 'index-pattern')) {
    const { index } = dataViewIndex(objects, dv.id);
    const caps = await client.fieldCaps({ index, fields: '*' });
    const uses = fieldUses(objects).filter((u) => {
      const o = objects.find((x) => x.id === u.object)!;
      return o.id === dv.id || o.references.some((r) => r.id === dv.id && (o.type !== 'dashboard' || r.name.startsWith('controlGroup_')));
    });
    assert.ok(uses.length > 0);
    for (const u of uses) {
      const o = objects.find((x) => x.id === u.object)!;
      if (o.type === 'dashboard' && !dashboardControls(o).some((c) => c.field === u.field && c.dataViewId === dv.id)) continue;
      const cap = caps.fields[u.field];
      assert.ok(cap, `${u.object}: ${u.field} is not in the mapping of ${index}`);
      const types = Object.values(cap);
      if (['terms', 'cardinality', 'numeric', 'date_histogram', 'control', 'time'].includes(u.use)) {
        assert.ok(types.every((c) => c.aggregatable), `${u.object}: ${u.field} must be aggregatable in ${index} (${u.use})`);
      }
      if (u.use === 'numeric') assert.ok(types.every((c) => ['long', 'double', 'integer', 'float'].includes(c.type)), `${u.object}: ${u.field} must be numeric`);
      if (u.use === 'filter') assert.ok(types.every((c) => c.searchable), `${u.object}: ${u.field} must be searchable`);
    }
  }
});

test('every Lens panel query returns non-empty buckets with values', async (t) => {
  if (!cluster) return skipOrFail(t, reason);
  const { client } = cluster;
  const lens = objects.filter((o) => o.type === 'lens');
  assert.ok(lens.length >= 15);
  for (const o of lens) {
    for (const req of lensRequests(objects, o, range)) {
      const res = await client.search({ index: req.index, ...req.body } as never);
      const aggs = res.aggregations as Record<string, unknown>;
      const total = typeof res.hits.total === 'number' ? res.hits.total : res.hits.total?.value ?? 0;
      assert.ok(total > 0, `${o.id}: its query matched no seeded document`);
      if (req.bucketAggs.length === 0) {
        for (const m of req.metricAggs) assert.ok(((aggs[m] as { value: number | null }).value ?? 0) > 0, `${o.id}: metric ${m} is empty`);
        continue;
      }
      const rows = bucketRows(aggs, req.bucketAggs, req.metricAggs).filter((r) => r.docCount > 0);
      assert.ok(rows.length > 0, `${o.id}: no bucket has documents`);
      for (const m of req.metricAggs) assert.ok(rows.some((r) => (r.metrics[m] ?? 0) > 0), `${o.id}: metric ${m} is empty in every bucket`);
    }
  }
});

test('the panels show what was seeded (spot checks)', async (t) => {
  if (!cluster) return skipOrFail(t, reason);
  const run = async (id: string) => {
    const [req] = lensRequests(objects, objects.find((o) => o.id === id)!, range);
    const res = await cluster!.client.search({ index: req!.index, ...req!.body } as never);
    return bucketRows(res.aggregations as Record<string, unknown>, req!.bucketAggs, req!.metricAggs).filter((r) => r.docCount > 0);
  };
  const top = await run('procflow-flows-top-processes');
  assert.deepEqual(top[0]!.keys, ['/usr/bin/ssh'], 'the biggest sender comes first');
  const exits = await run('procflow-lifecycle-nonzero-exits');
  assert.deepEqual(exits.map((r) => r.keys), [['/usr/bin/grep', 1]], 'only the failed exit is listed');
  const parents = await run('procflow-lifecycle-parent-child');
  assert.equal(parents.length, 3);
  assert.ok(parents.every((r) => r.keys[0] === '/usr/bin/bash'));
  const protocols = await run('procflow-flows-protocols');
  assert.deepEqual(protocols.map((r) => r.keys[0]).sort(), ['tcp', 'udp']);
  const args = await run('procflow-procnet-process-args');
  assert.ok(args.some((r) => r.keys[0] === '/usr/bin/curl' && r.keys[1] === 'https://example.com/'));
});

test('the DNS panels show what was seeded', async (t) => {
  if (!cluster) return skipOrFail(t, reason);
  const run = async (id: string) => {
    const [req] = lensRequests(objects, objects.find((o) => o.id === id)!, range);
    const res = await cluster!.client.search({ index: req!.index, ...req!.body } as never);
    return bucketRows(res.aggregations as Record<string, unknown>, req!.bucketAggs, req!.metricAggs).filter((r) => r.docCount > 0);
  };
  const domains = await run('procflow-dns-top-domains');
  assert.deepEqual(domains.map((r) => [r.keys[0], r.metrics.responses]), [['example.com', 5], ['no-such-host.example', 3], ['api.internal', 1]], 'responses are summed, not logs counted');
  const rcodes = await run('procflow-dns-rcodes-over-time');
  const byRcode = new Map<unknown, number>();
  for (const r of rcodes) byRcode.set(r.keys[1], (byRcode.get(r.keys[1]) ?? 0) + (r.metrics.responses ?? 0));
  assert.deepEqual([...byRcode].sort(), [['NXDomain', 3], ['NoError', 5], ['ServFail', 1]]);
  const failures = await run('procflow-dns-failures-by-process');
  assert.deepEqual(failures.map((r) => [...r.keys, r.metrics.responses]), [['/usr/bin/curl', 'NXDomain', 'no-such-host.example', 3], ['/usr/sbin/nginx', 'ServFail', 'api.internal', 1]], 'only failed answers, by the process that asked');
  const latency = await run('procflow-dns-latency');
  assert.equal(latency.reduce((n, r) => n + r.docCount, 0), 4, 'the log without measured latency is left out');
  assert.equal(Math.max(...latency.map((r) => r.metrics.p99 ?? 0)), 9_000_000, 'p99 is the worst log\'s, in nanoseconds');
  for (const r of latency) assert.ok((r.metrics.p50 ?? 0) <= (r.metrics.p90 ?? 0) && (r.metrics.p90 ?? 0) <= (r.metrics.p99 ?? 0), `percentiles are ordered in ${String(r.keys[0])}`);
  const perDomain = await run('procflow-dns-domain-processes');
  assert.deepEqual(perDomain.filter((r) => r.keys[0] === 'example.com').map((r) => [r.keys[1], r.metrics.responses]), [['/usr/bin/curl', 4], ['/usr/bin/wget', 1]]);
});

test('every saved search returns documents with its columns', async (t) => {
  if (!cluster) return skipOrFail(t, reason);
  for (const o of objects.filter((x) => x.type === 'search')) {
    const req = searchRequest(objects, o, range);
    const res: estypes.SearchResponse = await cluster.client.search({ index: req.index, ...req.body } as never);
    assert.ok(res.hits.hits.length > 0, `${o.id} found nothing`);
    for (const col of req.columns) assert.ok(res.hits.hits.some((h) => h.fields?.[col] !== undefined), `${o.id}: no hit has ${col}`);
    const times = res.hits.hits.map((h) => Number(h.sort?.[0]));
    assert.deepEqual(times, [...times].sort((a, b) => b - a), `${o.id} is newest first`);
  }
});

test('every dashboard control offers options', async (t) => {
  if (!cluster) return skipOrFail(t, reason);
  const { client } = cluster;
  for (const d of objects.filter((o) => o.type === 'dashboard')) {
    for (const c of dashboardControls(d)) {
      const req = controlRequest(objects, c, range);
      const res = await client.search({ index: req.index, ...req.body } as never);
      const rows = bucketRows(res.aggregations as Record<string, unknown>, req.bucketAggs, []);
      assert.ok(rows.length > 0, `${d.id} control on ${c.field} has no options`);
    }
  }
});
