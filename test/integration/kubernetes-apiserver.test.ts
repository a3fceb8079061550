// The Kubernetes test harness against the real kube-apiserver: pods created and given a running
// status through the API (as a kubelet would), listed by node, and watched from a resource
// version the way the agent's pod watcher does. The agent's own tests build on this.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { kubeRequest } from '../../local-services/kubernetes.js';
import {
  containerId, createNamespace, createNode, createPod, deleteNamespace, deletePod, getTestKubernetes, listPods, setPodStatus, stopTestKubernetes, watch, watchUntil,
  type Pod, type TestKubernetes,
} from '../support/kubernetes.js';
import { skipOrFail } from '../support/environment.js';

const NS = `procflow-test-${process.pid}`;
const NODE = 'procflow-node-a';
const OTHER_NODE = 'procflow-node-b';

describe('kubernetes API server harness', () => {
  let kube: TestKubernetes | undefined;
  let reason = '';
  before(async () => {
    const res = await getTestKubernetes();
    kube = res.kube;
    reason = res.reason ?? '';
    if (kube) await createNamespace(kube, NS);
  });
  after(async () => {
    if (kube) await deleteNamespace(kube, NS);
    await stopTestKubernetes();
  });
  const need = (t: TestContext): TestKubernetes | undefined => {
    if (!kube) skipOrFail(t, reason);
    return kube;
  };

  test('answers as the built release, authenticates the token and refuses a wrong one', async (t) => {
    const k = need(t);
    if (!k) return;
    const version = (await kubeRequest(k, 'GET', '/version')).json<{ major: string; minor: string; gitVersion: string }>();
    assert.match(version.gitVersion, /^v1\.\d+\.\d+/);
    const me = await kubeRequest(k, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
    assert.equal(me.status, 201, me.body);
    assert.ok(me.json<{ status: { userInfo: { groups: string[] } } }>().status.userInfo.groups.includes('system:masters'));
    const wrong = await kubeRequest({ ...k, token: 'not-a-token' }, 'GET', '/api/v1/pods');
    assert.equal(wrong.status, 401);
  });

  test('a pod made with generateName and labels gets a running status with container ids', async (t) => {
    const k = need(t);
    if (!k) return;
    const created = await createPod(k, NS, { generateName: 'web-', labels: { app: 'web', tier: 'front' }, nodeName: NODE, containers: ['app', 'sidecar'] });
    assert.match(created.metadata.name, /^web-[a-z0-9]{5}$/);
    assert.equal(created.spec.nodeName, NODE);
    const appId = containerId();
    const running = await setPodStatus(k, created, { podIP: '10.244.0.7', hostIP: '192.0.2.10', containerIDs: { app: appId } });
    assert.equal(running.status?.phase, 'Running');
    assert.equal(running.status?.podIP, '10.244.0.7');
    assert.deepEqual(running.status?.podIPs, [{ ip: '10.244.0.7' }]);
    assert.equal(running.status?.hostIP, '192.0.2.10');
    const ids = Object.fromEntries((running.status?.containerStatuses ?? []).map((c) => [c.name, c.containerID]));
    assert.equal(ids.app, appId);
    assert.match(ids.sidecar ?? '', /^containerd:\/\/[0-9a-f]{64}$/);
    assert.deepEqual(running.metadata.labels, { app: 'web', tier: 'front' });
  });

  test('lists only the pods of one node with fieldSelector spec.nodeName', async (t) => {
    const k = need(t);
    if (!k) return;
    const mine = await createPod(k, NS, { name: 'on-node-a', nodeName: NODE });
    const theirs = await createPod(k, NS, { name: 'on-node-b', nodeName: OTHER_NODE });
    const list = await listPods(k, { fieldSelector: `spec.nodeName=${NODE}` });
    const names = list.items.map((p) => p.metadata.name);
    assert.ok(names.includes(mine.metadata.name), `${names}`);
    assert.ok(!names.includes(theirs.metadata.name), `${names}`);
    assert.ok(list.items.every((p) => p.spec.nodeName === NODE));
    assert.match(list.metadata.resourceVersion, /^\d+$/);
    const byLabel = await listPods(k, { namespace: NS, labelSelector: 'app=web' });
    assert.ok(byLabel.items.every((p) => p.metadata.labels?.app === 'web') && byLabel.items.length >= 1);
  });

  test('a watch from the list resource version sees the pod added, running and deleted', async (t) => {
    const k = need(t);
    if (!k) return;
    const { metadata } = await listPods(k, { fieldSelector: `spec.nodeName=${NODE}` });
    const w = await watch(k, `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${NODE}`)}&resourceVersion=${metadata.resourceVersion}&allowWatchBookmarks=true`);
    t.after(() => w.close());
    const pod = await createPod(k, NS, { generateName: 'watched-', labels: { app: 'watched' }, nodeName: NODE });
    await createPod(k, NS, { generateName: 'elsewhere-', nodeName: OTHER_NODE });
    const isMine = (p: Pod) => p.metadata.name === pod.metadata.name;
    const added = await watchUntil(w, (e) => e.type === 'ADDED' && isMine(e.object));
    assert.ok(added.every((e) => e.type === 'BOOKMARK' || e.object.spec.nodeName === NODE), 'a pod of another node came through the node watch');

    const running = await setPodStatus(k, pod, { podIP: '10.244.0.9' });
    const modified = await watchUntil(w, (e) => e.type === 'MODIFIED' && isMine(e.object) && e.object.status?.phase === 'Running');
    const last = modified.at(-1)!.object;
    assert.equal(last.status?.podIP, '10.244.0.9');
    assert.equal(last.metadata.resourceVersion, running.metadata.resourceVersion);

    await deletePod(k, NS, pod.metadata.name);
    const deleted = await watchUntil(w, (e) => e.type === 'DELETED' && isMine(e.object));
    assert.equal(deleted.at(-1)!.object.metadata.uid, pod.metadata.uid);
  });

  test('kubectl works with the kubeconfig', async (t) => {
    const k = need(t);
    if (!k) return;
    const kubectl = spawnSync('kubectl', ['--kubeconfig', k.kubeconfig, 'get', 'pods', '-n', NS, '-o', 'name'], { encoding: 'utf8' });
    if (kubectl.error) return void skipOrFail(t, `kubectl: ${kubectl.error.message}`);
    assert.equal(kubectl.status, 0, kubectl.stderr);
    assert.match(kubectl.stdout, /pod\/on-node-a/);
  });

  test('a node object can be registered for code that reads its own node', async (t) => {
    const k = need(t);
    if (!k) return;
    await createNode(k, NODE, '192.0.2.10');
    const node = (await kubeRequest(k, 'GET', `/api/v1/nodes/${NODE}`)).json<{ status: { addresses: Array<{ type: string; address: string }> } }>();
    assert.deepEqual(node.status.addresses.find((a) => a.type === 'InternalIP')?.address, '192.0.2.10');
  });
});
