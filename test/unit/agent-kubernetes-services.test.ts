// Who is behind a flow, Kubernetes side: a pod's containers (runtime ids as a cgroup path has
// them) and workload (its controller, a ReplicaSet resolved to its Deployment), and the Service
// an ip:port stands for, from Services (ClusterIPs, external and load-balancer IPs) and from
// EndpointSlices (backends and target ports). The informers that fill these are tested against
// a real API server in test/integration/kubernetes-apiserver.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerById, containerByPort } from '../../agent/identity/pod-lookup.js';
import { bareContainerId, podInfoFrom, workloadOf, type ApiPod } from '../../agent/kubernetes/pod.js';
import { serviceFrom, sliceFrom, type ApiEndpointSlice, type ApiService } from '../../agent/kubernetes/service.js';
import { ServiceIndex } from '../../agent/kubernetes/service-index.js';

const HEX = 'a'.repeat(64);
const HEX2 = 'b'.repeat(64);
const HEX3 = 'c'.repeat(64);

function owned(kind: string, name: string, labels: Record<string, string> = {}, podName = 'p-1'): ApiPod {
  return { metadata: { uid: 'u', name: podName, namespace: 'shop', labels, ownerReferences: [{ kind: 'Other', name: 'not-the-controller' }, { kind, name, controller: true }] } };
}

test('container ids lose their runtime prefix, whatever the runtime', () => {
  assert.equal(bareContainerId(`containerd://${HEX}`), HEX);
  assert.equal(bareContainerId(`cri-o://${HEX}`), HEX);
  assert.equal(bareContainerId(`docker://${HEX}`), HEX);
  assert.equal(bareContainerId(HEX), HEX);
  assert.equal(bareContainerId(undefined), '');
  assert.equal(bareContainerId(''), '');
});

test('pod records keep app, init and ephemeral containers with ids, images and declared ports', () => {
  const p = podInfoFrom({
    metadata: { uid: 'u1', name: 'web-7c5d-x2x9z', namespace: 'shop', labels: { app: 'web' } },
    spec: {
      containers: [{ name: 'app', ports: [{ containerPort: 8080, name: 'http' }, { containerPort: 9090, name: 'metrics' }] }, { name: 'waiting' }],
      initContainers: [{ name: 'migrate' }, { name: 'proxy', restartPolicy: 'Always', ports: [{ containerPort: 15001 }] }],
    },
    status: {
      phase: 'Running',
      podIP: '10.244.1.5',
      containerStatuses: [
        { name: 'app', containerID: `containerd://${HEX}`, image: 'nginx:1.27', imageID: 'docker.io/library/nginx@sha256:00' },
        { name: 'waiting', image: 'busybox' },
      ],
      initContainerStatuses: [{ name: 'migrate', containerID: `cri-o://${HEX2}`, image: 'tool:1', imageID: 'tool@sha256:11' }, { name: 'proxy', containerID: `containerd://${HEX3}`, image: 'envoy', imageID: 'envoy@sha256:22' }],
      ephemeralContainerStatuses: [{ name: 'debugger', containerID: `docker://${'d'.repeat(64)}`, image: 'busybox', imageID: 'busybox@sha256:33' }],
    },
  })!;
  assert.deepEqual(p.labelMap, { app: 'web' });
  assert.deepEqual(p.containers.map((c) => [c.name, c.id, c.init ?? false, c.ports]), [
    ['app', HEX, false, [8080, 9090]],
    ['migrate', HEX2, true, []],
    ['proxy', HEX3, false, [15001]],
    ['debugger', 'd'.repeat(64), true, []],
  ], 'a container without an id (not started) is left out; a native sidecar counts as an app container');
  assert.deepEqual(containerById(p, HEX), { id: HEX, name: 'app', image: 'nginx:1.27', imageId: 'docker.io/library/nginx@sha256:00', ports: [8080, 9090] });
  assert.equal(containerByPort(p, 9090)?.name, 'app');
  assert.equal(containerByPort(p, 15001)?.name, 'proxy');
  assert.equal(containerByPort(p, 5432), undefined, 'two app containers, neither declares the port');
  assert.equal(p.endpoint.pod, p);

  const single = podInfoFrom({
    metadata: { uid: 'u2', name: 'job-abc' },
    spec: { containers: [{ name: 'main' }], initContainers: [{ name: 'setup' }] },
    status: { containerStatuses: [{ name: 'main', containerID: `containerd://${HEX}` }], initContainerStatuses: [{ name: 'setup', containerID: `containerd://${HEX2}` }] },
  })!;
  assert.equal(containerByPort(single, 8080)?.name, 'main', 'the only app container, not the finished init container');
});

test('workloads: Deployment through the ReplicaSet name and pod-template-hash, others as their controller, bare pods as themselves', () => {
  assert.deepEqual(workloadOf(owned('ReplicaSet', 'web-7c5ddbdf54', { 'pod-template-hash': '7c5ddbdf54' })), { kind: 'Deployment', name: 'web' });
  assert.deepEqual(workloadOf(owned('ReplicaSet', 'my-api-v2-6f7b9c', { 'pod-template-hash': '6f7b9c' })), { kind: 'Deployment', name: 'my-api-v2' });
  assert.deepEqual(workloadOf(owned('ReplicaSet', 'handmade')), { kind: 'ReplicaSet', name: 'handmade' }, 'no hash label: a ReplicaSet of its own');
  assert.deepEqual(workloadOf(owned('ReplicaSet', 'web-other', { 'pod-template-hash': '7c5ddbdf54' })), { kind: 'ReplicaSet', name: 'web-other' }, 'the name does not end in the hash');
  assert.deepEqual(workloadOf(owned('ReplicaSet', '7c5ddbdf54', { 'pod-template-hash': '7c5ddbdf54' })), { kind: 'ReplicaSet', name: '7c5ddbdf54' });
  assert.deepEqual(workloadOf(owned('DaemonSet', 'procflow-agent', { 'controller-revision-hash': '5d4f' })), { kind: 'DaemonSet', name: 'procflow-agent' });
  assert.deepEqual(workloadOf(owned('StatefulSet', 'db')), { kind: 'StatefulSet', name: 'db' });
  assert.deepEqual(workloadOf(owned('Job', 'backup-28912345', { 'batch.kubernetes.io/job-name': 'backup-28912345' })), { kind: 'Job', name: 'backup-28912345' },
    'a CronJob\'s Job stays a Job: nothing on the pod names the CronJob');
  assert.deepEqual(workloadOf(owned('ReplicationController', 'legacy')), { kind: 'ReplicationController', name: 'legacy' });
  assert.deepEqual(workloadOf(owned('Rollout', 'canary')), { kind: 'Rollout', name: 'canary' });
  assert.deepEqual(workloadOf({ metadata: { uid: 'u', name: 'debug-shell' } }), { kind: 'Pod', name: 'debug-shell' });
  assert.deepEqual(workloadOf({ metadata: { uid: 'u', name: 'orphan', ownerReferences: [{ kind: 'ReplicaSet', name: 'gone', controller: false }] } }), { kind: 'Pod', name: 'orphan' },
    'an owner that is not the controller does not make a workload');
  assert.deepEqual(podInfoFrom(owned('ReplicaSet', 'web-7c5ddbdf54', { 'pod-template-hash': '7c5ddbdf54' }))!.workload, { kind: 'Deployment', name: 'web' });
});

function apiService(name: string, spec: ApiService['spec'], extra: { ns?: string; uid?: string; lb?: string[] } = {}): ApiService {
  return { metadata: { uid: extra.uid ?? `svc-${name}`, name, namespace: extra.ns ?? 'shop' }, spec, status: extra.lb ? { loadBalancer: { ingress: extra.lb.map((ip) => ({ ip })) } } : undefined };
}

function apiSlice(uid: string, service: string, addresses: string[], ports: { name?: string; port: number; protocol?: string }[], extra: { ns?: string; addressType?: string } = {}): ApiEndpointSlice {
  return {
    metadata: { uid, name: `${service}-${uid}`, namespace: extra.ns ?? 'shop', labels: { 'kubernetes.io/service-name': service } },
    addressType: extra.addressType ?? 'IPv4',
    endpoints: addresses.map((a) => ({ addresses: [a] })),
    ports,
  };
}

function indexOf(services: ApiService[], slices: ApiEndpointSlice[] = []): ServiceIndex {
  const idx = new ServiceIndex();
  idx.services.replaceAll(services.map((s) => serviceFrom(s)!));
  idx.slices.replaceAll(slices.map((s) => sliceFrom(s)!));
  return idx;
}

test('Service addresses: each port of a multi-port, dual-stack Service, external and load-balancer IPs; v4-mapped peers resolve', () => {
  const idx = indexOf([apiService('web', {
    clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00:96::10'], externalIPs: ['192.0.2.7'],
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'https', port: 443 }, { name: 'dns', port: 53, protocol: 'UDP' }],
  }, { lb: ['203.0.113.9'] })]);
  assert.deepEqual(idx.serviceFor('10.96.0.10', 80, 'tcp'), { namespace: 'shop', name: 'web', portName: 'http', port: 80 });
  assert.deepEqual(idx.serviceFor('fd00:96::10', 443, 'tcp'), { namespace: 'shop', name: 'web', portName: 'https', port: 443 }, 'protocol TCP when the port has none');
  assert.deepEqual(idx.serviceFor('::ffff:10.96.0.10', 443, 'tcp')?.portName, 'https');
  assert.equal(idx.serviceFor('192.0.2.7', 80, 'tcp')?.portName, 'http');
  assert.equal(idx.serviceFor('203.0.113.9', 53, 'udp')?.portName, 'dns');
  assert.equal(idx.serviceFor('10.96.0.10', 53, 'tcp'), undefined, 'the port is UDP only');
  assert.equal(idx.serviceFor('10.96.0.10', 8080, 'tcp'), undefined, 'not a Service port');
  assert.equal(idx.services.size, 1);
});

test('backends: EndpointSlice address and target port name the Service port by its name; several slices, both families', () => {
  const idx = indexOf(
    [apiService('web', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }, { name: 'metrics', port: 9100 }] })],
    [
      apiSlice('s1', 'web', ['10.244.1.5', '10.244.2.6'], [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9090 }]),
      apiSlice('s2', 'web', ['fd00:244::7'], [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9090 }], { addressType: 'IPv6' }),
    ]);
  assert.deepEqual(idx.serviceFor('10.244.1.5', 8080, 'tcp'), { namespace: 'shop', name: 'web', portName: 'http', port: 80 });
  assert.deepEqual(idx.serviceFor('10.244.2.6', 9090, 'tcp'), { namespace: 'shop', name: 'web', portName: 'metrics', port: 9100 });
  assert.equal(idx.serviceFor('fd00:244::7', 8080, 'tcp')?.port, 80);
  assert.equal(idx.serviceFor('::ffff:10.244.1.5', 8080, 'tcp')?.name, 'web');
  assert.equal(idx.serviceFor('10.244.1.5', 8080, 'udp'), undefined);
  assert.equal(idx.serviceFor('10.244.1.5', 22, 'tcp'), undefined);

  // The slice loses an endpoint, then goes away.
  idx.slices.upsert(sliceFrom(apiSlice('s1', 'web', ['10.244.2.6'], [{ name: 'http', port: 8080 }]))!);
  assert.equal(idx.serviceFor('10.244.1.5', 8080, 'tcp'), undefined);
  assert.equal(idx.serviceFor('10.244.2.6', 9090, 'tcp'), undefined, 'the port left the slice');
  assert.equal(idx.serviceFor('10.244.2.6', 8080, 'tcp')?.name, 'web');
  idx.slices.remove('s1');
  assert.equal(idx.serviceFor('10.244.2.6', 8080, 'tcp'), undefined);
  assert.equal(idx.serviceFor('fd00:244::7', 8080, 'tcp')?.name, 'web', 'the other slice stays');
  assert.equal(idx.slices.size, 1);
});

test('an unnamed single port matches its unnamed slice port; a headless Service has backends but no address', () => {
  const idx = indexOf(
    [apiService('cache', { clusterIP: '10.96.0.20', ports: [{ port: 6379 }] }), apiService('db', { clusterIP: 'None', clusterIPs: ['None'], ports: [{ name: 'pg', port: 5432 }] })],
    [apiSlice('c1', 'cache', ['10.244.3.3'], [{ port: 6379 }]), apiSlice('d1', 'db', ['10.244.4.4'], [{ name: 'pg', port: 5432 }])]);
  assert.deepEqual(idx.serviceFor('10.96.0.20', 6379, 'tcp'), { namespace: 'shop', name: 'cache', portName: '', port: 6379 });
  assert.deepEqual(idx.serviceFor('10.244.3.3', 6379, 'tcp'), { namespace: 'shop', name: 'cache', portName: '', port: 6379 });
  assert.deepEqual(serviceFrom(apiService('db', { clusterIP: 'None', clusterIPs: ['None'], ports: [{ name: 'pg', port: 5432 }] }))!.ips, []);
  assert.deepEqual(idx.serviceFor('10.244.4.4', 5432, 'tcp'), { namespace: 'shop', name: 'db', portName: 'pg', port: 5432 });
  assert.equal(idx.serviceFor('None', 5432, 'tcp'), undefined);
});

test('two Services selecting the same pod port: the one with a ClusterIP wins, whatever the order', () => {
  const services = [apiService('db-headless', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }), apiService('db', { clusterIP: '10.96.0.30', ports: [{ name: 'pg', port: 5432 }] })];
  const slices = [apiSlice('h1', 'db-headless', ['10.244.4.4'], [{ name: 'pg', port: 5432 }]), apiSlice('n1', 'db', ['10.244.4.4'], [{ name: 'pg', port: 5432 }])];
  assert.equal(indexOf(services, slices).serviceFor('10.244.4.4', 5432, 'tcp')?.name, 'db');
  assert.equal(indexOf([...services].reverse(), [...slices].reverse()).serviceFor('10.244.4.4', 5432, 'tcp')?.name, 'db');
});

test('a deleted Service names nothing, by address or by backend; one made again under the same name does', () => {
  const idx = indexOf([apiService('web', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }] })], [apiSlice('s1', 'web', ['10.244.1.5'], [{ name: 'http', port: 8080 }])]);
  idx.services.remove('svc-web');
  assert.equal(idx.serviceFor('10.96.0.10', 80, 'tcp'), undefined);
  assert.equal(idx.serviceFor('10.244.1.5', 8080, 'tcp'), undefined, 'the slice outlives its Service until the garbage collector takes it');
  idx.services.upsert(serviceFrom(apiService('web', { clusterIP: '10.96.0.11', ports: [{ name: 'http', port: 8000 }] }, { uid: 'svc-web-2' }))!);
  assert.equal(idx.serviceFor('10.96.0.10', 80, 'tcp'), undefined);
  assert.equal(idx.serviceFor('10.96.0.11', 8000, 'tcp')?.name, 'web');
  assert.deepEqual(idx.serviceFor('10.244.1.5', 8080, 'tcp'), { namespace: 'shop', name: 'web', portName: 'http', port: 8000 }, 'the port number follows the new Service');
  // An update that renumbers a port moves the address claim.
  idx.services.upsert(serviceFrom(apiService('web', { clusterIP: '10.96.0.11', ports: [{ name: 'http', port: 8001 }] }, { uid: 'svc-web-2' }))!);
  assert.equal(idx.serviceFor('10.96.0.11', 8000, 'tcp'), undefined);
  assert.equal(idx.serviceFor('10.96.0.11', 8001, 'tcp')?.port, 8001);
  idx.services.replaceAll([]);
  assert.equal(idx.serviceFor('10.96.0.11', 8001, 'tcp'), undefined);
  assert.equal(idx.services.size, 0);
});

test('objects that cannot name a Service are not kept: ExternalName addresses, FQDN slices, slices without the service-name label', () => {
  assert.deepEqual(serviceFrom(apiService('ext', { type: 'ExternalName', ports: [{ port: 443 }] }))!.ips, []);
  assert.equal(sliceFrom(apiSlice('f1', 'ext', ['db.example.com'], [{ port: 443 }], { addressType: 'FQDN' })), undefined);
  const unlabelled = apiSlice('x1', 'web', ['10.244.1.5'], [{ port: 80 }]);
  unlabelled.metadata!.labels = {};
  assert.equal(sliceFrom(unlabelled), undefined);
  assert.deepEqual(sliceFrom(apiSlice('p1', 'web', ['10.244.1.5'], [{ port: 80, protocol: 'SCTP' }, { name: 'odd', port: 81, protocol: 'ICMP' }]))!.ports, [{ name: '', port: 80, proto: 'sctp' }]);
  assert.equal(serviceFrom({ metadata: { name: 'no-uid' } }), undefined);
});
