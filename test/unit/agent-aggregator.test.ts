import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLOW_CONTRACT, type FlowLog } from '../../schema/index.js';
import { FlowAggregator, localIsClient, type AggregationLevel } from '../../agent/flows/aggregator.js';
import { Attributor } from '../../agent/flows/attribution.js';
import { EndpointNamer } from '../../agent/flows/endpoints.js';
import { ProcessCache } from '../../agent/process/process-cache.js';
import { Redactor } from '../../agent/process/redact.js';
import { execEvent as execEv, flowRecord } from '../../agent/synthetic.js';
import { communityId } from '../../agent/flows/community-id.js';
import { agentDefaults, type AgentConfig } from '../../agent/config.js';

const S = 1_000_000_000n;

function setup(level: AggregationLevel = 'full', limits: Partial<Pick<AgentConfig, 'process_limit' | 'args_limit' | 'community_id'>> = {}) {
  const now = { t: 0 };
  const c = agentDefaults({ node_name: 'n1', aggregation: level, exit_retention: 1000, ...limits });
  const cache = new ProcessCache({ ...c, redactor: new Redactor(c), now: () => now.t });
  const at = new Attributor(cache, { ...c, procfsFallback: false });
  const agg = new FlowAggregator({ ...c, endpoints: new EndpointNamer('n1'), resolve: (p, s, c) => at.resolve(p, s, c) }, 0);
  return { now, cache, agg };
}

test('--community-id=false leaves the hash out of full-level flow logs', () => {
  const { cache, agg } = setup('full', { community_id: false });
  cache.onExec(execEv(100, 50n * S, '/usr/bin/curl', []));
  agg.add(flowRecord({ pid: 100, pidStartNs: 50n * S, comm: 'curl', bytesOut: 1 }));
  const [doc] = valid(agg.flush(15_000));
  assert.equal(doc!.community_id, undefined);
  assert.equal(doc!.source_port, 40000, 'the 5-tuple stays');
});

function valid(docs: FlowLog[]): FlowLog[] {
  for (const d of docs) assert.equal(FLOW_CONTRACT.validate(d), null, JSON.stringify(d));
  return docs;
}

test('flows before exec: attributed to the exec at flush, not at arrival', () => {
  const { cache, agg } = setup();
  agg.add(flowRecord({ pid: 100, pidStartNs: 50n * S + 123n, comm: 'curl', bytesOut: 300, bytesIn: 4000, packetsOut: 2, packetsIn: 3, tcpStarted: 1 }));
  cache.onExec(execEv(100, 50n * S + 123n, '/usr/bin/curl', ['-s', 'https://u:pw@example.com/']));
  const [doc, ...rest] = valid(agg.flush(15_000));
  assert.equal(rest.length, 0);
  assert.equal(doc!.process_name, '/usr/bin/curl');
  assert.deepEqual(doc!.process_args, ['-s https://u:*****@example.com/']);
  assert.equal(doc!.process_source, 'kernel');
  assert.equal(doc!.process_id, '100');
  assert.equal(doc!.process_exec_id, cache.get(100, 50n * S)!.execId);
  assert.equal(doc!.bytes_out, 300);
  assert.equal(doc!.bytes_in, 4000);
  assert.equal(doc!.num_flows_started, 1);
  assert.equal(doc!.reporter, 'src');
  assert.equal(doc!.source_ip, '10.0.0.1');
  assert.equal(doc!.source_port, 40000);
  assert.equal(doc!.dest_port, 443);
  assert.equal(doc!.community_id, communityId(6, '10.0.0.1', 40000, '10.0.0.2', 443));
  assert.equal(doc!.start_time, new Date(0).toISOString());
  assert.equal(doc!.end_time, new Date(15_000).toISOString());
});

test('exit before the last flow drain: late flows still carry the binary; unknown processes get the task name', () => {
  const { now, cache, agg } = setup();
  cache.onExec(execEv(200, 60n * S, '/usr/bin/nc', ['-u', 'h', '53']));
  cache.onExit({ kind: 'exit', pid: 200, ppid: 1, startNs: 60n * S, timeNs: 61n * S, comm: 'nc', exitCode: 0, signal: 0 });
  now.t = 500; // within the retention
  agg.add(flowRecord({ pid: 200, pidStartNs: 60n * S, proto: 17, role: 'unknown', localPort: 51000, remotePort: 53, bytesOut: 40 }));
  agg.add(flowRecord({ pid: 201, pidStartNs: 70n * S, comm: 'kworker/0:1', localPort: 41000, bytesOut: 10 }));
  const docs = valid(agg.flush(1000));
  const nc = docs.find((d) => d.process_id === '200')!;
  assert.equal(nc.process_name, '/usr/bin/nc');
  assert.equal(nc.proto, 'udp');
  assert.equal(nc.reporter, 'src', 'the lower remote port makes this host the client');
  assert.equal(nc.tcp_total_retransmissions, undefined);
  const ghost = docs.find((d) => d.process_id === '201')!;
  assert.equal(ghost.process_name, 'kworker/0:1');
  assert.deepEqual(ghost.process_args, []);
  assert.equal(ghost.process_source, 'taskname');
});

test('the server side reports dst with source = the remote client', () => {
  const { cache, agg } = setup();
  cache.onExec(execEv(300, 1n * S, '/usr/sbin/nginx', []));
  agg.add(flowRecord({ pid: 300, pidStartNs: 1n * S, role: 'server', localIp: '10.0.0.1', localPort: 80, remoteIp: '8.8.8.8', remotePort: 55555, bytesIn: 100, bytesOut: 900 }));
  const [d] = valid(agg.flush(1));
  assert.equal(d!.reporter, 'dst');
  assert.equal(d!.source_ip, '8.8.8.8');
  assert.equal(d!.source_port, 55555);
  assert.equal(d!.source_type, 'net');
  assert.equal(d!.source_name_aggr, 'pub');
  assert.equal(d!.dest_type, 'hep');
  assert.equal(d!.dest_name, 'n1');
  assert.equal(d!.bytes_out, 900);
});

test('process limits: busiest names keep their own log, the rest fold into "*" with true counts', () => {
  const { cache, agg } = setup('source-port', { process_limit: 2, args_limit: 2 });
  const names = ['/bin/a', '/bin/b', '/bin/c'];
  let pid = 400;
  for (const [i, name] of names.entries()) {
    for (let k = 0; k < 3; k++) {
      pid++;
      cache.onExec(execEv(pid, BigInt(pid) * S, name, [`--n=${k}`]));
      // same dest, different source ports: one flow at this level
      agg.add(flowRecord({ pid, pidStartNs: BigInt(pid) * S, localPort: 30000 + pid, bytesOut: (3 - i) * 1000 }));
    }
  }
  const docs = valid(agg.flush(1));
  assert.equal(docs.length, 2);
  const a = docs.find((d) => d.process_name === '/bin/a')!;
  assert.equal(a.num_process_names, 1);
  assert.equal(a.process_id, '*');
  assert.equal(a.num_process_ids, 3);
  assert.equal(a.num_process_args, 3);
  assert.equal(a.process_args!.length, 2, 'args listed up to the limit');
  assert.equal(a.num_flows, 3);
  assert.equal(a.source_port, undefined);
  assert.equal(a.community_id, undefined, 'no community_id without the source port');
  assert.equal(a.process_exec_id, undefined, 'several exec_ids: none is named');
  const star = docs.find((d) => d.process_name === '*')!;
  assert.equal(star.num_process_names, 2);
  assert.equal(star.num_process_ids, 6);
  assert.deepEqual(star.process_args, ['*']);
  assert.equal(star.bytes_out, 3 * 2000 + 3 * 1000);
});

test('prefix level drops addresses and groups by endpoint names; TCP stats mean/min/max', () => {
  const { cache, agg } = setup('prefix');
  cache.onExec(execEv(500, 1n * S, '/usr/bin/app', []));
  agg.add(flowRecord({ pid: 500, pidStartNs: 1n * S, remoteIp: '10.1.1.1', bytesOut: 1, tcpMss: 1400, tcpCwnd: 10, tcpSrttUs: 100, tcpMinRttUs: 50, tcpRetransmits: 1 }));
  agg.add(flowRecord({ pid: 500, pidStartNs: 1n * S, remoteIp: '10.2.2.2', localPort: 40001, bytesOut: 2, tcpMss: 1200, tcpCwnd: 20, tcpSrttUs: 300, tcpMinRttUs: 70, tcpLost: 2 }));
  agg.add(flowRecord({ pid: 500, pidStartNs: 1n * S, remoteIp: '1.1.1.1', bytesOut: 4 }));
  const docs = valid(agg.flush(1));
  assert.equal(docs.length, 2);
  const pvt = docs.find((d) => d.dest_name_aggr === 'pvt')!;
  assert.equal(pvt.source_ip, undefined);
  assert.equal(pvt.dest_ip, undefined);
  assert.equal(pvt.dest_port, 443);
  assert.equal(pvt.num_flows, 2);
  assert.equal(pvt.bytes_out, 3);
  assert.equal(pvt.tcp_mean_mss, 1300);
  assert.equal(pvt.tcp_min_mss, 1200);
  assert.equal(pvt.tcp_mean_send_congestion_window, 15);
  assert.equal(pvt.tcp_min_send_congestion_window, 10);
  assert.equal(pvt.tcp_mean_smooth_rtt, 200);
  assert.equal(pvt.tcp_max_smooth_rtt, 300);
  assert.equal(pvt.tcp_max_min_rtt, 70);
  assert.equal(pvt.tcp_total_retransmissions, 1);
  assert.equal(pvt.tcp_lost_packets, 2);
  assert.equal(docs.find((d) => d.dest_name_aggr === 'pub')!.bytes_out, 4);
});

test('prefix level groups external destinations by the domain they were asked for, that domain first in dest_domains', () => {
  const c = agentDefaults({ node_name: 'n1', aggregation: 'prefix' });
  const cache = new ProcessCache({ ...c, redactor: new Redactor(c) });
  const at = new Attributor(cache, { ...c, procfsFallback: false });
  // Two CDN addresses answer for api.example.com; one of them also for cdn.example.net; 9.9.9.9 has no name.
  const names: Record<string, string[]> = { '1.1.1.1': ['api.example.com'], '1.1.1.2': ['cdn.example.net', 'api.example.com'], '1.1.1.3': ['cdn.example.net'] };
  const agg = new FlowAggregator({ ...c, endpoints: new EndpointNamer('n1'), resolve: (p, s, m) => at.resolve(p, s, m), domains: (ip, limit) => (names[ip] ?? []).slice(0, limit) }, 0);
  cache.onExec(execEv(510, 1n * S, '/usr/bin/app', []));
  for (const [ip, bytes] of [['1.1.1.1', 1], ['1.1.1.2', 2], ['1.1.1.3', 4], ['9.9.9.9', 8]] as const) {
    agg.add(flowRecord({ pid: 510, pidStartNs: 1n * S, remoteIp: ip, localPort: 40000 + bytes, bytesOut: bytes }));
  }
  const docs = valid(agg.flush(1));
  const byDomain = Object.fromEntries(docs.map((d) => [d.dest_domains?.[0] ?? '-', d]));
  assert.deepEqual(Object.keys(byDomain).sort(), ['-', 'api.example.com', 'cdn.example.net']);
  assert.deepEqual([byDomain['api.example.com']!.bytes_out, byDomain['api.example.com']!.num_flows], [1, 1]);
  assert.deepEqual([byDomain['cdn.example.net']!.bytes_out, byDomain['cdn.example.net']!.num_flows], [6, 2]);
  assert.deepEqual(byDomain['cdn.example.net']!.dest_domains, ['cdn.example.net', 'api.example.com']);
  assert.equal(byDomain['-']!.bytes_out, 8);
  for (const d of docs) assert.equal(d.dest_name_aggr, 'pub');
});

test('records in one interval add up; the next interval starts empty; a full aggregator drops and counts', () => {
  const { cache, agg } = setup();
  cache.onExec(execEv(600, 1n * S, '/usr/bin/x', []));
  for (let i = 0; i < 10; i++) agg.add(flowRecord({ pid: 600, pidStartNs: 1n * S, bytesOut: 7, packetsOut: 1 }));
  const [d] = agg.flush(10);
  assert.equal(d!.bytes_out, 70);
  assert.equal(d!.packets_out, 10);
  assert.deepEqual(agg.flush(20), []);
  const small = new FlowAggregator({ ...agentDefaults({ node_name: 'n1', max_flows: 2 }), endpoints: new EndpointNamer('n1'), resolve: (p, s, c) => cache.addGone(p, s, c) });
  for (let port = 1; port <= 5; port++) small.add(flowRecord({ pid: 1, pidStartNs: 1n, localPort: port }));
  assert.equal(small.stats.recordsDropped, 3);
  assert.equal(small.flush().length, 2);
});

test('unknown roles: a port outside the ephemeral range is the service, else the lower port', () => {
  assert.equal(localIsClient(51000, 53), true);
  assert.equal(localIsClient(53, 51000), false);
  assert.equal(localIsClient(40000, 50000), false, 'both ephemeral: the lower one is taken as the service');
  assert.equal(localIsClient(8080, 443), true, 'neither ephemeral: the lower one is the service');
});

test('a socket no task ever owned (accepted and closed in softirq) is "-", never an empty name or pid 0', () => {
  const { agg } = setup();
  agg.add(flowRecord({ pid: 0, pidStartNs: 0n, comm: '', role: 'server', localPort: 8080, remotePort: 51000, packetsIn: 2, packetsOut: 1, tcpStarted: 1, tcpCompleted: 1 }));
  const [doc] = valid(agg.flush(15_000));
  assert.equal(doc!.process_name, '-');
  assert.equal(doc!.process_id, '-');
  assert.equal(doc!.process_exec_id, undefined, 'no exec to join');
  assert.equal(doc!.reporter, 'dst');
});
