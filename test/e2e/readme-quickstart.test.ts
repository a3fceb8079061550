// Walks the README's quick start as a new user would, on a clean clone of this repository's
// HEAD: it runs each command of the "Quick start" block and fails when one no longer works.
// `npm start` runs until it reports ready, gets a flow through the indexer into Elasticsearch
// and onto the live view, then stops on Ctrl-C (SIGINT); `npm test` runs its quickest suite
// (`npm test -- unit`, as the README says). To stay within minutes it reuses what this checkout
// already fetched: node_modules (hard links), the vendored libbpf build, and the Elasticsearch
// distribution in the cache directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { FLOW_CONTRACT, type FlowLog } from '../../schema/index.js';
import { skipOrFail } from '../support/environment.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

// The clone's bootstrap (as root) points /usr/local/bin/procflow at the clone, which is deleted
// afterwards: the test puts back what it found, so `procflow` keeps working on this machine.
const PROCFLOW_ON_PATH = '/usr/local/bin/procflow';

type PathEntry = { kind: 'absent' } | { kind: 'link'; target: string } | { kind: 'file'; data: Buffer; mode: number };

function pathEntry(path: string): PathEntry {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return { kind: 'absent' };
  }
  if (st.isSymbolicLink()) return { kind: 'link', target: readlinkSync(path) };
  return { kind: 'file', data: readFileSync(path), mode: st.mode & 0o7777 };
}

function restorePathEntry(path: string, was: PathEntry): void {
  if (isDeepStrictEqual(pathEntry(path), was)) return;
  rmSync(path, { force: true });
  if (was.kind === 'link') symlinkSync(was.target, path);
  if (was.kind === 'file') {
    writeFileSync(path, was.data);
    chmodSync(path, was.mode);
  }
}

const procflowOnPathBefore = pathEntry(PROCFLOW_ON_PATH);

/** The commands of the first ```sh block under "## Quick start". */
export function quickStartCommands(readme: string): string[] {
  const section = readme.split(/^## /m).find((s) => s.startsWith('Quick start'));
  const block = section && /```sh\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('README: no ```sh block under "## Quick start"');
  return block[1]!.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
}

function sh(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** A clean clone of HEAD, with the expensive downloads of this checkout reused. */
function cleanClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-readme-'));
  // As root, Elasticsearch runs as its own user, which must reach the data dir inside the clone.
  chmodSync(dir, 0o755);
  sh('git', ['clone', '--quiet', '--no-hardlinks', root, dir], root);
  sh('cp', ['-al', join(root, 'node_modules'), join(dir, 'node_modules')], root);
  // Newer than the clone's package-lock.json, so bootstrap does not reinstall.
  sh('touch', [join(dir, 'node_modules', '.package-lock.json')], dir);
  for (const p of ['native/vendor', 'bpf/build']) if (existsSync(join(root, p))) sh('cp', ['-a', join(root, p), join(dir, p)], root);
  return dir;
}

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Exit code, or the signal name when it ended by a signal (npm re-raises SIGINT). */
  exited: Promise<number | string>;
}

function start(cmd: string, args: string[], cwd: string): Run {
  // Its own process group, like a terminal's foreground job: Ctrl-C goes to the whole group.
  // Without NODE_TEST_CONTEXT: the clone's test runner must report as it does for a user, not
  // in the serialized form node --test uses between a runner and its children.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, FORCE_COLOR: '0' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const exited = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(code ?? signal ?? -1)));
  return { child, out: () => out, err: () => err, exited };
}

/** Resolves with 'hung' after ms, without keeping the test process alive. */
const hungAfter = (ms: number) => new Promise<'hung'>((r) => setTimeout(() => r('hung'), ms).unref());

async function until<T>(what: string, run: Run, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void run.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    if (exited) throw new Error(`exited before ${what}:\n${run.err().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}:\n${run.err().slice(-3000)}`);
}

test('the README quick start works on a clean clone', { timeout: 15 * 60_000 }, async (t) => {
  if (spawnSync('git', ['--version']).status !== 0) return skipOrFail(t, 'git is not installed');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const commands = quickStartCommands(readme);
  assert.deepEqual([...commands].sort(), ['npm start', 'npm test'], 'the quick start is the two set-up commands; teach this test any new one');
  t.after(() => restorePathEntry(PROCFLOW_ON_PATH, procflowOnPathBefore));
  const dir = cleanClone();
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  for (const command of commands) {
    if (command === 'npm start') {
      const token = 'readme-walk-token';
      const run = start('npm', ['start', '--', '--es-port', '0', '--listen', '127.0.0.1:0', '--data-dir', join(dir, '.local'), '--token', token, '--es-heap', '512m'], dir);
      t.after(() => {
        if (run.child.exitCode === null && run.child.signalCode === null) process.kill(-run.child.pid!, 'SIGKILL');
      });
      const urls = await until('procflow local: ready', run, () => {
        const es = /Elasticsearch\s+(http:\/\/\S+)/.exec(run.out());
        const indexer = /indexer\s+(http:\/\/\S+)/.exec(run.out());
        return run.out().includes('procflow local: ready') && es && indexer ? { es: es[1]!, indexer: indexer[1]! } : undefined;
      }, 8 * 60_000);
      assert.match(run.err(), /procflow local: (starting Elasticsearch|templates installed|indexer ready)/, 'progress is shown while it starts');

      // The URL to query answers, with procflow's templates installed.
      const templates = (await (await fetch(`${urls.es}/_index_template/procflow-*`)).json()) as { index_templates: Array<{ name: string }> };
      assert.ok(templates.index_templates.some((x) => x.name === 'procflow-flows'));

      // A flow shipped to the indexer is indexed and appears on the live view.
      const marker = `/opt/readme-walk/bin/probe-${process.pid}`;
      const now = new Date().toISOString();
      const doc: FlowLog = {
        '@timestamp': now, start_time: now, end_time: now, host: 'readme-walk', source_ip: '10.1.2.3', source_port: 50000,
        source_name: '-', source_name_aggr: 'pvt', source_namespace: '-', source_type: 'hep', dest_ip: '10.1.2.4', dest_port: 443,
        dest_name: '-', dest_name_aggr: 'pvt', dest_namespace: '-', dest_type: 'net', proto: 'tcp', reporter: 'src',
        bytes_in: 10, bytes_out: 20, packets_in: 1, packets_out: 1, num_flows: 1, num_flows_started: 1, num_flows_completed: 1,
        process_name: marker, num_process_names: 1, process_id: '999999', num_process_ids: 1, process_args: ['--walk'], num_process_args: 1,
      };
      assert.equal(FLOW_CONTRACT.validate(doc), null);
      const res = await fetch(`${urls.indexer}/v1/flows`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' }, body: `${JSON.stringify(doc)}\n` });
      assert.equal(res.status, 200, await res.text());
      await until('the shipped flow on the live view', run, () => (run.out().includes(marker) ? true : undefined), 60_000);

      // Ctrl-C stops everything cleanly.
      process.kill(-run.child.pid!, 'SIGINT');
      const code = await Promise.race([run.exited, hungAfter(90_000)]);
      assert.notEqual(code, 'hung', `npm start did not stop on Ctrl-C:\n${run.err().slice(-2000)}`);
      assert.match(run.err(), /procflow local: stopped/);
      assert.ok([0, 130, 'SIGINT'].includes(code), `exit code ${code}`);
      for (const url of [urls.es, urls.indexer]) assert.equal(await fetch(url).then(() => 'up', () => 'down'), 'down', `${url} is stopped`);
    } else if (command === 'npm test') {
      const run = start('npm', ['test', '--', 'unit'], dir);
      const code = await Promise.race([run.exited, hungAfter(8 * 60_000)]);
      if (code === 'hung') process.kill(-run.child.pid!, 'SIGKILL');
      assert.equal(code, 0, `npm test -- unit failed on the clean clone:\n${run.out().slice(-3000)}\n${run.err().slice(-2000)}`);
      assert.match(run.out(), /(ℹ|#) pass [1-9]/, "the unit suite ran tests");
      assert.match(run.out(), /(ℹ|#) fail 0/);
    }
  }
});

test('the quick start leaves /usr/local/bin/procflow as it found it, not pointing into the deleted clone', () => {
  assert.deepEqual(pathEntry(PROCFLOW_ON_PATH), procflowOnPathBefore, `${PROCFLOW_ON_PATH} changed`);
});
