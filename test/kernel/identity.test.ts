// Who is behind a flow, on the real kernel, through the whole agent (`procflow agent --output
// ndjson`): exec ids as Tetragon gives them (a new one after an exec without fork, whose parent
// is the previous image), Tetragon's flags, credentials after a setuid exec, the audit login
// uid, namespaces and capabilities, ancestors, and on flows the parent image and the user name.
// Expectations come from what the test processes know about themselves (pid, start time, ids).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statfsSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { freePort } from '../../common/net.js';
import { execId } from '../../agent/process/exec-id.js';
import { readStat } from '../../agent/process/procfs.js';
import type { FlowLog, ProcessEventDoc, ProcessInfo } from '../../schema/index.js';
import { kernelUnavailable } from '../support/kernel.js';
import { CLI, start, stop, waitFor, type Started } from '../support/processes.js';

type Doc = Partial<FlowLog> & Partial<ProcessEventDoc>;

const NODE = hostname();

/** Runs argv to its end; its pid and, read while it still ran, its start time. */
function runMarked(argv: string[], opts: { cwd?: string; readStart?: boolean } = {}): Promise<{ pid: number; startNs?: bigint; code: number }> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', cwd: opts.cwd });
  const pid = child.pid!;
  const startNs = opts.readStart ? readStat(pid)?.startNs : undefined;
  return new Promise((resolve) => child.once('exit', (c) => resolve({ pid, startNs, code: c ?? -1 })));
}

function execsOf(docs: Doc[], pid: number): ProcessInfo[] {
  return docs.filter((d) => d.event_type === 'process_exec' && d.process_exec!.process.pid === pid).map((d) => d.process_exec!.process);
}

describe('process identity through the agent (real kernel)', { skip: kernelUnavailable() ?? undefined }, () => {
  let agent: Started;
  const docs = (): Doc[] =>
    agent.output().split('\n').filter((l) => l.startsWith('{"@timestamp"')).map((l) => JSON.parse(l) as Doc);
  const waitDocs = <T>(what: string, pick: (all: Doc[]) => T | undefined) => waitFor(what, async () => pick(docs()), 60_000);

  before(async () => {
    const port = await freePort();
    agent = start([CLI, 'agent', '--output', 'ndjson', '--flush-interval', '1s', '--listen', `127.0.0.1:${port}`,
      '--process-ancestors', '8', '--process-namespaces', '--process-capabilities', '--process-events-rate', '0', '--log-level', 'info']);
    await waitFor('the agent', async () => {
      if (agent.child.exitCode !== null) throw new Error(`the agent exited: ${agent.output()}`);
      return agent.output().includes('agent: running') ? true : undefined;
    }, 90_000);
  });
  after(() => stop(agent));

  it("sh -c 'exec ...': the first exec after fork keeps the start's id (execve clone), the exec without fork gets its own, parented by the shell", async () => {
    const mark = `m${randomUUID().slice(0, 8)}`;
    const r = await runMarked(['/bin/sh', '-c', `exec /bin/sleep 0.4`, mark], { readStart: true });
    assert.ok(r.startNs, 'the test read its child\'s start time');
    const [sh, sleep] = await waitDocs('the exec of sh and of sleep', (all) => {
      const ex = execsOf(all, r.pid);
      return ex.length >= 2 && all.some((d) => d.event_type === 'process_exit' && d.process_exit!.process.pid === r.pid) ? ex : undefined;
    });
    assert.equal(sh!.binary, '/bin/sh');
    assert.equal(sh!.exec_id, execId(NODE, r.pid, r.startNs!), 'the shell: node, start time and pid');
    assert.deepEqual(sh!.flags!.split(' ').filter((f) => f === 'execve' || f === 'clone'), ['execve', 'clone']);
    assert.equal(sleep!.binary, '/bin/sleep');
    assert.notEqual(sleep!.exec_id, sh!.exec_id, 'an exec without fork is a new image');
    assert.equal(sleep!.parent_exec_id, sh!.exec_id, "its parent is the shell's image");
    assert.ok(!sleep!.flags!.split(' ').includes('clone'), `no clone flag after an exec without fork: ${sleep!.flags}`);
    const execDoc = docs().find((d) => d.process_exec?.process.exec_id === sleep!.exec_id)!;
    assert.equal(execDoc.process_exec!.parent?.binary, '/bin/sh', 'the exec event names the previous image as parent');
    assert.equal(execDoc.process_exec!.parent?.exec_id, sh!.exec_id);
    const exit = docs().find((d) => d.event_type === 'process_exit' && d.process_exit!.process.pid === r.pid)!;
    assert.equal(exit.process_exit!.process.exec_id, sleep!.exec_id, 'the exit is the last image\'s');
    assert.equal(exit.process_exit!.process.binary, '/bin/sleep');
  });

  it('a cwd of / adds rootcwd; ancestors run up the tree from the parent\'s parent', async () => {
    const mark = `m${randomUUID().slice(0, 8)}`;
    const r = await runMarked(['/bin/sh', '-c', `/bin/sh -c '/bin/true ${mark}'`], { cwd: '/' });
    const doc = await waitDocs('the exec of true', (all) => all.find((d) => d.process_exec?.process.binary === '/bin/true' && d.process_exec.process.arguments === mark));
    const p = doc!.process_exec!;
    assert.ok(p.process.flags!.split(' ').includes('rootcwd'), `flags: ${p.process.flags}`);
    assert.equal(p.process.cwd, '/');
    assert.equal(p.parent?.binary, '/bin/sh');
    const ancestors = p.ancestors ?? [];
    assert.ok(ancestors.length >= 2, `ancestors: ${JSON.stringify(ancestors.map((a) => a.binary))}`);
    assert.equal(ancestors[0]!.pid, r.pid, 'the outer shell first');
    assert.equal(ancestors[0]!.exec_id, p.parent!.parent_exec_id, "the first ancestor is the parent's parent");
    assert.equal(ancestors[1]!.pid, process.pid, 'then this test process');
    for (let i = 1; i < ancestors.length; i++) assert.equal(ancestors[i]!.exec_id, ancestors[i - 1]!.parent_exec_id, 'each ancestor the parent of the one before');
  });

  it('credentials after a setuid exec, the audit login uid, namespaces and capabilities', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('not applicable: needs root (chown of a setuid copy, loginuid)');
    const dir = mkdtempSync(join(tmpdir(), 'pf-suid-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    if ((statfsSync(dir).type as number) === 0x01021997) return t.skip('not applicable: the temp dir is on 9p, which ignores setuid');
    const id = join(dir, 'id-as-nobody');
    copyFileSync('/usr/bin/id', id);
    chownSync(id, 65534, 65534);
    chmodSync(id, 0o6755);
    // A login sets loginuid once; root (CAP_AUDIT_CONTROL) may set it for a test process.
    const r = await runMarked(['/bin/sh', '-c', `echo 4242 > /proc/self/loginuid 2>/dev/null; exec ${id} -u`]);
    assert.equal(r.code, 0);
    const doc = await waitDocs('the setuid exec', (all) => all.find((d) => d.process_exec?.process.binary === id));
    const p = doc!.process_exec!.process;
    const creds = p.process_credentials!;
    if (creds.euid === 0) return t.skip(`not applicable: ${dir} is mounted nosuid`);
    assert.deepEqual({ uid: creds.uid, euid: creds.euid, suid: creds.suid, fsuid: creds.fsuid, gid: creds.gid, egid: creds.egid }, { uid: 0, euid: 65534, suid: 65534, fsuid: 65534, gid: 0, egid: 65534 });
    assert.equal(p.uid, 0, 'uid is the real uid');
    let loginuid = '';
    try {
      loginuid = readFileSync('/proc/self/loginuid', 'utf8').trim();
    } catch {
      // no audit support: auid is the unset value
    }
    const settable = await runMarked(['/bin/sh', '-c', 'echo 4242 > /proc/self/loginuid']);
    if (settable.code === 0) assert.equal(p.auid, 4242, 'the audit uid the shell set before the exec');
    else if (loginuid) assert.equal(p.auid, Number(loginuid), 'the inherited audit uid');
    const ownNet = Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))![1]);
    assert.equal(p.ns?.net?.inum, ownNet, 'the network namespace is this test\'s');
    let hostNet: number | undefined;
    try {
      hostNet = Number(/\[(\d+)\]/.exec(readlinkSync('/proc/1/ns/net'))![1]);
    } catch {
      // pid 1 is not ours to read (a sandbox): the agent cannot say is_host either
    }
    assert.equal(p.ns?.net?.is_host, hostNet === undefined ? undefined : ownNet === hostNet);
    assert.ok(p.ns?.pid?.inum && p.ns.mnt?.inum && p.ns.user?.inum, 'pid, mount and user namespaces read');
    // A setuid exec to a non-root user drops root's capabilities (no file capabilities on id).
    assert.deepEqual(p.cap?.effective, [], 'no effective capabilities as nobody');
    const sh = execsOf(docs(), r.pid).find((x) => x.binary === '/bin/sh')!;
    assert.ok(sh.cap?.effective?.includes('CAP_SYS_ADMIN'), 'root\'s shell has CAP_SYS_ADMIN');
  });

  it('flows carry the parent image and the user name (setpriv then exec bash as nobody)', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('not applicable: needs root to change uid');
    const server: Server = createServer((s) => s.on('data', () => s.end()).on('error', () => {}));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const r = await runMarked(['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '/bin/bash', '-c',
      `exec 3<>/dev/tcp/127.0.0.1/${port}; echo hi >&3; cat <&3 >/dev/null`]);
    assert.equal(r.code, 0);
    const flow = await waitDocs('the bash flow', (all) => all.find((d) => d.dest_port === port && d.reporter === 'src' && d.process_id === String(r.pid)));
    assert.equal(flow!.process_name, '/bin/bash');
    assert.equal(flow!.process_parent_name, '/usr/bin/setpriv', 'the image bash replaced');
    const passwd = readFileSync('/etc/passwd', 'utf8');
    const nobody = /^([^:]+):[^:]*:65534:/m.exec(passwd)?.[1] ?? '65534';
    assert.equal(flow!.process_user_name, nobody);
    assert.equal(flow!.process_user_id, 65534);
    // An interval writes its flows before its process events: the exec may still be on its way.
    const exec = (await waitDocs('the bash exec', (all) => all.find((d) => d.process_exec?.process.pid === r.pid && d.process_exec.process.binary === '/bin/bash')))!;
    assert.equal(exec.process_exec!.process.user?.name, nobody);
    assert.equal(flow!.process_exec_id, exec.process_exec!.process.exec_id, 'the flow joins the exec of bash, not of setpriv');
  });
});
