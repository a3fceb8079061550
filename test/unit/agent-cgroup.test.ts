// Container and pod attribution from cgroup paths, on pure v2 and hybrid (v1 + v2) hosts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupResolver, cgroup2Mount, cgroupPathFromProcFile, containerIdFromCgroupPath, podUidFromCgroupPath } from '../../agent/process/cgroup.js';
import { ProcessCache } from '../../agent/process/process-cache.js';
import { Redactor } from '../../agent/process/redact.js';
import { execEvent } from '../../agent/synthetic.js';
import { agentDefaults } from '../../agent/config.js';

const ID = 'a'.repeat(64);
const UID = '0f3c2a8e-1b2c-4d5e-8f90-123456789abc';

test('runtimes name containers and pods in their cgroup paths', () => {
  assert.equal(containerIdFromCgroupPath(`/system.slice/docker-${ID}.scope`), ID);
  assert.equal(containerIdFromCgroupPath(`/kubepods/burstable/pod${UID}/${ID}`), ID);
  const systemd = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID.replaceAll('-', '_')}.slice/cri-containerd-${ID}.scope`;
  assert.equal(containerIdFromCgroupPath(systemd), ID);
  assert.equal(podUidFromCgroupPath(systemd), UID);
  assert.equal(containerIdFromCgroupPath('/user.slice/user-1000.slice/session-2.scope'), undefined);
});

test('/proc/<pid>/cgroup: v2 wins on v2 hosts; on hybrid hosts a v1 container path beats a bare v2 "/"', () => {
  assert.equal(cgroupPathFromProcFile(`0::/system.slice/docker-${ID}.scope\n`), `/system.slice/docker-${ID}.scope`);
  const hybrid = `12:memory:/docker/${ID}\n11:cpu,cpuacct:/docker/${ID}\n1:name=systemd:/docker/${ID}\n0::/\n`;
  assert.equal(cgroupPathFromProcFile(hybrid), `/docker/${ID}`);
  assert.equal(cgroupPathFromProcFile('4:memory:/user.slice\n0::/init.scope\n'), '/init.scope', 'no container anywhere: the v2 path');
  assert.equal(cgroupPathFromProcFile('4:memory:/user.slice\n3:cpu:/\n'), '/user.slice', 'v1 only: the first path');
});

test('the cgroup v2 mount is found on pure and hybrid hosts', () => {
  const pure = '30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n';
  assert.equal(cgroup2Mount(pure), '/sys/fs/cgroup');
  const hybrid = [
    '30 24 0:26 / /sys/fs/cgroup ro,nosuid shared:4 - tmpfs tmpfs ro,mode=755',
    '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:5 - cgroup2 cgroup2 rw,nsdelegate',
    '33 30 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:7 - cgroup cgroup rw,memory',
  ].join('\n');
  assert.equal(cgroup2Mount(hybrid), '/sys/fs/cgroup/unified');
  assert.equal(cgroup2Mount('33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n'), undefined);
});

test('cgroup ids resolve to paths under the v2 root only', () => {
  const root = mkdtempSync(join(tmpdir(), 'procflow-cgroup-'));
  const leaf = join(root, 'kubepods.slice', `kubepods-pod${UID.replaceAll('-', '_')}.slice`, `cri-containerd-${ID}.scope`);
  mkdirSync(leaf, { recursive: true });
  const r = new CgroupResolver(root, 0);
  const path = r.resolve(BigInt(statSync(leaf).ino))!;
  assert.equal(podUidFromCgroupPath(path), UID);
  assert.equal(containerIdFromCgroupPath(path), ID);
  assert.equal(new CgroupResolver(undefined).resolve(5n), undefined, 'no v2 mount: nothing resolves');
});

test('exec keeps the container inherited at fork when the v2 path names none (hybrid hosts)', () => {
  const paths = new Map<bigint, string>([[1n, '/'], [2n, `/system.slice/docker-${ID}.scope`], [3n, '/user.slice']]);
  const c = agentDefaults({ node_name: 'n1' });
  const cache = new ProcessCache({ ...c, redactor: new Redactor(c), cgroupPath: (id) => paths.get(id) });
  cache.onExec(execEvent(10, 100n, '/usr/bin/containerd-shim', [], { cgroupId: 2n }));
  assert.equal(cache.get(10, 100n)!.containerId, ID);
  cache.onFork({ kind: 'fork', pid: 11, ppid: 10, startNs: 200n, parentStartNs: 100n, timeNs: 200n, comm: 'sh' });
  cache.onExec(execEvent(11, 200n, '/bin/app', [], { cgroupId: 1n, ppid: 10, parentStartNs: 100n }));
  assert.equal(cache.get(11, 200n)!.containerId, ID, 'the v2 "/" does not take the container away');
  cache.onExec(execEvent(12, 300n, '/bin/ls', [], { cgroupId: 3n }));
  assert.equal(cache.get(12, 300n)!.cgroupPath, '/user.slice');
  assert.equal(cache.get(12, 300n)!.containerId, '');
});
