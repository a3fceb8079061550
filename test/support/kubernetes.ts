// Gives a test file a real Kubernetes API server: PROCFLOW_KUBE_URL (+ PROCFLOW_KUBE_TOKEN and
// PROCFLOW_KUBE_CA_FILE) when set, else one kube-apiserver + etcd started lazily for this
// process (local-services/kubernetes.ts) and stopped when it exits. Nothing runs pods here (no
// kubelet, no scheduler): tests create pods through the API and write their status themselves,
// as a kubelet would, so the agent sees the same objects and events it sees in a cluster.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { findKubernetesBinaries, kubeconfigYaml, kubeRequest, startLocalKubernetes, KUBERNETES_VERSION, type KubeConnection, type KubeResponse } from '../../local-services/kubernetes.js';
import { IN_CI } from './environment.js';

export interface TestKubernetes extends KubeConnection {
  /** The token in a file, for the agent's --kubernetes-token-file. */
  tokenFile: string;
  /** For kubectl, as the token's user. */
  kubeconfig: string;
  stop(): Promise<void>;
}

export type KubernetesResult = { kube: TestKubernetes; reason?: undefined } | { kube?: undefined; reason: string };

let shared: Promise<KubernetesResult> | undefined;

async function fromEnv(url: string): Promise<TestKubernetes> {
  const token = process.env.PROCFLOW_KUBE_TOKEN ?? '';
  const caFile = process.env.PROCFLOW_KUBE_CA_FILE ?? '';
  if (!token || !caFile) throw new Error('PROCFLOW_KUBE_URL needs PROCFLOW_KUBE_TOKEN and PROCFLOW_KUBE_CA_FILE too');
  const dir = mkdtempSync(join(tmpdir(), 'procflow-kube-token-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml({ url, token, caFile }), { mode: 0o600 });
  const kube = { url, token, caFile, tokenFile, kubeconfig, stop: async () => rmSync(dir, { recursive: true, force: true }) };
  const ready = await kubeRequest(kube, 'GET', '/readyz');
  if (ready.status !== 200) throw new Error(`${url}/readyz answered ${ready.status}: ${ready.body.slice(0, 200)}`);
  return kube;
}

async function start(): Promise<KubernetesResult> {
  const url = process.env.PROCFLOW_KUBE_URL;
  try {
    if (url) return { kube: await fromEnv(url) };
    if (!findKubernetesBinaries()) {
      throw new Error(`kube-apiserver v${KUBERNETES_VERSION} and etcd are not built; run \`bash scripts/bootstrap.sh\` (or \`node dist/local-services/kubernetes.js --ensure\`)`);
    }
    const local = await startLocalKubernetes();
    const { url: u, token, caFile, tokenFile, kubeconfig, stop } = local;
    return { kube: { url: u, token, caFile, tokenFile, kubeconfig, stop } };
  } catch (err) {
    const reason = `no Kubernetes API server for tests (${url ? `PROCFLOW_KUBE_URL=${url}` : 'local kube-apiserver'}): ${(err as Error).message}`;
    if (IN_CI) throw new Error(reason, { cause: err });
    return { reason };
  }
}

/** The API server of this test process (started on first use), or why there is none. */
export function getTestKubernetes(): Promise<KubernetesResult> {
  shared ??= start();
  return shared;
}

/** Stops the server getTestKubernetes started, if any (call from an `after` hook). */
export async function stopTestKubernetes(): Promise<void> {
  const current = shared;
  shared = undefined;
  const res = await current;
  await res?.kube?.stop();
}

// --- A pod's life without a kubelet ---------------------------------------------------------

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface ContainerStatus {
  name: string;
  containerID?: string;
  image: string;
  imageID: string;
  ready: boolean;
  restartCount: number;
  started?: boolean;
  state: Record<string, unknown>;
}

export interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: { nodeName?: string; hostNetwork?: boolean; containers: Array<{ name: string; image: string }> };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: Array<{ ip: string }>;
    hostIP?: string;
    hostIPs?: Array<{ ip: string }>;
    containerStatuses?: ContainerStatus[];
  };
}

export interface PodList {
  metadata: { resourceVersion: string };
  items: Pod[];
}

/** The API's answer, or an Error naming the call and the server's message. */
async function expectOk(res: KubeResponse, what: string, ok: number[] = [200, 201]): Promise<KubeResponse> {
  if (!ok.includes(res.status)) throw new Error(`kubernetes: ${what} answered ${res.status}: ${res.body.slice(0, 500)}`);
  return res;
}

/** Creates the namespace (an existing one is fine). */
export async function createNamespace(kube: KubeConnection, name: string): Promise<void> {
  const res = await kubeRequest(kube, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  await expectOk(res, `creating namespace ${name}`, [201, 409]);
}

/**
 * Deletes the namespace's pods and the namespace (a missing one is fine). Without a controller
 * manager the namespace stays Terminating, but its pods are gone at once.
 */
export async function deleteNamespace(kube: KubeConnection, name: string): Promise<void> {
  const pods = await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${name}/pods?gracePeriodSeconds=0`);
  await expectOk(pods, `deleting the pods of namespace ${name}`, [200, 404]);
  const res = await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${name}`);
  await expectOk(res, `deleting namespace ${name}`, [200, 202, 404]);
}

/** A Node object, for code that reads its own node (there is no kubelet to register it). */
export async function createNode(kube: KubeConnection, name: string, internalIP = '127.0.0.1'): Promise<void> {
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } }, status: { addresses: [{ type: 'InternalIP', address: internalIP }, { type: 'Hostname', address: name }] } };
  await expectOk(await kubeRequest(kube, 'POST', '/api/v1/nodes', node), `creating node ${name}`, [201, 409]);
}

export interface PodSpecInput {
  /** Exact name; or generateName (e.g. 'web-') for a server-made one. */
  name?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The node the pod is "scheduled" on (spec.nodeName). */
  nodeName: string;
  /** Default: one container named 'main'. */
  containers?: string[];
  hostNetwork?: boolean;
}

export async function createPod(kube: KubeConnection, namespace: string, input: PodSpecInput): Promise<Pod> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(input.name ? { name: input.name } : { generateName: input.generateName ?? 'pod-' }),
      labels: input.labels ?? {},
      ...(input.annotations ? { annotations: input.annotations } : {}),
    },
    spec: {
      nodeName: input.nodeName,
      hostNetwork: input.hostNetwork ?? false,
      containers: (input.containers ?? ['main']).map((name) => ({ name, image: 'registry.invalid/procflow-test:1' })),
    },
  };
  const res = await expectOk(await kubeRequest(kube, 'POST', `/api/v1/namespaces/${namespace}/pods`, pod), `creating a pod in ${namespace}`);
  return res.json<Pod>();
}

/** A container id as the kubelet reports it: runtime prefix and 64 hex digits. */
export const containerId = (runtime = 'containerd'): string => `${runtime}://${randomBytes(32).toString('hex')}`;

export interface RunningStatus {
  podIP: string;
  hostIP?: string;
  /** Container name to full id ("containerd://<64 hex>"); generated for any container not given. */
  containerIDs?: Record<string, string>;
  phase?: string;
}

/** Writes the status a kubelet would once the pod runs; returns the updated pod. */
export async function setPodStatus(kube: KubeConnection, pod: Pod, status: RunningStatus): Promise<Pod> {
  const { name, namespace } = pod.metadata;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const hostIP = status.hostIP ?? '127.0.0.1';
  const body = {
    status: {
      phase: status.phase ?? 'Running',
      podIP: status.podIP,
      podIPs: [{ ip: status.podIP }],
      hostIP,
      hostIPs: [{ ip: hostIP }],
      startTime: now,
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      containerStatuses: pod.spec.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: `${c.image}@sha256:${'0'.repeat(64)}`,
        containerID: status.containerIDs?.[c.name] ?? containerId(),
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: now } },
      })),
    },
  };
  const res = await kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, body, 'application/merge-patch+json');
  await expectOk(res, `setting the status of pod ${namespace}/${name}`);
  return res.json<Pod>();
}

/** Deletes a pod at once (no kubelet would ever confirm a graceful deletion). */
export async function deletePod(kube: KubeConnection, namespace: string, name: string): Promise<void> {
  const res = await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`);
  await expectOk(res, `deleting pod ${namespace}/${name}`, [200, 404]);
}

export async function listPods(kube: KubeConnection, query: { namespace?: string; fieldSelector?: string; labelSelector?: string } = {}): Promise<PodList> {
  const base = query.namespace ? `/api/v1/namespaces/${query.namespace}/pods` : '/api/v1/pods';
  const params = new URLSearchParams();
  if (query.fieldSelector) params.set('fieldSelector', query.fieldSelector);
  if (query.labelSelector) params.set('labelSelector', query.labelSelector);
  const res = await expectOk(await kubeRequest(kube, 'GET', `${base}?${params}`), `listing pods ${params}`);
  return res.json<PodList>();
}

export interface WatchEvent<T = Pod> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface Watch<T = Pod> {
  /**
   * Events in order; ends when the server closes the watch (timeoutSeconds) or close() is called.
   * Leaving a for-await over it early ends it too: use watchUntil to read it in steps.
   */
  events: AsyncIterable<WatchEvent<T>>;
  close(): void;
}

/**
 * A watch as the agent opens one: `path` is a list path with its query, e.g.
 * `/api/v1/pods?fieldSelector=spec.nodeName%3Dn1&resourceVersion=5`; watch=1 and a server-side
 * timeoutSeconds (default 60) are added so a forgotten watch ends by itself.
 */
export async function watch<T = Pod>(kube: KubeConnection, path: string, timeoutSeconds = 60): Promise<Watch<T>> {
  const url = new URL(path, kube.url);
  url.searchParams.set('watch', '1');
  if (!url.searchParams.has('timeoutSeconds')) url.searchParams.set('timeoutSeconds', String(timeoutSeconds));
  const req = request(url, { method: 'GET', ca: readFileSync(kube.caFile), headers: { authorization: `Bearer ${kube.token}`, accept: 'application/json' } });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
  if (res.statusCode !== 200) {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    throw new Error(`kubernetes: watch ${url.pathname}${url.search} answered ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 500)}`);
  }
  const lines = createInterface({ input: res, crlfDelay: Infinity });
  // Taken now, not at the first read: readline drops lines emitted while nobody iterates, and
  // events arrive while the test is still creating the objects it then waits for.
  const iterator = lines[Symbol.asyncIterator]();
  async function* events(): AsyncGenerator<WatchEvent<T>> {
    try {
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) if (r.value.trim()) yield JSON.parse(r.value) as WatchEvent<T>;
    } catch (err) {
      // close() aborts the response; that is the normal end, not an error.
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && !req.destroyed) throw err;
    }
  }
  return { events: events(), close: () => (lines.close(), req.destroy()) };
}

/** Reads events until `want` returns true for one of them; returns every event read. */
export async function watchUntil<T>(w: Watch<T>, want: (e: WatchEvent<T>) => boolean): Promise<Array<WatchEvent<T>>> {
  const seen: Array<WatchEvent<T>> = [];
  // next() by hand: leaving a for-await early would end the generator, and with it the watch.
  const events = w.events[Symbol.asyncIterator]();
  for (let r = await events.next(); !r.done; r = await events.next()) {
    seen.push(r.value);
    if (want(r.value)) return seen;
  }
  throw new Error(`kubernetes: the watch ended before the awaited event; saw ${seen.map((e) => `${e.type}`).join(', ') || 'nothing'}`);
}
