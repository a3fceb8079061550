// Pod records, the pod index, and pod names on flow endpoints. The informer itself is tested
// against a real API server in test/integration/agent-kubernetes.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLOW_CONTRACT } from '../../schema/index.js';
import { FlowAggregator, type AggregationLevel } from '../../agent/flows/aggregator.js';
import { Attributor } from '../../agent/flows/attribution.js';
import { EndpointNamer } from '../../agent/flows/endpoints.js';
import { ProcessCache } from '../../agent/process/process-cache.js';
import { Redactor } from '../../agent/process/redact.js';
import { flowRecord } from '../../agent/synthetic.js';
import type { PodLookup } from '../../agent/identity/pod-lookup.js';
import { podInfoFrom, type ApiPod } from '../../agent/kubernetes/pod.js';
import { PodIndex } from '../../agent/kubernetes/pod-index.js';
import { KubeApi } from '../../agent/kubernetes/api-client.js';
import { ProcflowError } from '../../common/errors.js';
import { agentDefaults } from '../../agent/config.js';

function apiPod(name: string, ip: string | string[], extra: { ns?: string; generateName?: string; labels?: Record<string, string>; hostNetwork?: boolean; phase?: string; uid?: string } = {}): ApiPod {
  const ips = Array.isArray(ip) ? ip : [ip];
  return {
    metadata: { uid: extra.uid ?? `uid-${name}`, name, namespace: extra.ns ?? 'shop', generateName: extra.generateName, labels: extra.labels },
    spec: { nodeName: 'n1', hostNetwork: extra.hostNetwork },
    status: { phase: extra.phase ?? 'Running', podIP: ips[0], podIPs: ips.map((i) => ({ ip: i })) },
  };
}

test('pod records: aggregated name from generateName, sorted labels, no IPs for host-network or finished pods', () => {
  const web = podInfoFrom(apiPod('web-7c5d-x2x9z', ['10.244.1.5', 'fd00::5'], { generateName: 'web-7c5d-', labels: { tier: 'front', app: 'web' } }))!;
  assert.equal(web.nameAggr, 'web-7c5d-*');
  assert.deepEqual(web.labels, ['app=web', 'tier=front']);
  assert.deepEqual(web.ips, ['10.244.1.5', 'fd00::5']);
  const { pod, ...endpoint } = web.endpoint;
  assert.equal(pod, web, 'the endpoint leads back to its pod');
  assert.deepEqual(endpoint, { type: 'wep', name: 'web-7c5d-x2x9z', nameAggr: 'web-7c5d-*', namespace: 'shop', labels: ['app=web', 'tier=front'] });
  assert.equal(podInfoFrom(apiPod('db-0', '10.244.1.6'))!.nameAggr, 'db-0', 'a StatefulSet pod keeps its own name');
  assert.deepEqual(podInfoFrom(apiPod('cni', '192.168.1.10', { hostNetwork: true }))!.ips, []);
  assert.deepEqual(podInfoFrom(apiPod('job', '10.244.1.7', { phase: 'Succeeded' }))!.ips, []);
  assert.equal(podInfoFrom({ metadata: { name: 'no-uid' } }), undefined);
});

test('pod index: the newest claim on a reused IP wins, the older takes over when it goes; v4-mapped peers resolve', () => {
  const idx = new PodIndex();
  idx.upsert(podInfoFrom(apiPod('old', '10.244.1.9'))!);
  idx.upsert(podInfoFrom(apiPod('new', '10.244.1.9'))!);
  assert.equal(idx.byIp('10.244.1.9')!.name, 'new');
  assert.equal(idx.byIp('::ffff:10.244.1.9')!.name, 'new');
  idx.remove('uid-new');
  assert.equal(idx.byIp('10.244.1.9')!.name, 'old');
  // An update that moves a pod's IP releases the old one.
  idx.upsert(podInfoFrom(apiPod('old', '10.244.1.10'))!);
  assert.equal(idx.byIp('10.244.1.9'), undefined);
  assert.equal(idx.byIp('10.244.1.10')!.name, 'old');
  assert.equal(idx.byUid('uid-old')!.name, 'old');
  idx.replaceAll([podInfoFrom(apiPod('fresh', '10.244.2.1'))!]);
  assert.equal(idx.size, 1);
  assert.equal(idx.byUid('uid-old'), undefined);
  assert.equal(idx.byIp('10.244.1.10'), undefined);
});

function lookupOf(idx: PodIndex): PodLookup {
  return { byUid: (u) => idx.byUid(u), byIp: (ip) => idx.byIp(ip), serviceFor: () => undefined, close: () => {} };
}

function aggregator(level: AggregationLevel, idx: PodIndex) {
  const c = agentDefaults({ node_name: 'n1', aggregation: level, exit_retention: 1000 });
  const cache = new ProcessCache({ ...c, redactor: new Redactor(c) });
  const at = new Attributor(cache, { ...c, procfsFallback: false });
  return new FlowAggregator({ ...c, endpoints: new EndpointNamer('n1', lookupOf(idx)), resolve: (p, s, c) => at.resolve(p, s, c) }, 0);
}

test('flows between pods name both ends as workload endpoints with namespace and labels', () => {
  const idx = new PodIndex();
  idx.upsert(podInfoFrom(apiPod('web-7c5d-x2x9z', '10.244.1.5', { generateName: 'web-7c5d-', labels: { app: 'web' } }))!);
  idx.upsert(podInfoFrom(apiPod('db-0', '10.244.2.8', { ns: 'data', labels: { app: 'db' } }))!);
  const agg = aggregator('full', idx);
  agg.add(flowRecord({ pid: 10, pidStartNs: 1n, localIp: '10.244.1.5', localPort: 40000, remoteIp: '10.244.2.8', remotePort: 5432, bytesOut: 100 }));
  agg.add(flowRecord({ pid: 11, pidStartNs: 1n, localIp: '10.0.0.1', localPort: 40001, remoteIp: '10.0.0.2', remotePort: 443, bytesOut: 7 }));
  const docs = agg.flush(15_000);
  for (const d of docs) assert.equal(FLOW_CONTRACT.validate(d), null, JSON.stringify(d));
  const pod = docs.find((d) => d.dest_port === 5432)!;
  assert.deepEqual(
    [pod.source_type, pod.source_namespace, pod.source_name, pod.source_name_aggr, pod.source_labels],
    ['wep', 'shop', 'web-7c5d-x2x9z', 'web-7c5d-*', ['app=web']]);
  assert.deepEqual([pod.dest_type, pod.dest_namespace, pod.dest_name, pod.dest_name_aggr, pod.dest_labels], ['wep', 'data', 'db-0', 'db-0', ['app=db']]);
  const host = docs.find((d) => d.dest_port === 443)!;
  assert.deepEqual([host.source_type, host.source_name, host.source_namespace, host.source_labels], ['hep', 'n1', '-', undefined]);
  assert.deepEqual([host.dest_type, host.dest_name_aggr], ['net', 'pvt']);
});

test('prefix aggregation folds replicas of a deployment together, but not across namespaces', () => {
  const idx = new PodIndex();
  idx.upsert(podInfoFrom(apiPod('web-7c5d-aaaaa', '10.244.1.5', { generateName: 'web-7c5d-' }))!);
  idx.upsert(podInfoFrom(apiPod('web-7c5d-bbbbb', '10.244.1.6', { generateName: 'web-7c5d-' }))!);
  idx.upsert(podInfoFrom(apiPod('web-7c5d-ccccc', '10.244.1.7', { generateName: 'web-7c5d-', ns: 'staging' }))!);
  const agg = aggregator('prefix', idx);
  for (const [i, ip] of ['10.244.1.5', '10.244.1.6', '10.244.1.7'].entries()) {
    agg.add(flowRecord({ pid: 20 + i, pidStartNs: 1n, localIp: ip, localPort: 41000 + i, remoteIp: '1.1.1.1', remotePort: 443, bytesOut: 10 }));
  }
  const docs = agg.flush(15_000);
  const shop = docs.filter((d) => d.source_namespace === 'shop');
  const staging = docs.filter((d) => d.source_namespace === 'staging');
  assert.equal(shop.length, 1);
  assert.equal(shop[0]!.num_flows, 2);
  assert.equal(shop[0]!.bytes_out, 20);
  assert.equal(shop[0]!.source_name_aggr, 'web-7c5d-*');
  assert.equal(staging.length, 1);
  assert.equal(shop[0]!.dest_name_aggr, 'pub');
});

test('--kubernetes outside a cluster, or with an unreadable token or CA, is a clear error at start', () => {
  assert.throws(() => new KubeApi({ apiUrl: '', tokenFile: '', caFile: '' }, {}),
    (err: unknown) => err instanceof ProcflowError && err.code === 'KUBERNETES_NOT_CONFIGURED' && /KUBERNETES_SERVICE_HOST/.test(err.message) && /--kubernetes-api-url/.test(err.hint ?? ''));
  assert.throws(() => new KubeApi({ apiUrl: '', tokenFile: '/nonexistent/token', caFile: '' }, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }),
    (err: unknown) => err instanceof ProcflowError && /cannot read the token \/nonexistent\/token: ENOENT/.test(err.message) && /--kubernetes-token-file/.test(err.hint ?? ''));
  assert.throws(() => new KubeApi({ apiUrl: 'https://127.0.0.1:6443', tokenFile: '', caFile: '/nonexistent/ca.crt' }, {}),
    (err: unknown) => err instanceof ProcflowError && /CA bundle/.test(err.message));
  const api = new KubeApi({ apiUrl: '', tokenFile: '', caFile: '' }, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' });
  assert.equal(api.base.href, 'https://[fd00::1]:6443/');
});
