// The start-of-day /proc scan against a fake proc root: what it reads from each process
// directory, and that a missing, unreadable or unmounted /proc is a ProcflowError that says what
// to mount or to pass --procfs-scan=false, while the agent still starts with the scan off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../agent/agent.js';
import { scanProcesses } from '../../agent/process/procfs.js';
import type { DocSink } from '../../agent/delivery/sink.js';
import { SyntheticCollector } from '../../agent/synthetic.js';
import { ProcflowError, describeError } from '../../common/errors.js';
import type { ProcessEventDoc } from '../../schema/index.js';
import { agentDefaults } from '../../agent/config.js';

const silent = pino({ level: 'silent' });

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-procfs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One process directory as procfs lays it out: stat (22+ fields), cmdline, status, links. */
function fakeProcess(root: string, pid: number, o: { comm: string; ppid: number; startTicks: number; argv: string[]; exe: string; cwd: string }): void {
  const dir = join(root, String(pid));
  mkdirSync(dir);
  // Fields 3.. after "(comm)": state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt,
  // majflt, cmajflt, utime, stime, cutime, cstime, priority, nice, threads, itrealvalue, starttime.
  const after = ['S', o.ppid, pid, pid, 0, -1, 4194304, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 1, 0, o.startTicks, 1000, 10];
  writeFileSync(join(dir, 'stat'), `${pid} (${o.comm}) ${after.join(' ')}\n`);
  writeFileSync(join(dir, 'cmdline'), `${o.argv.join('\0')}\0`);
  writeFileSync(join(dir, 'status'), `Name:\t${o.comm}\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\n`);
  writeFileSync(join(dir, 'cgroup'), '0::/system.slice/fake.service\n');
  symlinkSync(o.exe, join(dir, 'exe'));
  symlinkSync(o.cwd, join(dir, 'cwd'));
}

class MemorySink implements DocSink {
  readonly process: ProcessEventDoc[] = [];
  async write(kind: 'flows' | 'process', docs: Iterable<object>): Promise<number> {
    let n = 0;
    for (const doc of docs) {
      if (kind === 'process') this.process.push(doc as ProcessEventDoc);
      n++;
    }
    return n;
  }
}

const isProcfsError = (root: string, reason: RegExp) => (e: unknown) => {
  assert.ok(e instanceof ProcflowError, `a ProcflowError, got ${String(e)}`);
  assert.equal(e.code, 'PROCFS_UNAVAILABLE');
  assert.ok(e.message.includes(root), 'names the directory');
  assert.match(e.message, reason);
  assert.match(describeError(e), /hint: mount procfs at .*--procfs-scan=false \(PROCFLOW_PROCFS_SCAN=false\)/);
  return true;
};

test('the scan reads path, args, ids, parent, cwd and cgroup of every process directory', (t) => {
  const root = tempDir(t);
  fakeProcess(root, 4242, { comm: 'my prog) x', ppid: 1, startTicks: 500, argv: ['/opt/app/bin/server', '--port', '8080'], exe: '/opt/app/bin/server', cwd: '/srv' });
  mkdirSync(join(root, 'self')); // non-numeric entries are not processes
  writeFileSync(join(root, 'uptime'), '100.00 50.00\n');
  const snaps = scanProcesses(4096, root);
  assert.equal(snaps.length, 1);
  const s = snaps[0]!;
  assert.equal(s.pid, 4242);
  assert.equal(s.ppid, 1);
  assert.equal(s.comm, 'my prog) x', 'comm is cut at the last parenthesis');
  assert.equal(s.exe, '/opt/app/bin/server');
  assert.deepEqual(s.args, ['/opt/app/bin/server', '--port', '8080']);
  assert.equal(s.cwd, '/srv');
  assert.equal(s.uid, 1000);
  assert.equal(s.gid, 100);
  assert.equal(s.cgroupPath, '/system.slice/fake.service');
});

test('a missing /proc is PROCFS_UNAVAILABLE with the mount and --procfs-scan=false hint', (t) => {
  const root = join(tempDir(t), 'proc');
  assert.throws(() => scanProcesses(4096, root), isProcfsError(root, /does not exist/));
});

test('an empty mount point (procfs not mounted) is PROCFS_UNAVAILABLE, not a scan of zero processes', (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'README'), 'not procfs');
  assert.throws(() => scanProcesses(4096, root), isProcfsError(root, /lists no processes/));
});

test('a /proc that cannot be listed (a file in its place) is PROCFS_UNAVAILABLE', (t) => {
  const root = join(tempDir(t), 'proc');
  writeFileSync(root, '');
  assert.throws(() => scanProcesses(4096, root), isProcfsError(root, /ENOTDIR/));
});

test('an unreadable /proc is PROCFS_UNAVAILABLE', async (t) => {
  const root = tempDir(t);
  fakeProcess(root, 7, { comm: 'x', ppid: 1, startTicks: 1, argv: ['/x'], exe: '/x', cwd: '/' });
  chmodSync(root, 0o000);
  if (process.getuid?.() !== 0) {
    try {
      assert.throws(() => scanProcesses(4096, root), isProcfsError(root, /permission denied/));
    } finally {
      chmodSync(root, 0o700); // before the removal registered by tempDir
    }
    return;
  }
  // Root reads a directory whatever its mode: the scan runs as nobody, in a child process.
  const { spawnSync } = await import('node:child_process');
  const module = new URL('../../agent/process/procfs.js', import.meta.url).href;
  const script = `import { scanProcesses } from ${JSON.stringify(module)};
try { scanProcesses(4096, ${JSON.stringify(root)}); console.log('{}'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, hint: e.hint })); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const err = JSON.parse(r.stdout) as { code?: string; message?: string; hint?: string };
  assert.equal(err.code, 'PROCFS_UNAVAILABLE');
  assert.match(err.message ?? '', /permission denied/);
  assert.match(err.hint ?? '', /--procfs-scan=false/);
});

test('the agent: start fails with the hint when the scan cannot run, and starts with procfsScan false', async (t) => {
  const missing = join(tempDir(t), 'proc');
  const failing = new Agent({ collector: new SyntheticCollector(), sink: new MemorySink(), log: silent }, { ...agentDefaults(), node_name: 'n', flush_interval: 3_600_000, attribution_delay: 0, procRoot: missing });
  assert.throws(() => failing.start(), isProcfsError(missing, /does not exist/));
  await failing.stop();

  const sink = new MemorySink();
  const agent = new Agent({ collector: new SyntheticCollector(), sink, log: silent }, { ...agentDefaults(), node_name: 'n', flush_interval: 3_600_000, attribution_delay: 0, procRoot: missing, procfs_scan: false });
  agent.start();
  try {
    assert.equal(agent.stats.scanned, 0);
    assert.ok(agent.healthy());
    await agent.flush();
    assert.equal(agent.stats.flushes, 1, 'intervals are written without /proc');
  } finally {
    await agent.stop();
  }
});

test('the agent with a fake proc root: each process already running gets a process_exec', async (t) => {
  const root = tempDir(t);
  fakeProcess(root, 31337, { comm: 'sleeper', ppid: 1, startTicks: 900, argv: ['/usr/bin/sleep', '1000'], exe: '/usr/bin/sleep', cwd: '/' });
  const sink = new MemorySink();
  const agent = new Agent({ collector: new SyntheticCollector(), sink, log: silent }, { ...agentDefaults(), node_name: 'n', flush_interval: 3_600_000, attribution_delay: 0, procRoot: root, procfsFallback: false });
  agent.start();
  try {
    assert.equal(agent.stats.scanned, 1);
    await agent.flush();
    const exec = sink.process.find((d) => d.process_exec?.process.pid === 31337);
    assert.ok(exec, 'a process_exec for the process found in the fake /proc');
    assert.equal(exec.process_exec!.process.binary, '/usr/bin/sleep');
  } finally {
    await agent.stop();
  }
});

test('a process started through a symlink is named by the path it was started as, like exec events name it', async (t) => {
  const { spawn } = await import('node:child_process');
  const { readProcess } = await import('../../agent/process/procfs.js');
  const dir = tempDir(t);
  const link = join(dir, 'node-link');
  symlinkSync(process.execPath, link);
  const run = (argv0: string) => {
    const child = spawn(link, ['-e', 'setTimeout(() => {}, 10000)'], { argv0, stdio: 'ignore' });
    t.after(() => child.kill('SIGKILL'));
    return child.pid!;
  };
  const viaLink = run(link);
  const renamed = run('worker: idle');
  // /proc shows the parent's image until exec completes: wait for the child's own arguments.
  const { readFileSync } = await import('node:fs');
  for (const pid of [viaLink, renamed]) {
    while (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('setTimeout')) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(readProcess(viaLink, agentDefaults().max_args_size)!.exe, link, 'argv[0] resolves to the same file: the started-as path');
  assert.equal(readProcess(renamed, agentDefaults().max_args_size)!.exe, process.execPath, 'an argv[0] that names no file: the resolved executable');
});
