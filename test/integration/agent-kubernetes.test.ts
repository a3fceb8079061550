// The agent's informers against a real kube-apiserver (with etcd): the first list, pods added,
// relabelled and deleted through the watch, a watch the server ends and the informer resumes
// without relisting, node scope, a refused token that recovers when the token file is rotated,
// and an untrusted certificate; then the whole watcher (pods, Services, EndpointSlices) naming a
// Deployment's pod, its containers and the Service behind both its ClusterIP and its backend
// address, and the cap on records. Pods are written through the API as a kubelet would; with no
// controller manager, the EndpointSlice is written by the test as the EndpointSlice controller
// would.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { containerById, containerByPort } from '../../agent/identity/pod-lookup.js';
import { KubeApi } from '../../agent/kubernetes/api-client.js';
import { startPodWatcher } from '../../agent/kubernetes/index.js';
import { Informer } from '../../agent/kubernetes/informer.js';
import { PodInformer } from '../../agent/kubernetes/pod-informer.js';
import { serviceFrom, type ApiService } from '../../agent/kubernetes/service.js';
import { ServiceIndex } from '../../agent/kubernetes/service-index.js';
import { kubeRequest } from '../../local-services/kubernetes.js';
import { skipOrFail } from '../support/environment.js';
import { containerId, createNamespace, createPod, deleteNamespace, deletePod, getTestKubernetes, setPodStatus, stopTestKubernetes, type TestKubernetes } from '../support/kubernetes.js';

const log = pino({ level: 'silent' });
const NS = `pf-informer-${Date.now().toString(36)}`;
const NODE = `node-${NS}`;

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('pod informer against a real kube-apiserver', () => {
  let kube: TestKubernetes | undefined;
  let reason = '';
  const informers: { close(): Promise<void> }[] = [];
  const informer = (api: KubeApi, o: ConstructorParameters<typeof PodInformer>[2] = {}) => {
    const i = new PodInformer(api, log, { maxBackoffMs: 500, ...o });
    informers.push(i);
    i.start();
    return i;
  };
  const api = (over: Partial<ConstructorParameters<typeof KubeApi>[0]> = {}) => new KubeApi({ apiUrl: kube!.url, tokenFile: kube!.tokenFile, caFile: kube!.caFile, ...over });

  before(async () => {
    const res = await getTestKubernetes();
    if (!res.kube) return void (reason = res.reason);
    kube = res.kube;
    await createNamespace(kube, NS);
  });
  after(async () => {
    await Promise.all(informers.map((i) => i.close()));
    // No controller manager runs here to empty a deleted namespace: delete what the tests made first.
    for (const what of ['/api/v1/namespaces/NS/pods?gracePeriodSeconds=0', '/apis/apps/v1/namespaces/NS/replicasets', '/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices']) {
      if (kube) await kubeRequest(kube, 'DELETE', what.replace('NS', NS)).catch(() => {});
    }
    if (kube) {
      const services = (await kubeRequest(kube, 'GET', `/api/v1/namespaces/${NS}/services`)).json<{ items: ApiService[] }>().items;
      for (const svc of services) await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${NS}/services/${svc.metadata!.name}`).catch(() => {});
    }
    if (kube) await deleteNamespace(kube, NS).catch(() => {});
    await stopTestKubernetes();
  });

  it('lists, then follows adds, relabels and deletes; a watch the server ends is resumed, not relisted', async (t) => {
    if (!kube) return skipOrFail(t, reason);
    const web = await setPodStatus(kube, await createPod(kube, NS, { generateName: 'web-7c5d-', labels: { app: 'web' }, nodeName: NODE }), { podIP: '10.250.1.5' });
    const remote = await setPodStatus(kube, await createPod(kube, NS, { name: 'db-0', labels: { app: 'db' }, nodeName: `${NODE}-b` }), { podIP: '10.250.2.8' });
    const i = informer(api(), { watchSeconds: 1 });
    assert.equal(await i.waitForSync(20_000), true, `synced (last error: ${i.stats.lastError})`);
    const w = i.index.byIp('10.250.1.5')!;
    assert.equal(w.name, web.metadata.name);
    assert.equal(w.nameAggr, 'web-7c5d-*');
    const { pod, ...endpoint } = w.endpoint;
    assert.equal(pod, w);
    assert.deepEqual(endpoint, { type: 'wep', name: web.metadata.name, nameAggr: 'web-7c5d-*', namespace: NS, labels: ['app=web'] });
    assert.equal(i.index.byUid(remote.metadata.uid)!.name, 'db-0');

    // Let the 1 s watches end and resume a few times, then change things.
    await sleep(2500);
    const late = await createPod(kube, NS, { name: 'late', nodeName: NODE });
    await setPodStatus(kube, late, { podIP: '10.250.1.77' });
    assert.equal((await until('the late pod by IP', () => i.index.byIp('10.250.1.77'))).name, 'late');
    const patched = await kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${NS}/pods/db-0`, { metadata: { labels: { app: 'db', tier: 'data' } } }, 'application/merge-patch+json');
    assert.equal(patched.status, 200, patched.body);
    await until('the new labels', () => (i.index.byIp('10.250.2.8')?.labels.length === 2 ? true : undefined));
    assert.deepEqual(i.index.byIp('10.250.2.8')!.labels, ['app=db', 'tier=data']);
    await deletePod(kube, NS, web.metadata.name);
    await until('the deleted pod gone', () => (i.index.byIp('10.250.1.5') === undefined ? true : undefined));
    assert.equal(i.stats.lists, 1, 'resumed watches never needed a relist');
    assert.equal(i.stats.errors, 0, i.stats.lastError);
  });

  it('node scope lists only the pods scheduled on this node', async (t) => {
    if (!kube) return skipOrFail(t, reason);
    const mine = await setPodStatus(kube, await createPod(kube, NS, { name: 'mine', nodeName: NODE }), { podIP: '10.250.1.40' });
    await setPodStatus(kube, await createPod(kube, NS, { name: 'theirs', nodeName: `${NODE}-b` }), { podIP: '10.250.2.40' });
    const i = informer(api(), { nodeName: NODE });
    assert.equal(await i.waitForSync(20_000), true, i.stats.lastError);
    assert.equal(i.index.byIp('10.250.1.40')?.uid, mine.metadata.uid);
    assert.equal(i.index.byIp('10.250.2.40'), undefined);
  });

  it('the watcher names a Deployment\'s pod, its containers, and the Service behind its ClusterIP and its backend address, following updates and deletes', async (t) => {
    if (!kube) return skipOrFail(t, reason);
    const k = kube;
    const ok = async (method: string, path: string, body?: unknown, type?: string) => {
      const res = await kubeRequest(k, method, path, body, type);
      assert.ok(res.status >= 200 && res.status < 300, `${method} ${path}: ${res.status} ${res.body.slice(0, 400)}`);
      return res.json<{ metadata: { uid: string; name: string }; spec?: { clusterIP?: string } }>();
    };
    // A ReplicaSet as the Deployment controller makes one: named <deployment>-<hash>.
    const hash = '5d8f7b6c9d';
    const labels = { app: 'shop-web', 'pod-template-hash': hash };
    const template = { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'registry.invalid/web:1' }] } };
    const rs = await ok('POST', `/apis/apps/v1/namespaces/${NS}/replicasets`, { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: `shop-web-${hash}`, labels }, spec: { replicas: 1, selector: { matchLabels: labels }, template } });
    const pod = await ok('POST', `/api/v1/namespaces/${NS}/pods`, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { generateName: `shop-web-${hash}-`, labels, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true }] },
      spec: {
        nodeName: NODE,
        initContainers: [{ name: 'migrate', image: 'registry.invalid/migrate:1' }],
        containers: [
          { name: 'app', image: 'registry.invalid/web:1', ports: [{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9090 }] },
          { name: 'log-shipper', image: 'registry.invalid/shipper:1' },
        ],
      },
    });
    // The status a kubelet writes once the containers run.
    const appId = containerId('containerd');
    const shipperId = containerId('cri-o');
    const initId = containerId('containerd');
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const status = (name: string, image: string, id: string, running: boolean) => ({
      name, image, imageID: `${image}@sha256:${'1'.repeat(64)}`, containerID: id, ready: running, restartCount: 0, started: running,
      state: running ? { running: { startedAt: now } } : { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now, containerID: id } },
    });
    await ok('PATCH', `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}/status`, {
      status: {
        phase: 'Running', podIP: '10.250.3.5', podIPs: [{ ip: '10.250.3.5' }], hostIP: '127.0.0.1', startTime: now,
        initContainerStatuses: [status('migrate', 'registry.invalid/migrate:1', initId, false)],
        containerStatuses: [status('app', 'registry.invalid/web:1', appId, true), status('log-shipper', 'registry.invalid/shipper:1', shipperId, true)],
      },
    }, 'application/merge-patch+json');
    // A two-port Service, and the EndpointSlice the EndpointSlice controller would make for it.
    const svc = await ok('POST', `/api/v1/namespaces/${NS}/services`, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'shop-web' },
      spec: { selector: { app: 'shop-web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9100, targetPort: 9090 }] },
    });
    const clusterIP = svc.spec!.clusterIP!;
    assert.match(clusterIP, /^10\.96\.0\.\d+$/);
    const slicePath = `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`;
    const slice = await ok('POST', slicePath, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { generateName: 'shop-web-', labels: { 'kubernetes.io/service-name': 'shop-web', 'endpointslice.kubernetes.io/managed-by': 'procflow-test' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.250.3.5'], conditions: { ready: true }, nodeName: NODE, targetRef: { kind: 'Pod', namespace: NS, name: pod.metadata.name, uid: pod.metadata.uid } }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }],
    });

    const w = startPodWatcher({ apiUrl: k.url, tokenFile: k.tokenFile, caFile: k.caFile, scope: 'node', nodeName: NODE }, log);
    informers.push(w.informer, w.serviceInformer!, w.sliceInformer!);
    assert.equal(await w.waitForSync(20_000), true, JSON.stringify(w.stats()));
    const p = w.byIp('10.250.3.5')!;
    assert.equal(p.uid, pod.metadata.uid);
    assert.deepEqual(p.workload, { kind: 'Deployment', name: 'shop-web' });
    assert.deepEqual(p.labelMap, labels);
    assert.deepEqual(p.containers.map((c) => [c.name, c.id, c.image, c.ports, c.init ?? false]), [
      ['app', appId.slice('containerd://'.length), 'registry.invalid/web:1', [8080, 9090], false],
      ['log-shipper', shipperId.slice('cri-o://'.length), 'registry.invalid/shipper:1', [], false],
      ['migrate', initId.slice('containerd://'.length), 'registry.invalid/migrate:1', [], true],
    ]);
    assert.equal(containerById(p, appId.slice('containerd://'.length))?.imageId, `registry.invalid/web:1@sha256:${'1'.repeat(64)}`);
    assert.equal(containerByPort(p, 9090)?.name, 'app');

    // The client's view (ClusterIP and Service port) and the server's (backend and target port).
    const ref = (portName: string, port: number) => ({ namespace: NS, name: 'shop-web', portName, port });
    assert.deepEqual(w.serviceFor(clusterIP, 80, 'tcp'), ref('http', 80));
    assert.deepEqual(w.serviceFor(clusterIP, 9100, 'tcp'), ref('metrics', 9100));
    assert.deepEqual(w.serviceFor(`::ffff:${clusterIP}`, 80, 'tcp'), ref('http', 80));
    assert.deepEqual(w.serviceFor('10.250.3.5', 8080, 'tcp'), ref('http', 80));
    assert.deepEqual(w.serviceFor('10.250.3.5', 9090, 'tcp'), ref('metrics', 9100));
    assert.equal(w.serviceFor(clusterIP, 80, 'udp'), undefined);
    assert.equal(w.serviceFor(clusterIP, 8080, 'tcp'), undefined);

    // Updates come through the watches: a renumbered Service port, a slice that loses its endpoint.
    await ok('PATCH', `/api/v1/namespaces/${NS}/services/shop-web`, { spec: { ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9200, targetPort: 9090 }] } }, 'application/merge-patch+json');
    await until('the renumbered port', () => (w.serviceFor(clusterIP, 9200, 'tcp') ? true : undefined));
    assert.equal(w.serviceFor(clusterIP, 9100, 'tcp'), undefined);
    assert.deepEqual(w.serviceFor('10.250.3.5', 9090, 'tcp'), ref('metrics', 9200), 'the backend names the Service port it serves now');
    await ok('PATCH', `${slicePath}/${slice.metadata.name}`, { endpoints: [{ addresses: ['10.250.3.6'], conditions: { ready: true } }] }, 'application/merge-patch+json');
    await until('the backend moved', () => (w.serviceFor('10.250.3.6', 8080, 'tcp') ? true : undefined));
    assert.equal(w.serviceFor('10.250.3.5', 8080, 'tcp'), undefined);

    // Deleting the Service leaves nothing named after it, though its slice is still there.
    await ok('DELETE', `/api/v1/namespaces/${NS}/services/shop-web`);
    await until('the Service gone', () => (w.serviceFor(clusterIP, 80, 'tcp') === undefined ? true : undefined));
    assert.equal(w.serviceFor('10.250.3.6', 8080, 'tcp'), undefined);
    const slices = w.stats().endpointSlices!.entries;
    await ok('DELETE', `${slicePath}/${slice.metadata.name}`);
    await until('the slice gone', () => (w.stats().endpointSlices!.entries === slices - 1 ? true : undefined));
    for (const [kind, s] of Object.entries(w.stats())) {
      assert.equal(s!.lists, 1, `${kind}: no relist`);
      assert.equal(s!.errors, 0, `${kind}: ${s!.lastError}`);
      assert.equal(s!.dropped, 0, kind);
    }
    // The pod's workload, from the ReplicaSet it names, needs no ReplicaSet watch.
    assert.equal(w.byUid(pod.metadata.uid)?.workload.name, 'shop-web');
  });

  it('keeps at most maxEntries records, counts the rest, and takes more once some are deleted', async (t) => {
    if (!kube) return skipOrFail(t, reason);
    const k = kube;
    const path = `/api/v1/namespaces/${NS}/services`;
    const make = async (name: string) => {
      const res = await kubeRequest(k, 'POST', path, { apiVersion: 'v1', kind: 'Service', metadata: { name, labels: { 'procflow-test': 'capped' } }, spec: { ports: [{ port: 80 }] } });
      assert.equal(res.status, 201, res.body);
      return res.json<ApiService>();
    };
    const a = await make('capped-a');
    await make('capped-b');
    const index = new ServiceIndex();
    const i = new Informer(api(), log, index.services, { path, query: 'labelSelector=procflow-test%3Dcapped', plural: 'services', decode: (o) => serviceFrom(o as ApiService) }, { maxEntries: 2, maxBackoffMs: 500 });
    informers.push(i);
    i.start();
    assert.equal(await i.waitForSync(20_000), true, i.stats.lastError);
    assert.equal(i.stats.entries, 2);
    assert.equal(i.stats.dropped, 0);
    await make('capped-c');
    await until('the third Service counted as dropped', () => (i.stats.dropped === 1 ? true : undefined));
    assert.equal(i.stats.entries, 2);
    assert.equal(index.serviceFor(a.spec!.clusterIP!, 80, 'tcp')?.name, 'capped-a');
    assert.equal((await kubeRequest(k, 'DELETE', `${path}/capped-a`)).status, 200);
    await until('room again', () => (i.stats.entries === 1 ? true : undefined));
    const d = await make('capped-d');
    await until('the fourth Service kept', () => (index.serviceFor(d.spec!.clusterIP!, 80, 'tcp') ? true : undefined));
    assert.equal(i.stats.entries, 2);
  });

  it('a refused token is retried with a hint, and a rotated token file recovers without a restart', async (t) => {
    if (!kube) return skipOrFail(t, reason);
    const dir = mkdtempSync(join(tmpdir(), 'procflow-kube-rotate-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'not-a-valid-token\n');
    const i = informer(api({ tokenFile }));
    await until('a 401', () => (i.stats.errors > 0 ? true : undefined));
    assert.match(i.stats.lastError, /401/);
    assert.equal(i.stats.synced, false);
    writeFileSync(tokenFile, `${kube.token}\n`);
    assert.equal(await i.waitForSync(20_000), true, i.stats.lastError);
    assert.ok(i.index.size > 0);
  });

  it('an API server certificate the CA does not sign is an error naming --kubernetes-ca-file', async (t) => {
    if (!kube) return skipOrFail(t, reason);
    const untrusted = new KubeApi({ apiUrl: kube.url, tokenFile: kube.tokenFile, caFile: '' });
    await assert.rejects(untrusted.getJson('/api/v1/pods?limit=1'), (err: Error & { hint?: string }) => /--kubernetes-ca-file/.test(err.hint ?? ''));
  });
});
