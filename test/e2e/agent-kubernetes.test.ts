// End to end with Kubernetes: the real kernel, `procflow agent --kubernetes` and `procflow
// indexer` as child processes, a real kube-apiserver and the real Elasticsearch. Two "pods" are
// made real enough for the agent: API objects with their status written as a kubelet would, pod
// IPs on the loopback interface, and the client's process placed in a kubepods cgroup (v2) named
// after its pod uid and container id, exactly where kubelet and containerd would put it. Their
// flow must name both ends as workload endpoints; their process_exec must carry the pod.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkKernelSupport } from '../../native/index.js';
import { cgroup2Mount } from '../../agent/process/cgroup.js';
import { FLOWS_PATTERN, PROCESS_PATTERN, type FlowLog, type ProcessEventDoc } from '../../schema/index.js';
import { freePort } from '../../common/net.js';
import { getTestCluster, type TestCluster } from '../support/elasticsearch.js';
import { kubeRequest } from '../../local-services/kubernetes.js';
import { skipOrFail } from '../support/environment.js';
import { containerId, createNamespace, createPod, deleteNamespace, getTestKubernetes, setPodStatus, stopTestKubernetes, type Pod, type TestKubernetes } from '../support/kubernetes.js';
import { CLI, run, start, stop, waitFor, type Started } from '../support/processes.js';

const RUN = `k8s${Date.now().toString(36)}`;
const NODE_NAME = `node-${RUN}`;
const NS = `pf-${RUN}`;
const TOKEN = 'e2e-k8s-token';
const CLIENT_IP = '10.244.77.5';
const SERVER_IP = '10.244.77.6';

const SERVER = `
const net = require('node:net');
const s = net.createServer((c) => { c.on('data', () => {}); c.on('end', () => c.end('ok')); c.on('error', () => {}); })
  .listen(0, '${SERVER_IP}', () => console.log(JSON.stringify({ port: s.address().port })));`;
const CLIENT = `
const net = require('node:net'); const [, port, n] = process.argv.slice(1);
const c = net.connect({ port: Number(port), host: '${SERVER_IP}', localAddress: '${CLIENT_IP}' }, () => c.end(Buffer.alloc(Number(n), 0x6b)));
c.on('data', () => {}); c.on('close', () => process.exit(0)); c.on('error', () => process.exit(3));`;

describe('agent --kubernetes end to end (kernel + kube-apiserver + indexer + Elasticsearch)', () => {
  let cluster: TestCluster | undefined;
  let kube: TestKubernetes | undefined;
  let reason = '';
  let indexer: Started | undefined;
  let agent: Started | undefined;
  let server: Started | undefined;
  let clientPod: Pod;
  let serverPod: Pod;
  const container = containerId('containerd');
  const cgroupDirs: string[] = [];
  const addedIps: string[] = [];
  const spoolDir = mkdtempSync(join(tmpdir(), 'procflow-e2e-k8s-spool-'));

  before(async () => {
    const support = checkKernelSupport();
    if (!support.ok) return void (reason = `kernel collection unavailable: missing ${support.missing.join(', ')}`);
    const v2 = cgroup2Mount();
    if (!v2) return void (reason = 'no cgroup v2 hierarchy mounted to place the pod\'s process in');
    const es = await getTestCluster();
    if (!es.cluster) return void (reason = es.reason);
    cluster = es.cluster;
    const k = await getTestKubernetes();
    if (!k.kube) return void (reason = k.reason);
    kube = k.kube;

    await createNamespace(kube, NS);
    clientPod = await setPodStatus(kube, await createPod(kube, NS, { generateName: 'client-6f9d-', labels: { app: 'client' }, nodeName: NODE_NAME }),
      { podIP: CLIENT_IP, containerIDs: { main: container } });
    serverPod = await setPodStatus(kube, await createPod(kube, NS, { name: 'server-0', labels: { app: 'server', tier: 'backend' }, nodeName: NODE_NAME }), { podIP: SERVER_IP });
    for (const ip of [CLIENT_IP, SERVER_IP]) {
      execFileSync('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo']);
      addedIps.push(ip);
    }
    // Where kubelet (systemd driver) and containerd put a BestEffort pod's container.
    const podSlice = join(v2, 'kubepods.slice', 'kubepods-besteffort.slice', `kubepods-besteffort-pod${clientPod.metadata.uid.replaceAll('-', '_')}.slice`);
    const scope = join(podSlice, `cri-containerd-${container.split('://')[1]}.scope`);
    mkdirSync(scope, { recursive: true });
    cgroupDirs.push(scope, podSlice, join(v2, 'kubepods.slice', 'kubepods-besteffort.slice'), join(v2, 'kubepods.slice'));

    const indexerPort = await freePort();
    indexer = start([CLI, 'indexer', '--es-url', cluster.url, '--listen', `127.0.0.1:${indexerPort}`, '--token', TOKEN, '--log-level', 'warn']);
    await waitFor('the indexer', async () => (indexer!.output().includes('listening on') ? true : undefined), 30_000);
    agent = start([CLI, 'agent', '--indexer-url', `http://127.0.0.1:${indexerPort}`, '--token', TOKEN, '--flush-interval', '1s', '--spool-dir', spoolDir,
      '--listen', '127.0.0.1:0', '--node-name', NODE_NAME, '--process-events-rate', '0', '--log-level', 'info',
      '--kubernetes', '--kubernetes-api-url', kube.url, '--kubernetes-token-file', kube.tokenFile, '--kubernetes-ca-file', kube.caFile, '--kubernetes-scope', 'node']);
    await waitFor('the agent to list pods', async () => {
      if (agent!.child.exitCode !== null) throw new Error(`the agent exited: ${agent!.output()}`);
      return agent!.output().includes('kubernetes: pods listed') ? true : undefined;
    }, 30_000);
  });

  after(async () => {
    await stop(agent);
    await stop(indexer);
    await stop(server, 'SIGKILL');
    for (const d of cgroupDirs) {
      try {
        rmdirSync(d);
      } catch {
        // still populated or already gone: nothing more to do in a test's cleanup
      }
    }
    for (const ip of addedIps) execFileSync('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo']);
    rmSync(spoolDir, { recursive: true, force: true });
    // No controller manager runs here to empty a deleted namespace: delete its pods first.
    if (kube) await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${NS}/pods?gracePeriodSeconds=0`).catch(() => {});
    if (kube) await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${NS}/services/server-svc`).catch(() => {});
    if (kube) await kubeRequest(kube, 'DELETE', `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/server-svc-1`).catch(() => {});
    if (kube) await deleteNamespace(kube, NS).catch(() => {});
    await stopTestKubernetes();
    if (cluster) {
      for (const [index, field] of [[FLOWS_PATTERN, 'host'], [PROCESS_PATTERN, 'node_name']] as const) {
        await cluster.client.deleteByQuery({ index, query: { term: { [field]: NODE_NAME } }, refresh: true, ignore_unavailable: true, allow_no_indices: true }).catch(() => {});
      }
      await cluster.stop();
    }
  });

  it('names both ends of a pod-to-pod flow and tags the pod process\'s exec with its pod and container', { timeout: 120_000 }, async (t) => {
    if (!cluster || !kube) return skipOrFail(t, reason);
    server = start(['-e', SERVER]);
    const { port } = await waitFor('the server', async () => (server!.output().includes('port') ? JSON.parse(server!.output().trim().split('\n')[0]!) as { port: number } : undefined));
    // The server pod is the backend of a Service, as the EndpointSlice controller would record it
    // (no kube-proxy here, so the client dials the backend, and both sides see it after "DNAT").
    const created = async (path: string, body: unknown) => {
      const res = await kubeRequest(kube!, 'POST', path, body);
      assert.ok(res.status < 300, `POST ${path}: ${res.status} ${res.body}`);
    };
    await created(`/api/v1/namespaces/${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'server-svc' }, spec: { ports: [{ name: 'app', port: 80, targetPort: port }] } });
    await created(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'server-svc-1', labels: { 'kubernetes.io/service-name': 'server-svc' } },
      addressType: 'IPv4', endpoints: [{ addresses: [SERVER_IP], conditions: { ready: true } }], ports: [{ name: 'app', port, protocol: 'TCP' }],
    });
    // The watch delivers them within milliseconds; leave it a moment on a slow guest.
    await new Promise((r) => setTimeout(r, 2000));
    // The client joins its container's cgroup, then execs: the exec event carries that cgroup.
    const client = await run('/bin/sh', ['-c', `echo $$ > ${cgroupDirs[0]}/cgroup.procs && exec ${process.execPath} -e "${CLIENT.replaceAll('"', '\\"').replaceAll('\n', ' ')}" e2e-client-${RUN} ${port} 4321`]);
    assert.equal(client.code, 0, 'the client ran');

    const docs = await waitFor('the pod-to-pod flow in Elasticsearch', async () => {
      await cluster!.client.indices.refresh({ index: FLOWS_PATTERN, ignore_unavailable: true, allow_no_indices: true });
      const res = await cluster!.client.search<FlowLog>({ index: FLOWS_PATTERN, size: 100, query: { bool: { filter: [{ term: { host: NODE_NAME } }, { term: { dest_port: port } }] } } });
      const found = res.hits.hits.map((h) => h._source!);
      // Both sides, each complete: they may land in different flush intervals.
      const sent = found.reduce((n, d) => n + (d.reporter === 'src' ? d.bytes_out : 0), 0);
      const received = found.reduce((n, d) => n + (d.reporter === 'dst' ? d.bytes_in : 0), 0);
      return sent >= 4321 && received >= 4321 ? found : undefined;
    }, 60_000);
    const src = docs.filter((d) => d.reporter === 'src');
    assert.equal(src.reduce((n, d) => n + d.bytes_out, 0), 4321);
    for (const d of src) {
      assert.deepEqual([d.source_type, d.source_namespace, d.source_name, d.source_name_aggr, d.source_labels],
        ['wep', NS, clientPod.metadata.name, 'client-6f9d-*', ['app=client']], JSON.stringify(d));
      assert.deepEqual([d.dest_type, d.dest_namespace, d.dest_name, d.dest_name_aggr, d.dest_labels],
        ['wep', NS, 'server-0', 'server-0', ['app=server', 'tier=backend']]);
      assert.equal(d.process_name, process.execPath);
      assert.equal(d.container_id, container.split('://')[1], 'the container id from the cgroup path');
      assert.deepEqual([d.source_workload, d.source_workload_kind, d.source_container_name, d.source_container_image],
        [clientPod.metadata.name, 'Pod', 'main', 'registry.invalid/procflow-test:1'], 'a bare pod is its own workload; the container from the process\'s cgroup');
      assert.deepEqual([d.dest_workload, d.dest_workload_kind, d.dest_container_name], ['server-0', 'Pod', 'main'], 'the peer pod\'s only container');
      assert.deepEqual([d.dest_service_name, d.dest_service_namespace, d.dest_service_port, d.dest_service_port_num], ['server-svc', NS, 'app', 80], 'the Service the backend stands for');
      assert.equal(d.process_id, String(client.pid));
    }
    // The server's side of the same connection is reported too, from the server pod's view.
    const dst = docs.filter((d) => d.reporter === 'dst');
    assert.equal(dst.reduce((n, d) => n + d.bytes_in, 0), 4321, 'the server side is reported, with what it received');
    assert.ok(dst.every((d) => d.source_name === clientPod.metadata.name && d.dest_name === 'server-0' && d.dest_type === 'wep'));
    assert.ok(dst.every((d) => d.dest_service_name === 'server-svc' && d.dest_service_port_num === 80), 'the server side names the Service too');

    // The pid execs twice: /bin/sh (outside the pod, before it joins the cgroup), then node.
    const exec = await waitFor('the client\'s process_exec', async () => {
      await cluster!.client.indices.refresh({ index: PROCESS_PATTERN, ignore_unavailable: true, allow_no_indices: true });
      const res = await cluster!.client.search<ProcessEventDoc>({ index: PROCESS_PATTERN, size: 10, query: { bool: { filter: [{ term: { node_name: NODE_NAME } }, { term: { 'process_exec.process.pid': client.pid } }, { term: { 'process_exec.process.binary': process.execPath } }] } } });
      return res.hits.hits[0]?._source;
    });
    const pod = exec.process_exec!.process.pod!;
    assert.equal(pod.namespace, NS);
    assert.equal(pod.name, clientPod.metadata.name);
    assert.deepEqual(pod.pod_labels, { app: 'client' });
    assert.equal(pod.container?.id, container.split('://')[1]);
    assert.deepEqual([pod.workload, pod.workload_kind, pod.container?.name, pod.container?.image?.name, pod.container?.image?.id],
      [clientPod.metadata.name, 'Pod', 'main', 'registry.invalid/procflow-test:1', `registry.invalid/procflow-test:1@sha256:${'0'.repeat(64)}`]);
    assert.equal(serverPod.metadata.name, 'server-0');
  });
});
