// The agent's pod informer against a real kube-apiserver (with etcd): the first list, pods
// added, relabelled and deleted through the watch, a watch the server ends and the informer
// resumes without relisting, node scope, a refused token that recovers when the token file is
// rotated, and an untrusted certificate. Pods are written through the API as a kubelet would.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { KubeApi } from '../../agent/kubernetes/api-client.js';
import { PodInformer } from '../../agent/kubernetes/pod-informer.js';
import { kubeRequest } from '../../local-services/kubernetes.js';
import { skipOrFail } from '../support/environment.js';
import { createNamespace, createPod, deleteNamespace, deletePod, getTestKubernetes, setPodStatus, stopTestKubernetes, type TestKubernetes } from '../support/kubernetes.js';

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
  const informers: PodInformer[] = [];
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
    // No controller manager runs here to empty a deleted namespace: delete its pods first.
    if (kube) await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${NS}/pods?gracePeriodSeconds=0`).catch(() => {});
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
    assert.deepEqual(w.endpoint, { type: 'wep', name: web.metadata.name, nameAggr: 'web-7c5d-*', namespace: NS, labels: ['app=web'] });
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
