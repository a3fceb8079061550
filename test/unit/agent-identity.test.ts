// Process identity as Tetragon gives it (images, exec ids, flags, parents), user names from a
// root's passwd file, and what flow logs say about parents, users, workloads and Services.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import type { ForkEvent } from '../../native/types.js';
import { execEvent, flowRecord } from '../../agent/synthetic.js';
import { ProcessCache, imageAt, processName } from '../../agent/process/process-cache.js';
import { Redactor } from '../../agent/process/redact.js';
import { execId } from '../../agent/process/exec-id.js';
import { UserNames, parsePasswd } from '../../agent/process/user-names.js';
import { capabilityNames } from '../../agent/process/capabilities.js';
import { FlowAggregator } from '../../agent/flows/aggregator.js';
import { EndpointNamer } from '../../agent/flows/endpoints.js';
import { agentDefaults } from '../../agent/config.js';
import { NO_PODS, type PodInfo, type PodLookup } from '../../agent/identity/pod-lookup.js';
import { FLOW_CONTRACT, PROCESS_CONTRACT, PROCESS_EVENT_FIELDS, ecsCopies, mappingProperties } from '../../schema/index.js';
import { ProcessEventBuilder } from '../../agent/process/process-events.js';
import { BootClock } from '../../agent/process/clock.js';

const S = 1_000_000_000n;
const defaults = agentDefaults({ node_name: 'n1' });
const newCache = () => new ProcessCache({ ...defaults, redactor: new Redactor(defaults), cache_max_entries: 100, exit_retention: 1000 });
const fork = (pid: number, startNs: bigint, ppid: number, parentStartNs: bigint): ForkEvent => ({ kind: 'fork', pid, ppid, startNs, timeNs: startNs, comm: 'sh', parentStartNs });

test('exec after fork keeps the id (execve clone); exec without fork is a new image parented by the old one', () => {
  const c = newCache();
  c.onExec(execEvent(10, 1n * S, '/bin/bash', [], { parentStartNs: 0n }));
  c.onFork(fork(11, 2n * S, 10, 1n * S));
  const sh = c.onExec(execEvent(11, 2n * S, '/bin/sh', ['-c', 'exec curl x'], { ppid: 10, parentStartNs: 1n * S, timeNs: 2n * S + 500n }));
  assert.equal(sh.execId, execId('n1', 11, 2n * S));
  assert.deepEqual(sh.flags, ['execve', 'clone']);
  assert.equal(sh.parentExecId, execId('n1', 10, 1n * S));
  const shId = sh.execId;
  const curl = c.onExec(execEvent(11, 2n * S, '/usr/bin/curl', ['x'], { ppid: 10, parentStartNs: 1n * S, timeNs: 3n * S, cwd: '/' }));
  assert.equal(curl, sh, 'one process, one cache entry');
  assert.notEqual(curl.execId, shId);
  assert.equal(Buffer.from(curl.execId, 'base64').toString(), `n1:${3n * S}:11`);
  assert.equal(curl.parentExecId, shId);
  assert.deepEqual(curl.flags, ['execve', 'rootcwd']);
  assert.equal(c.parentImage(curl)?.binary, '/bin/sh');
  assert.equal(imageAt(curl, 2n * S + 900n).binary, '/bin/sh', 'I/O before the exec was the shell\'s');
  assert.equal(imageAt(curl, 3n * S + 1n).binary, '/usr/bin/curl');
  assert.equal(curl.prior?.prior, undefined, 'one previous image is kept, not a chain');
  // A child forked now has curl's image as parent.
  const child = c.onFork(fork(12, 4n * S, 11, 2n * S));
  assert.equal(child.parentExecId, curl.execId);
});

test('the scan read an image just before its exec event: the same binary and arguments are one image', () => {
  const c = newCache();
  c.onProcfs({ pid: 20, ppid: 1, startNs: 5n * S, comm: 'nginx', uid: 0, gid: 0, exe: '/usr/sbin/nginx', args: ['/usr/sbin/nginx', '-g', 'x'], argsTruncated: false, cwd: '/', cgroupPath: '' });
  const id = c.get(20, 5n * S)!.execId;
  const e = c.onExec(execEvent(20, 5n * S, '/usr/sbin/nginx', ['-g', 'x']));
  assert.equal(e.execId, id);
  const e2 = c.onExec(execEvent(20, 5n * S, '/usr/sbin/nginx', ['-g', 'y'], { timeNs: 9n * S }));
  assert.notEqual(e2.execId, id, 'other arguments: a new image');
});

test('kernel error bits become Tetragon flag names', () => {
  const c = newCache();
  const e = c.onExec(execEvent(30, 1n * S, '', [], { errorFlags: 1 | 2 | 4 }));
  assert.deepEqual(e.flags, ['execve', 'errorFilename', 'errorArgs', 'errorCWD', 'taskname']);
});

test('user names come from a regular passwd file; links and FIFOs give the number', () => {
  assert.deepEqual([...parsePasswd('root:x:0:0::/root:/bin/sh\n#c\nbad\nnobody:x:65534:65534::/:/x\nroot2:x:0:0::/:/x\n')], [[0, 'root'], [65534, 'nobody']]);
  const dir = mkdtempSync(join(tmpdir(), 'pf-users-'));
  try {
    const proc = join(dir, 'proc');
    const mkRoot = (pid: number) => {
      mkdirSync(join(proc, String(pid), 'root', 'etc'), { recursive: true });
      return join(proc, String(pid), 'root', 'etc');
    };
    writeFileSync(join(mkRoot(100), 'passwd'), 'app:x:1000:1000::/:/x\n');
    symlinkSync('/etc/shadow', join(mkRoot(101), 'passwd'));
    execSync(`mkfifo ${join(mkRoot(102), 'passwd')}`);
    const etc103 = join(proc, '103', 'root');
    mkdirSync(etc103, { recursive: true });
    symlinkSync('/etc', join(etc103, 'etc'));
    const t = { now: 0 };
    const u = new UserNames({ procRoot: proc, now: () => t.now, ttlMs: 1000 });
    assert.equal(u.nameOf(1000, 100, 'c1'), 'app');
    assert.equal(u.nameOf(1000, 101, 'c2'), '1000', 'a symlinked passwd is not followed');
    assert.equal(u.nameOf(1000, 102, 'c3'), '1000', 'a FIFO is not read (it would block)');
    assert.equal(u.nameOf(1000, 103, 'c4'), '1000', 'a symlinked /etc is not followed');
    assert.equal(u.refused, 2, 'the FIFO and the linked /etc');
    writeFileSync(join(proc, '100', 'root', 'etc', 'passwd'), 'other:x:1000:1000::/:/x\n');
    assert.equal(u.nameOf(1000, 0, 'c1'), 'app', 'cached within the time to live');
    t.now = 2000;
    assert.equal(u.nameOf(1000, 0, 'c1'), 'app', 'a gone process keeps the names last read');
    assert.equal(u.nameOf(1000, 100, 'c1'), 'other', 'read again after the time to live');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('capability masks name their bits', () => {
  assert.deepEqual(capabilityNames(0n), []);
  assert.deepEqual(capabilityNames((1n << 21n) | (1n << 12n) | (1n << 50n)), ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_50']);
});

function podWith(over: Partial<PodInfo> = {}): PodInfo {
  const pod: PodInfo = {
    uid: 'u1', namespace: 'shop', name: 'web-7c5d-abc', nameAggr: 'web-7c5d-*', labels: ['app=web'], labelMap: { app: 'web' }, ips: ['10.1.0.5'], nodeName: 'n1',
    workload: { kind: 'Deployment', name: 'web' },
    containers: [
      { id: 'a'.repeat(64), name: 'web', image: 'nginx:1.27', imageId: 'docker.io/library/nginx@sha256:1', ports: [8080], init: false },
      { id: 'b'.repeat(64), name: 'sidecar', image: 'envoy:1', imageId: 'docker.io/envoy@sha256:2', ports: [15000], init: false },
    ],
    endpoint: { type: 'wep', name: 'web-7c5d-abc', nameAggr: 'web-7c5d-*', namespace: 'shop', labels: ['app=web'] },
    ...over,
  };
  pod.endpoint.pod = pod;
  return pod;
}

test('flow logs: parent image and user, "*" when the processes differ; workload, container and Service of the peer', () => {
  const c = newCache();
  c.onExec(execEvent(1, 1n * S, '/bin/bash', []));
  c.onFork(fork(2, 2n * S, 1, 1n * S));
  c.onExec(execEvent(2, 2n * S, '/usr/bin/curl', ['a'], { ppid: 1, parentStartNs: 1n * S }));
  c.onExec(execEvent(3, 3n * S, '/usr/bin/curl', ['b'], { ppid: 1, parentStartNs: 9n * S, uid: 0 }));
  const pod = podWith();
  const pods: PodLookup = {
    ...NO_PODS,
    byIp: (ip) => (ip === '10.1.0.5' ? pod : undefined),
    serviceFor: (ip, port) => (ip === '10.1.0.5' && port === 8080 ? { namespace: 'shop', name: 'web', portName: 'http', port: 80 } : undefined),
  };
  const agg = new FlowAggregator({
    ...defaults, endpoints: new EndpointNamer('n1', pods), resolve: (p, s) => c.get(p, s)!,
    parentName: (e) => {
      const p = c.parentImage(e);
      return p ? processName(p) : undefined;
    },
    userName: (e) => (e.uid === 0 ? 'root' : 'app'),
  }, 0);
  agg.add(flowRecord({ pid: 2, pidStartNs: 2n * S, remoteIp: '10.1.0.5', remotePort: 8080, bytesOut: 10 }));
  agg.add(flowRecord({ pid: 2, pidStartNs: 2n * S, localPort: 40001, remoteIp: '10.9.9.9', remotePort: 53, proto: 17, bytesOut: 5 }));
  agg.add(flowRecord({ pid: 3, pidStartNs: 3n * S, localPort: 40001, remoteIp: '10.9.9.9', remotePort: 53, proto: 17, bytesOut: 5 }));
  const logs = agg.flush(1000);
  const web = logs.find((l) => l.dest_ip === '10.1.0.5')!;
  assert.equal(FLOW_CONTRACT.validate(web), null);
  assert.equal(web.process_parent_name, '/bin/bash');
  assert.equal(web.process_user_name, 'app');
  assert.deepEqual([web.dest_workload, web.dest_workload_kind, web.dest_container_name, web.dest_container_image, web.dest_container_image_id], ['web', 'Deployment', 'web', 'nginx:1.27', 'docker.io/library/nginx@sha256:1']);
  assert.deepEqual([web.dest_service_name, web.dest_service_namespace, web.dest_service_port, web.dest_service_port_num], ['web', 'shop', 'http', 80]);
  assert.equal(web.source_workload, undefined, 'the host side is no pod');
  const dns = logs.filter((l) => l.dest_port === 53);
  assert.equal(dns.length, 1, 'two curls share one UDP flow log');
  assert.equal(dns[0]!.process_parent_name, '*', 'the parents differ (one unknown)');
  assert.equal(dns[0]!.process_user_name, '*');
  assert.equal(dns[0]!.dest_service_name, undefined);
});

test('process events: pod labels as a map, workload, container name and image; ECS names over exec and exit are copies of both', () => {
  const c = newCache();
  const pod = podWith();
  const e = c.onExec(execEvent(5, 1n * S, '/usr/sbin/nginx', []));
  e.podUid = 'u1';
  e.containerId = 'a'.repeat(64);
  const b = new ProcessEventBuilder('n1', c, new BootClock(), { ...NO_PODS, byUid: () => pod }, { process_ancestors: 0, process_namespaces: false, process_capabilities: false });
  const doc = b.exec(e, 2n * S);
  assert.equal(PROCESS_CONTRACT.validate(doc), null);
  assert.deepEqual(doc.process_exec!.process.pod, {
    namespace: 'shop', name: 'web-7c5d-abc', pod_labels: { app: 'web' }, workload: 'web', workload_kind: 'Deployment',
    container: { id: 'a'.repeat(64), name: 'web', image: { id: 'docker.io/library/nginx@sha256:1', name: 'nginx:1.27' } },
  });
  assert.equal(doc.process_exec!.process.process_credentials?.euid, 1000);
  assert.match(PROCESS_CONTRACT.validate({ ...doc, process_exec: { process: { ...doc.process_exec!.process, pod: { pod_labels: { a: 1 } } } } })!, /pod_labels\.a" must be a string/);
  const copies = ecsCopies(PROCESS_EVENT_FIELDS);
  assert.deepEqual(copies.get('container.name'), ['process_exec.process.pod.container.name', 'process_exit.process.pod.container.name']);
  assert.ok(![...copies.values()].some((paths) => paths.some((f) => f.includes('.parent.') || f.includes('.ancestors.'))), 'the parent and ancestors give no ECS names');
  const props = mappingProperties(PROCESS_EVENT_FIELDS) as Record<string, any>;
  assert.deepEqual(props.process.properties.pid, { type: 'long' }, 'process.pid is a field of its own');
  assert.equal(props.process_exit.properties.process.properties.pid.copy_to, 'process.pid');
  assert.equal(props.event.properties.action.type, 'alias', 'a name one field gives stays an alias');
});
