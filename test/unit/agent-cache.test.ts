import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExitEvent, ForkEvent } from '../../native/types.js';
import { execEvent, exitEvent } from '../../agent/synthetic.js';
import { ProcessCache } from '../../agent/process/process-cache.js';
import { Redactor, MASK } from '../../agent/process/redact.js';
import { execId } from '../../agent/process/exec-id.js';
import { Attributor } from '../../agent/flows/attribution.js';
import { readProcess, readStat } from '../../agent/process/procfs.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { agentDefaults } from '../../agent/config.js';

const S = 1_000_000_000n;
const execEv = execEvent;
const exitEv = (pid: number, startNs: bigint, code = 0): ExitEvent => exitEvent(pid, startNs, code);
const forkEv = (pid: number, startNs: bigint, ppid: number, parentStartNs: bigint): ForkEvent => ({ kind: 'fork', pid, ppid, startNs, timeNs: startNs, comm: 'x', parentStartNs });

const defaults = agentDefaults({ node_name: 'n1' });
const redactor = new Redactor(defaults);
const readSelf = () => readProcess(process.pid, defaults.max_args_size)!;

function cache(now = { t: 0 }, maxEntries = 100) {
  return new ProcessCache({ ...defaults, redactor, cache_max_entries: maxEntries, exit_retention: 1000, now: () => now.t });
}

test('exec_id is stable per process start and matches between kernel ns and procfs ticks', () => {
  const kernelNs = 123_456_789_012n; // start_boottime with sub-tick precision
  const procfsNs = 123_450_000_000n; // the same start as /proc shows it (12345 ticks)
  assert.equal(execId('n1', 42, kernelNs), execId('n1', 42, procfsNs));
  assert.equal(Buffer.from(execId('n1', 42, kernelNs), 'base64').toString(), 'n1:123450000000:42');
  assert.notEqual(execId('n1', 42, kernelNs), execId('n2', 42, kernelNs));
  assert.notEqual(execId('n1', 42, kernelNs), execId('n1', 42, kernelNs + 10_000_000n));
  const c = cache();
  c.onExec(execEv(42, kernelNs, '/usr/bin/curl', ['-s', 'http://x']));
  assert.equal(c.get(42, procfsNs)?.binary, '/usr/bin/curl', 'a procfs start time finds the kernel entry');
});

test('exec redacts arguments once and records parent exec_id; fork inherits; late fork does not overwrite', () => {
  const c = cache();
  const parent = c.onExec(execEv(10, 5n * S, '/bin/bash', []));
  // mysql takes its password glued to -p (a separate word is the database name).
  const e = c.onExec(execEv(11, 6n * S, '/usr/bin/mysql', ['-u', 'root', '-ppw', 'shop'], { ppid: 10, parentStartNs: 5n * S }));
  assert.deepEqual(e.args, ['-u', 'root', `-p${MASK}`, 'shop']);
  assert.equal(e.argsText, `-u root -p${MASK} shop`);
  assert.equal(e.parentExecId, parent.execId);
  assert.equal(c.parentOf(e), parent);
  const child = c.onFork(forkEv(12, 7n * S, 10, 5n * S));
  assert.equal(child.binary, '/bin/bash', 'a forked child runs its parent image');
  assert.deepEqual(child.flags, ['clone']);
  c.onExec(execEv(12, 7n * S, '/usr/bin/ls', ['-la'], { ppid: 10, parentStartNs: 5n * S }));
  const again = c.onFork(forkEv(12, 7n * S, 10, 5n * S)); // reordered fork after exec
  assert.equal(again.binary, '/usr/bin/ls');
  assert.equal(again.source, 'kernel');
});

test('exit before the last flow drain: the entry stays for the retention, then the GC evicts it (counted)', () => {
  const now = { t: 0 };
  const c = cache(now);
  c.onExec(execEv(20, 9n * S, '/usr/bin/wget', ['http://a']));
  c.onExit(exitEv(20, 9n * S, 3));
  now.t = 900;
  assert.equal(c.gc(), 0);
  const e = c.lookup(20, 9n * S);
  assert.equal(e?.binary, '/usr/bin/wget', 'late flows still find the exited process');
  assert.equal(e?.exitCode, 3);
  now.t = 1001;
  assert.equal(c.gc(), 1);
  assert.equal(c.lookup(20, 9n * S), undefined);
  assert.equal(c.stats.evictions.exited, 1);
  assert.equal(c.stats.misses, 1);
});

test('exit of an unknown process makes a task-name entry; pid reuse is a different process', () => {
  const c = cache();
  const e = c.onExit({ ...exitEv(30, 11n * S), comm: 'ghost' });
  assert.equal(e.source, 'taskname');
  assert.equal(e.comm, 'ghost');
  c.onExec(execEv(30, 99n * S, '/usr/bin/new', []));
  assert.equal(c.get(30, 11n * S)?.comm, 'ghost');
  assert.equal(c.get(30, 99n * S)?.binary, '/usr/bin/new');
});

test('the cache is bounded: exited entries go first, then the oldest; evictions are counted', () => {
  const c = cache({ t: 0 }, 3);
  c.onExec(execEv(1, 1n * S, '/a', []));
  c.onExec(execEv(2, 2n * S, '/b', []));
  c.onExit(exitEv(2, 2n * S));
  c.onExec(execEv(3, 3n * S, '/c', []));
  c.onExec(execEv(4, 4n * S, '/d', []));
  assert.equal(c.size, 3);
  assert.equal(c.get(2, 2n * S), undefined, 'the exited entry was evicted first');
  assert.ok(c.get(1, 1n * S));
  c.onExec(execEv(5, 5n * S, '/e', []));
  assert.equal(c.get(1, 1n * S), undefined, 'then the oldest live one');
  assert.equal(c.stats.evictions.capacity, 2);
});

test('the /proc scan never overwrites kernel data, and a scanned process that execs is replaced', () => {
  const c = cache();
  const self = readSelf();
  const scanned = c.onProcfs(self);
  assert.equal(scanned.source, 'procfs');
  assert.equal(scanned.binary, process.execPath);
  c.onExec(execEv(process.pid, self.startNs + 3_000_000n, '/usr/bin/replaced', ['x']));
  assert.equal(c.get(process.pid, self.startNs)?.binary, '/usr/bin/replaced');
  assert.equal(c.get(process.pid, self.startNs)?.execId, scanned.execId, 'same process start, same exec_id');
  c.onProcfs(self);
  assert.equal(c.get(process.pid, self.startNs)?.binary, '/usr/bin/replaced');
});

test('attribution: cache, then /proc for a live process, then the task name', () => {
  const c = cache();
  const at = new Attributor(c, defaults);
  const self = readSelf();
  const live = at.resolve(process.pid, self.startNs + 7_000_000n, 'node');
  assert.equal(live.source, 'procfs');
  assert.equal(live.binary, process.execPath);
  assert.equal(at.procfsHits, 1);
  const gone = at.resolve(process.pid, self.startNs + 10n * S, 'oldname'); // reused pid, other start
  assert.equal(gone.source, 'taskname');
  assert.equal(gone.binary, '');
  assert.deepEqual(gone.args, []);
  assert.equal(gone.comm, 'oldname');
  assert.equal(at.tasknameFallbacks, 1);
  assert.equal(at.resolve(process.pid, self.startNs + 10n * S, 'oldname'), gone, 'a second miss does not re-read /proc');
});

test('redaction knows the program: mysql -pSECRET is masked, ssh -p 22 and tsc -p . are not', async () => {
  const { ProcessCache } = await import('../../agent/process/process-cache.js');
  const { Redactor } = await import('../../agent/process/redact.js');
  const { execEvent } = await import('../../agent/synthetic.js');
  const cache = new ProcessCache({ ...defaults, redactor: new Redactor(defaults) });
  const argsOf = (pid: number, path: string, args: string[]) => cache.onExec(execEvent(pid, BigInt(pid) * 1000n, path, args)).argsText;
  assert.equal(argsOf(1, '/usr/bin/mysql', ['-uroot', '-pS3cret', 'shop']), '-uroot -p***** shop');
  assert.equal(argsOf(2, '/usr/bin/ssh', ['-p', '22', 'host']), '-p 22 host');
  assert.equal(argsOf(3, '/usr/local/bin/tsc', ['-p', '.']), '-p .');
});

test('without exec events a forked child is never named with its parent\'s image: /proc while alive, the task name once gone', async () => {
  const blind = new ProcessCache({ ...defaults, redactor, cache_max_entries: 100, exit_retention: 1000, execSeen: false });
  const attributor = new Attributor(blind, { ...defaults, execSeen: false });
  const parent = blind.onProcfs(readSelf());
  // A real child that exec'd python3 (node spawns with fork+exec); the kernel only told of the fork.
  const child = spawn('/usr/bin/python3', ['-c', 'import time; time.sleep(30)', 'blind-exec'], { stdio: 'ignore' });
  await once(child, 'spawn');
  try {
    let stat = readStat(child.pid!);
    for (let i = 0; i < 50 && !(stat && stat.comm === 'python3'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      stat = readStat(child.pid!);
    }
    const start = stat!.startNs;
    const forked = blind.onFork(forkEv(child.pid!, start, process.pid, parent.startNs));
    assert.equal(forked.binary, '', 'the fork alone does not name the child with node');
    assert.equal(forked.source, 'taskname');
    const named = attributor.resolve(child.pid!, start, 'python3');
    assert.match(named.binary, /python3/);
    assert.deepEqual(named.args.slice(-1), ['blind-exec']);
    assert.equal(named.source, 'procfs');
    // Gone before its flow was flushed: the task name the kernel saw, never node's path.
    const gonePid = 4_000_000 + (process.pid % 1000);
    blind.onFork(forkEv(gonePid, 77n * S, process.pid, parent.startNs));
    const gone = attributor.resolve(gonePid, 77n * S, 'curl');
    assert.equal(gone.binary, '');
    assert.equal(gone.comm, 'curl');
    assert.equal(gone.source, 'taskname');
  } finally {
    child.kill('SIGKILL');
  }
  // With exec events seen, a fork without exec runs its parent's image (unchanged behaviour).
  const seeing = cache();
  const p2 = seeing.onProcfs(readSelf());
  assert.equal(seeing.onFork(forkEv(4_100_000, 5n * S, process.pid, p2.startNs)).binary, p2.binary);
});
