// The exec path's shortcuts (issue 14, item 2) give what the long way gave: ISO times per minute,
// decoded records that share repeated strings and objects, image records reused only while
// unchanged (and serialised once), cgroup identities remembered, exec ids and cache keys made
// without a Buffer or a bigint division each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvents } from '../../native/decode.js';
import { LAYOUT, PF_EVENT_EXEC, PF_EVENT_EXIT, PF_EVENT_FORK, pad8 } from '../../native/layout.js';
import type { ExecEvent, ExitEvent, ForkEvent } from '../../native/types.js';
import { BootClock, IsoTime } from '../../agent/process/clock.js';
import { CgroupIdentities, containerIdFromCgroupPath, podUidFromCgroupPath } from '../../agent/process/cgroup.js';
import { ProcessCache } from '../../agent/process/process-cache.js';
import { ProcessEventBuilder } from '../../agent/process/process-events.js';
import { Redactor } from '../../agent/process/redact.js';
import { UserNames } from '../../agent/process/user-names.js';
import { NO_PODS } from '../../agent/identity/pod-lookup.js';
import { agentDefaults } from '../../agent/config.js';
import { execEvent, exitEvent } from '../../agent/synthetic.js';
import { prng } from '../support/prng.js';
import { docJson, isShared } from '../../common/doc-json.js';
import { HeldJson } from '../../agent/delivery/held-lines.js';
import { writerFor } from '../../agent/delivery/sink.js';
import { execId, imageExecId, processKey } from '../../agent/process/exec-id.js';
import { NS_PER_TICK, startTickNs } from '../../agent/process/clock.js';

const H = LAYOUT.pf_event_header.offsets;
const X = LAYOUT.pf_exec_event.offsets;

test('IsoTime gives what Date#toISOString gives: within a minute, across minutes, days and years, and outside 0000-9999', () => {
  const iso = new IsoTime();
  const rnd = prng(14);
  const times: number[] = [0, -1, 59_999, 60_000, 60_001, -60_000, -60_001, Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), 253_402_300_799_999, 253_402_300_800_000, -62_167_219_200_000, -62_167_219_200_001];
  let t = Date.UTC(2026, 11, 6, 21, 0, 0, 0);
  for (let i = 0; i < 20_000; i++) {
    // Mostly close together (as documents are), sometimes a jump back or far ahead.
    t += rnd() < 0.9 ? Math.floor(rnd() * 50) : Math.floor((rnd() - 0.3) * 10_000_000);
    times.push(t);
  }
  for (const ms of times) assert.equal(iso.format(ms), new Date(ms).toISOString(), `epoch ms ${ms}`);
  for (const ms of [1.5, -0.5, 1e15]) assert.equal(iso.format(ms), new Date(ms).toISOString(), `epoch ms ${ms}`);
  assert.throws(() => iso.format(NaN), RangeError);
  assert.throws(() => iso.format(9e15), RangeError);
});

/** One exec record as the kernel writes it (trimmed after args, as the poller hands it over). */
function execRecord(p: { pid: number; startNs: bigint; comm: string; filename: string; cwd: string; args: string[]; uid: number; capEffective?: bigint; ns?: number }): Buffer {
  const args = Buffer.from(`${p.args.join('\0')}\0`);
  const size = X.args + args.length;
  const b = Buffer.alloc(pad8(size));
  b.writeUInt32LE(PF_EVENT_EXEC, H.kind);
  b.writeUInt32LE(size, H.size);
  b.writeBigUInt64LE(p.startNs + 5n, H.time_ns);
  b.writeUInt32LE(p.pid, H.pid);
  b.writeUInt32LE(1, H.ppid);
  b.writeBigUInt64LE(p.startNs, H.start_ns);
  b.write(p.comm, H.comm);
  b.writeBigUInt64LE(7n, X.parent_start_ns);
  b.writeBigUInt64LE(99n, X.cgroup_id);
  for (const [i, f] of (['uid', 'gid', 'euid', 'egid', 'suid', 'sgid', 'fsuid', 'fsgid'] as const).entries()) b.writeUInt32LE(p.uid + i, X[f]);
  b.writeUInt32LE(p.uid, X.auid);
  b.writeBigUInt64LE(p.capEffective ?? 0n, X.cap_effective);
  if (p.ns) b.writeUInt32LE(p.ns, X.ns);
  b.writeUInt32LE(args.length, X.args_len);
  b.writeUInt16LE(b.write(p.filename, X.filename), X.filename_len);
  b.writeUInt16LE(b.write(p.cwd, X.cwd), X.cwd_len);
  args.copy(b, X.args);
  return b;
}

function smallRecord(kind: number, pid: number, comm: string, extra: (b: Buffer) => void): Buffer {
  const b = Buffer.alloc(56);
  b.writeUInt32LE(kind, H.kind);
  b.writeUInt32LE(56, H.size);
  b.writeUInt32LE(pid, H.pid);
  b.writeUInt32LE(1, H.ppid);
  b.writeBigUInt64LE(BigInt(pid) * 1000n, H.start_ns);
  b.write(comm, H.comm);
  extra(b);
  return b;
}

test('decodeEvents: records in a row that repeat strings and credentials share them, and each record still says its own', () => {
  const same = { comm: 'true', filename: '/bin/true', cwd: '/tmp', args: ['/bin/true'], uid: 1000 };
  const batch = Buffer.concat([
    smallRecord(PF_EVENT_FORK, 10, 'loadgen', (b) => b.writeBigUInt64LE(7n, LAYOUT.pf_fork_event.offsets.parent_start_ns)),
    execRecord({ pid: 10, startNs: 10_000n, ...same }),
    smallRecord(PF_EVENT_EXIT, 10, 'true', (b) => b.writeUInt32LE(3, LAYOUT.pf_exit_event.offsets.exit_code)),
    execRecord({ pid: 11, startNs: 11_000n, ...same }),
    execRecord({ pid: 12, startNs: 12_000n, comm: 'tru', filename: '/bin/tru', cwd: '/', args: ['tru', 'x'], uid: 0, capEffective: 1n << 21n, ns: 4026531835 }),
    execRecord({ pid: 13, startNs: 13_000n, comm: 'true', filename: 'true', cwd: '/tmp', args: [], uid: 1000 }),
  ]);
  const [fork, a, exit, b, c, d] = decodeEvents(batch) as [ForkEvent, ExecEvent, ExitEvent, ExecEvent, ExecEvent, ExecEvent];
  assert.deepEqual(fork, { kind: 'fork', pid: 10, ppid: 1, startNs: 10_000n, timeNs: 0n, comm: 'loadgen', parentStartNs: 7n });
  assert.deepEqual(exit, { kind: 'exit', pid: 10, ppid: 1, startNs: 10_000n, timeNs: 0n, comm: 'true', exitCode: 3, signal: 0 });
  assert.deepEqual(a, {
    kind: 'exec', pid: 10, ppid: 1, startNs: 10_000n, timeNs: 10_005n, comm: 'true', uid: 1000, gid: 1001, parentStartNs: 7n, cgroupId: 99n,
    filename: '/bin/true', args: ['/bin/true'], argsTruncated: false, cwd: '/tmp', errorFlags: 0,
    creds: { uid: 1000, gid: 1001, euid: 1002, egid: 1003, suid: 1004, sgid: 1005, fsuid: 1006, fsgid: 1007 }, auid: 1000,
    caps: { permitted: 0n, effective: 0n, inheritable: 0n },
  });
  assert.equal('ns' in a, false, 'no namespaces read: no ns key');
  assert.deepEqual({ ...b, pid: 10, startNs: 10_000n, timeNs: 10_005n }, a);
  assert.equal(b.creds, a.creds, 'the same credentials: one object');
  assert.equal(b.caps, a.caps);
  assert.equal(c.comm, 'tru');
  assert.equal(c.filename, '/bin/tru');
  assert.equal(c.cwd, '/');
  assert.deepEqual(c.args, ['tru', 'x']);
  assert.deepEqual(c.creds, { uid: 0, gid: 1, euid: 2, egid: 3, suid: 4, sgid: 5, fsuid: 6, fsgid: 7 });
  assert.equal(c.caps.effective, 1n << 21n);
  assert.equal(c.ns?.uts, 4026531835);
  assert.equal(d.filename, '/tmp/true', 'a relative name is anchored at the cwd');
  assert.deepEqual(d.creds, a.creds);
  assert.notEqual(d.creds, c.creds);
});

test('decodeEvents: a repeated text is reused only when every byte repeats, short or long; a full task name has no NUL', () => {
  const long = `/opt/${'x'.repeat(80)}/bin/tool`;
  const longOther = `${long.slice(0, -1)}L`;
  const full = 'abcdefghijklmnop'; // 16 bytes: the kernel's task name buffer, no NUL left
  const rec = (pid: number, comm: string, filename: string) => execRecord({ pid, startNs: BigInt(pid) * 1000n, comm, filename, cwd: '/tmp', args: [], uid: 1 });
  const evs = decodeEvents(Buffer.concat([
    rec(1, 'true', long), rec(2, 'trux', long), rec(3, 'trux', longOther), rec(4, full, longOther), rec(5, 'true', long),
  ])) as ExecEvent[];
  assert.deepEqual(evs.map((e) => e.comm), ['true', 'trux', 'trux', full, 'true']);
  assert.deepEqual(evs.map((e) => e.filename), [long, long, longOther, longOther, long]);
  assert.equal(evs[1]!.filename, evs[0]!.filename);
  assert.equal(evs[2]!.comm, evs[1]!.comm);
});

test('process documents: an image record is shared while the image is unchanged and made again when it changes', () => {
  const o = agentDefaults({ node_name: 'n1' });
  const cache = new ProcessCache({ ...o, redactor: new Redactor(o), exit_retention: 60_000 });
  const names = { uid: new Map([[1000, 'alice']]) };
  const userNames = { nameOf: (uid: number) => names.uid.get(uid) ?? String(uid) } as unknown as UserNames;
  const b = new ProcessEventBuilder('n1', cache, new BootClock(0), NO_PODS, { process_ancestors: 0, process_namespaces: false, process_capabilities: false, userNames });
  const parent = cache.onExec(execEvent(100, 100_000_000_000n, '/usr/bin/loadgen', ['exec']));
  const kids = [101, 102].map((pid) => cache.onExec(execEvent(pid, BigInt(pid) * 1_000_000_000n, '/bin/true', [], { ppid: 100, parentStartNs: 100_000_000_000n })));
  const e1 = b.exec(kids[0]!, 1n);
  const e2 = b.exec(kids[1]!, 2n);
  assert.equal(e1.process_exec!.parent, e2.process_exec!.parent, 'one parent record for both children');
  const x1 = b.exit(cache.onExit(exitEvent(101, 101_000_000_000n, 0)), 3n);
  assert.equal(x1.process_exit!.process, e1.process_exec!.process, 'exec and exit share the record');
  const expected = (doc: object) => JSON.parse(JSON.stringify(doc)) as { binary: string };
  // A change of what the record says: a new record, with the new values.
  names.uid.set(1000, 'bob');
  const e3 = b.exec(kids[1]!, 4n);
  assert.notEqual(e3.process_exec!.parent, e2.process_exec!.parent);
  assert.equal(e3.process_exec!.parent!.user?.name, 'bob');
  assert.equal(e2.process_exec!.parent!.user?.name, 'alice', 'documents already made keep what they said');
  parent.cwd = '/srv';
  const e4 = b.exec(kids[1]!, 5n);
  assert.equal(e4.process_exec!.parent!.cwd, '/srv');
  cache.onExec(execEvent(100, 100_000_000_000n, '/usr/bin/other', ['x'], { timeNs: 100_500_000_000n }));
  const e5 = b.exec(kids[1]!, 6n);
  assert.equal(e5.process_exec!.parent!.binary, '/usr/bin/other', 'a new image of the parent: a new record');
  assert.equal(expected(e1.process_exec!.parent!).binary, '/usr/bin/loadgen');
  const again = cache.onExec(execEvent(102, 102_000_000_000n, '/bin/false', ['-x']));
  assert.equal(b.exec(again, 7n).process_exec!.process.binary, '/bin/false');
});

test('docJson gives what JSON.stringify gives, with shared records written from their kept text', () => {
  const o = agentDefaults({ node_name: 'n1' });
  const cache = new ProcessCache({ ...o, redactor: new Redactor(o), exit_retention: 60_000 });
  const b = new ProcessEventBuilder('n1', cache, new BootClock(0), NO_PODS);
  cache.onExec(execEvent(100, 100_000_000_000n, '/usr/bin/loadgen', ['exec', 'a "quoted" \\ arg', 'ünï']));
  const docs: object[] = [];
  for (const pid of [101, 102, 103]) {
    const kid = cache.onExec(execEvent(pid, BigInt(pid) * 1_000_000_000n, '/bin/true', ['x'], { ppid: 100, parentStartNs: 100_000_000_000n }));
    docs.push(b.exec(kid, BigInt(pid)));
    docs.push(b.exit(cache.onExit(exitEvent(pid, BigInt(pid) * 1_000_000_000n, pid === 102 ? 1 : 0)), BigInt(pid) + 1n));
  }
  // An exit of a process never seen: a task-name record, not shared.
  docs.push(b.exit(cache.onExit(exitEvent(999, 999_000_000_000n, 0)), 1000n));
  for (const doc of docs) {
    assert.equal(docJson(doc), JSON.stringify(doc));
    assert.equal(docJson(doc), JSON.stringify(doc), 'again, from the kept text');
  }
  // The mark is no member: copies of a shared record are not shared (they may be changed).
  const record = (docs[0] as { process_exec: { process: object } }).process_exec.process;
  assert.ok(isShared(record));
  assert.equal(isShared({ ...record }), false);
  assert.deepEqual(Object.keys({ ...record }), Object.keys(record));
  // What JSON.stringify leaves out or writes its own way, at every level.
  const odd = {
    a: undefined, b: () => 1, c: Symbol('s'), d: [1, undefined, 'x'], e: new Date(0), f: { toJSON: () => 'j' }, g: NaN, h: -0,
    i: { j: undefined, k: { l: [{ m: 1 }] }, n: null, o: Object.create(null) as object }, 'p"q': 'r\n', 1: 'first',
  };
  assert.equal(docJson(odd), JSON.stringify(odd));
  assert.equal(docJson([1, { a: 2 }]), JSON.stringify([1, { a: 2 }]));
  assert.equal(docJson({ toJSON: () => ({ x: 1 }) }), JSON.stringify({ toJSON: () => ({ x: 1 }) }));
  // Values the byte writer handles itself, at the edges of its fast paths.
  const edges = {
    ascii: 'x'.repeat(128), long: `${'y'.repeat(129)}"`, quote: 'a"b', backslash: 'a\\b', tab: 'a\tb', del: 'a\x7fb', nul: 'a\0b',
    accents: 'héllo', emoji: '😀', lone: '\ud800x', empty: '',
    ints: [0, 9, 10, 4294967295, 4294967296, Number.MAX_SAFE_INTEGER, -1, -0, 0.5, 1e21, 1e-7, Infinity, -Infinity],
    nested: JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`) as object, bool: [true, false, null], sparse: [, 1] as unknown[],
  };
  assert.equal(docJson(edges), JSON.stringify(edges));
  // What JSON.stringify refuses is refused the same way.
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.throws(() => docJson(cyclic), TypeError);
  assert.throws(() => docJson({ n: 1n }), TypeError);
  // Held as lines: the bytes of each document's JSON and a newline, in order.
  const held = new HeldJson(writerFor('process'));
  for (const doc of [...docs, edges]) held.add(doc);
  held.add(cyclic);
  const taken = held.take();
  assert.equal(taken.lines, docs.length + 1);
  assert.equal(Buffer.concat(taken.blocks).toString(), [...docs, edges].map((d) => `${JSON.stringify(d)}\n`).join(''));
  assert.ok(taken.failed instanceof TypeError, 'the document that cannot be written fails the write, the others are held');
});

test('exec ids and cache keys are what Buffer base64 and the bigint division give', () => {
  const rnd = prng(7);
  for (const node of ['n1', 'ab', 'abc', 'node-1.example.com', 'nöde-ü', '日本', '']) {
    for (let i = 0; i < 2000; i++) {
      const pid = Math.floor(rnd() * 4_194_304);
      const ns = BigInt(Math.floor(rnd() * 1e15)) * BigInt(1 + (i % 7));
      assert.equal(execId(node, pid, ns), Buffer.from(`${node}:${startTickNs(ns)}:${pid}`).toString('base64'));
      assert.equal(imageExecId(node, pid, ns), Buffer.from(`${node}:${ns}:${pid}`).toString('base64'));
      // Start ticks modulo 2^31 above the pid's 22 bits: exact integers, so equal only for equal pairs.
      const key = (ticks: bigint) => Number((ticks % 2n ** 31n) * 2n ** 22n + BigInt(pid));
      assert.equal(processKey(pid, ns), key(ns / NS_PER_TICK));
      assert.ok(Number.isSafeInteger(processKey(pid, ns)));
      assert.equal(processKey(pid, ns), key(ns / NS_PER_TICK), 'again, from the recent keys');
      assert.equal(processKey(pid, ns + NS_PER_TICK), key(ns / NS_PER_TICK + 1n), 'the same pid, a later start');
      assert.notEqual(processKey(pid, ns), processKey(pid ^ 1, ns), 'another pid, the same start');
    }
  }
  // Past 2^31 ticks of uptime (248 days at 100 a second) the ticks wrap and keys stay exact.
  assert.equal(processKey(4_194_303, (2n ** 31n + 3n) * NS_PER_TICK), 3 * 2 ** 22 + 4_194_303);
});

test('CgroupIdentities: the container and pod of a path, as the functions say, bounded', () => {
  const ids = new CgroupIdentities(2);
  const paths = [
    '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e3d4c_5b6a_7980_a1b2_c3d4e5f60718.slice/cri-containerd-' + 'a'.repeat(64) + '.scope',
    '/system.slice/docker-' + 'b'.repeat(64) + '.scope',
    '/user.slice/user-0.slice/session-1.scope',
  ];
  for (let round = 0; round < 2; round++) {
    for (const p of paths) assert.deepEqual(ids.of(p), { containerId: containerIdFromCgroupPath(p) ?? '', podUid: podUidFromCgroupPath(p) ?? '' });
  }
  assert.equal(ids.of(paths[0]!).podUid, '1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718');
});
