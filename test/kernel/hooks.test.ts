// Hook selection, the kprobe programs' verification, clean detach, and the errors without
// privileges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openHarness, requireKernel } from '../support/kernel.js';
import { notApplicable, skipOrFail } from '../support/environment.js';
import { enableRunTimeStats, openKernelCollector } from '../../native/index.js';

const HOOKS = ['exec', 'fork', 'exit', 'tcp_send', 'udp_send', 'tcp_recv', 'udp_recv', 'tcp_state', 'udp_peer', 'dns'];

/** BPF objects in the kernel whose names start with pf_ (or procflow.), by id. */
function ours(kind: 'prog' | 'map'): Map<number, string> {
  const out = execFileSync('bpftool', ['-j', kind, 'show'], { encoding: 'utf8' });
  const list = JSON.parse(out) as { id: number; name?: string }[];
  return new Map(list.filter((x) => x.name && /^(pf_|procflo)/.test(x.name)).map((x) => [x.id, x.name!]));
}

test('auto mode attaches every hook and says why', (t) => {
  if (!requireKernel(t)) return;
  const h = openHarness(t);
  const byHook = new Map(h.collector.hooks.map((r) => [r.hook, r]));
  for (const name of HOOKS) {
    const r = byHook.get(name);
    assert.ok(r, `report for ${name}`);
    // Function hooks (fentry, kprobe) read UDP peers from the msghdr: no peer hooks needed.
    const peersFromCall = ['fentry', 'kprobe'].includes(byHook.get('udp_send')?.via ?? '');
    if (name === 'udp_peer' && peersFromCall) {
      assert.equal(r.via, 'none');
      assert.match(r.reason, /not needed/);
      continue;
    }
    assert.notEqual(r.via, 'none', `${name} attached (${r.reason})`);
    assert.ok(r.target && r.reason, `${name} names its target and reason`);
  }
  const attached = h.collector.programs().filter((p) => p.attached).map((p) => p.name);
  assert.ok(attached.includes('pf_tpb_exec') || attached.includes('pf_tp_exec'));
});

test('a profiler\'s signals during the load do not cost a hook (the verifier gives up on a pending signal)', (t) => {
  if (!requireKernel(t)) return;
  const h = openHarness(t);
  const expected = Object.fromEntries(h.collector.hooks.map((r) => [r.hook, r.via]));
  h.collector.close();
  // V8's sampling profiler signals the main thread every 100 µs while the programs load.
  const native = fileURLToPath(new URL('../../native/index.js', import.meta.url));
  const script = `const { openKernelCollector } = await import(${JSON.stringify(native)}); const c = openKernelCollector(); process.stdout.write(JSON.stringify(Object.fromEntries(c.hooks.map((r) => [r.hook, r.via])))); c.close();`;
  const dir = mkdtempSync(join(tmpdir(), 'procflow-prof-'));
  try {
    const out = execFileSync(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', dir, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    assert.deepEqual(JSON.parse(out), expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Where cgroup v2 is mounted (/sys/fs/cgroup preferred), or null. */
function cgroup2Root(): string | null {
  const found = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup2')
    .map((f) => f[1]!);
  return found.includes('/sys/fs/cgroup') ? '/sys/fs/cgroup' : (found[0] ?? null);
}

/** Names of the programs attached to the cgroup (bpftool cgroup show). */
function cgroupProgs(path: string): string[] {
  const out = execFileSync('bpftool', ['-j', 'cgroup', 'show', path], { encoding: 'utf8' }).trim();
  return out ? (JSON.parse(out) as { name?: string }[]).map((p) => p.name ?? '') : [];
}

test('unconnected UDP peers come from cgroup sock_addr links on the cgroup v2 root, gone after close', (t) => {
  if (!requireKernel(t)) return;
  const root = cgroup2Root();
  if (!root) return skipOrFail(t, 'no cgroup v2 hierarchy mounted');
  const before = cgroupProgs(root);
  const c = openKernelCollector();
  try {
    const peer = c.hooks.find((r) => r.hook === 'udp_peer')!;
    const send = c.hooks.find((r) => r.hook === 'udp_send')!;
    if (send.via === 'fentry' || send.via === 'kprobe') {
      // Function hooks read the peer from the call's msghdr: no peer hooks are needed.
      assert.equal(peer.via, 'none', peer.reason);
      assert.match(peer.reason, /not needed/);
      return notApplicable(t, `udp_send via ${send.via} reads peers from the msghdr (no 6.3 sock_send_length tracepoint)`);
    }
    assert.equal(peer.via, 'cgroup', peer.reason);
    assert.ok(peer.target.endsWith(` on ${root}`), peer.target);
    const attached = cgroupProgs(root).filter((n) => n.startsWith('pf_cg_')).sort();
    assert.deepEqual(attached, ['pf_cg_recv4', 'pf_cg_recv6', 'pf_cg_send4', 'pf_cg_send6']);
    // No syscall tracepoint on the way: that slow path is what the cgroup hooks avoid.
    assert.ok(!c.programs().some((p) => p.name.startsWith('pf_sc_')));
  } finally {
    c.close();
  }
  assert.deepEqual(cgroupProgs(root), before, 'cgroup programs left after close');
});

test('udpPeers: false leaves the peer hooks (cgroup and syscall) out and says so', (t) => {
  if (!requireKernel(t)) return;
  const h = openHarness(t, { udpPeers: false });
  const peer = h.collector.hooks.find((r) => r.hook === 'udp_peer')!;
  assert.equal(peer.via, 'none');
  assert.match(peer.reason, /udpPeers: false/);
  assert.ok(!h.collector.programs().some((p) => p.name.startsWith('pf_sc_') || p.name.startsWith('pf_cg_')));
});

test('kprobe programs pass the verifier; where kprobes cannot attach the hooks say so', (t) => {
  if (!requireKernel(t)) return;
  const h = openHarness(t, { hookMode: 'kprobe' });
  const loaded = new Set(h.collector.programs().map((p) => p.name));
  for (const p of ['pf_kp_tcp_send', 'pf_kr_tcp_send', 'pf_kp_tcp_rbuf', 'pf_kp_udp_send', 'pf_kp_udp6_send', 'pf_kp_udp_recv', 'pf_kr_udp_recv', 'pf_kp_udp6_recv', 'pf_kr_udp6_recv']) {
    assert.ok(loaded.has(p), `${p} loaded (verified)`);
  }
  const inKernel = new Set(ours('prog').values());
  assert.ok(inKernel.has('pf_kp_tcp_send'), 'bpftool sees the kprobe programs');
  const probe = h.collector.hooks.find((r) => r.hook === 'tcp_send')!;
  const kprobesAttachable = probe.via === 'kprobe';
  if (!kprobesAttachable) {
    assert.equal(probe.via, 'none');
    assert.match(probe.reason, /kprobe/);
  }
  // Process hooks have no kprobe flavour and still work.
  assert.notEqual(h.collector.hooks.find((r) => r.hook === 'exec')!.via, 'none');
});

test('programs() has kernel ids, and run counts and times while enableRunTimeStats() holds them on', (t) => {
  if (!requireKernel(t)) return;
  const h = openHarness(t);
  const exec = () => h.collector.programs().find((p) => p.attached && /^pf_tpb?_exec$/.test(p.name))!;
  assert.ok(exec(), 'an exec program is attached');
  assert.ok(exec().id! > 0 && ours('prog').get(exec().id!) === exec().name, 'its id is the one bpftool shows');
  const stats = enableRunTimeStats();
  let on: { runs: number; ns: number };
  try {
    const before = exec();
    for (let i = 0; i < 3; i++) spawnSync('/bin/true');
    const after = exec();
    on = { runs: after.runCount! - before.runCount!, ns: after.runTimeNs! - before.runTimeNs! };
  } finally {
    stats.close();
  }
  assert.ok(on.runs >= 3, `the exec program counted the 3 execs while on (${on.runs})`);
  assert.ok(on.ns > 0, 'and the time they took');
  // Off again once closed, unless someone turned the sysctl on for the whole host.
  if (readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() === '0') {
    const before = exec().runCount!;
    spawnSync('/bin/true');
    assert.equal(exec().runCount, before, 'no runs counted after close()');
  }
});

test('close() detaches: no program or map of this collector is left', async (t) => {
  if (!requireKernel(t)) return;
  const beforeProgs = ours('prog');
  const beforeMaps = ours('map');
  const c = openKernelCollector();
  c.start(() => {});
  const mineProgs = [...ours('prog').keys()].filter((id) => !beforeProgs.has(id));
  const mineMaps = [...ours('map').keys()].filter((id) => !beforeMaps.has(id));
  assert.ok(mineProgs.length >= 8, `programs loaded: ${mineProgs.length}`);
  assert.ok(mineMaps.length >= 6, `maps created: ${mineMaps.length}`);
  c.close();
  c.close(); // idempotent
  // The kernel frees them after an RCU grace period.
  let leftProgs: number[] = [];
  let leftMaps: number[] = [];
  for (let i = 0; i < 40; i++) {
    const p = ours('prog');
    const m = ours('map');
    leftProgs = mineProgs.filter((id) => p.has(id));
    leftMaps = mineMaps.filter((id) => m.has(id));
    if (!leftProgs.length && !leftMaps.length) break;
    await delay(100);
  }
  assert.deepEqual(leftProgs, [], 'programs left after close');
  assert.deepEqual(leftMaps, [], 'maps left after close');
  assert.throws(() => c.drainFlows(), /after close/);
});

test('process exit detaches too (no close() call)', async (t) => {
  if (!requireKernel(t)) return;
  const index = fileURLToPath(new URL('../../native/index.js', import.meta.url));
  const script = `
    import { openKernelCollector } from ${JSON.stringify(index)};
    import { execFileSync } from 'node:child_process';
    const c = openKernelCollector();
    c.start(() => {});
    const ids = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' }))
      .filter((p) => p.name === 'pf_tpb_exec' || p.name === 'pf_tp_exec').map((p) => p.id);
    console.log(JSON.stringify(ids));
  `;
  const before = new Set(ours('prog').keys());
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const theirs = (JSON.parse(r.stdout.trim()) as number[]).filter((id) => !before.has(id));
  assert.ok(theirs.length >= 1);
  let left = theirs;
  for (let i = 0; i < 40 && left.length; i++) {
    await delay(100);
    const now = ours('prog');
    left = theirs.filter((id) => now.has(id));
  }
  assert.deepEqual(left, []);
});

test('without privileges opening fails with a typed error naming what is needed', (t) => {
  if (!requireKernel(t)) return;
  const index = fileURLToPath(new URL('../../native/index.js', import.meta.url));
  const script = `
    import { openKernelCollector, KernelSupportError } from ${JSON.stringify(index)};
    try { openKernelCollector(); console.log('opened'); }
    catch (e) { console.log(JSON.stringify({ typed: e instanceof KernelSupportError, name: e.name, message: e.message, hint: e.hint, missing: e.missing })); }
  `;
  // nobody, no capabilities.
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: '/',
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { typed: boolean; message: string; hint: string; missing: string[] };
  assert.equal(out.typed, true);
  assert.match(out.message, /root or CAP_BPF\+CAP_PERFMON/);
  assert.ok(out.missing.includes('root or CAP_BPF+CAP_PERFMON'));
  assert.match(out.hint, /root|capabilit/);
});
