// The kernel matrix: for each kernel (default: every guest kernel of kernels.ts, then this host's
// own), the collector's hook report and the kernel suite (plus the kernel end-to-end file when
// Elasticsearch is known) run against this checkout; one row per kernel is printed and written
// to test/matrix/results.json. Guests boot one at a time (a TCG guest keeps both cores busy).
//
//   node dist/test/matrix/run-matrix.js [ids...]      e.g. `5.10 host`
//
// Without ids: PROCFLOW_MATRIX_KERNELS (e.g. "6.1 host"), else every kernel. Guests run under TCG
// unless KVM is proven to work (see accel.ts; PROCFLOW_QEMU_ACCEL=kvm|tcg forces one). The suite
// has PROCFLOW_MATRIX_SUITE_TIMEOUT_S (default 1200) per kernel; logs stay in /tmp/procflow-matrix.
//
// Exit code 1 when a kernel failed a test, did not boot or timed out. Missing qemu or kernels
// skip their rows (exit 0), except under CI=true where they fail.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeError } from '../../common/errors.js';
import { IN_CI } from '../support/environment.js';
import { suiteFiles } from '../support/suites.js';
import { chooseAccel } from './accel.js';
import { formatTable } from './format.js';
import { GUEST_RESULTS_DIR, HOST_FROM_GUEST } from './guest-init.js';
import type { KernelReport } from './guest-report.js';
import { CHECKOUT, guestNodeMissing, NODE, QEMU, runInGuest, type Accel, type GuestResult } from './guest.js';
import { ensureKernel, HOST_KERNEL_ID, kernelById, KERNELS, type FetchedKernel, type GuestKernel } from './kernels.js';
import { RESULTS_FILE, writeResults, type MatrixRow } from './results.js';
import { snapshotCheckout } from './snapshot.js';
import { parseTap } from './tap.js';

const say = (m: string) => process.stderr.write(`matrix: ${m}\n`);
const REPORT_TIMEOUT_MS = 3 * 60_000;
const SUITE_TIMEOUT_MS = Number(process.env.PROCFLOW_MATRIX_SUITE_TIMEOUT_S ?? 20 * 60) * 1000;
const HEARTBEAT_MS = 30_000;
/** Host directories the runs write into (kept after the run, for a look at logs). */
const RUNS_DIR = process.env.PROCFLOW_MATRIX_RUNS ?? join(tmpdir(), 'procflow-matrix');
const E2E_FILE = 'dist/test/e2e/agent-kernel.test.js';

/** A guest that did not get as far as the command is booted again this many times. */
const BOOT_RETRIES = 1;

/** One command run on a kernel (in a guest, or on this host), with cwd the checkout snapshot. */
type Execute = (command: string[], env: Record<string, string>, timeoutMs: number, resultsDir: string, onLine: (l: string) => void) => Promise<GuestResult>;

/** The results directory as the command sees it. */
type ResultsPath = (hostDir: string) => string;

/** The host's Elasticsearch URL as a guest reaches it: qemu's user network maps 10.0.2.2 to the host's loopback. */
function guestEsUrl(url: string): string {
  return url.replace(/^(https?:\/\/)(127\.0\.0\.1|localhost|\[::1\])(?=[:/]|$)/, `$1${HOST_FROM_GUEST}`);
}

function suiteCommand(results: string, withE2e: boolean): string[] {
  return [
    NODE, '--test', '--test-concurrency=1',
    '--test-reporter=tap', `--test-reporter-destination=${results}/tap.txt`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    // PROCFLOW_MATRIX_FILES (a glob of compiled test files) narrows a run to some files while working on them.
    process.env.PROCFLOW_MATRIX_FILES ?? suiteFiles('dist/test/kernel'), ...(withE2e && !process.env.PROCFLOW_MATRIX_FILES ? [E2E_FILE] : []),
  ];
}

/** Runs a command on this host the way runInGuest runs it in a guest (same outputs in resultsDir). */
const onHost = (cwd: string): Execute => async (command, env, timeoutMs, resultsDir, onLine) => {
  rmSync(resultsDir, { recursive: true, force: true });
  mkdirSync(resultsDir, { recursive: true });
  const started = Date.now();
  // Its own process group, so a timeout also ends the test files and agents it started.
  const child = spawn(command[0]!, command.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const stdoutFile = createWriteStream(join(resultsDir, 'stdout.txt'));
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdoutFile.write(d);
    stdout += d;
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    lines.forEach(onLine);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (c, sig) => resolve(c ?? (sig ? 128 : null)));
  });
  clearTimeout(timer);
  await new Promise<void>((r) => stdoutFile.end(() => r()));
  const result: GuestResult = { code: timedOut ? null : code, consoleLog: '', durationMs: Date.now() - started, bootMs: null, timedOut, stdout, stderr };
  if (timedOut) result.error = `timed out after ${Math.round(timeoutMs / 1000)} s; output tail:\n${stdout.trim().split('\n').slice(-15).join('\n')}`;
  return result;
};

function inGuest(kernel: FetchedKernel, accel: Accel, cwd: string, label: string): Execute {
  return async (command, env, timeoutMs, resultsDir, onLine) => {
    for (let attempt = 0; ; attempt++) {
      const r = await runInGuest(kernel, { command, env, timeoutMs, resultsDir, accel, cwd, onConsoleLine: onLine });
      if (r.bootMs !== null || attempt >= BOOT_RETRIES) return r;
      say(`${label}: the guest did not boot (${r.error?.split(';')[0]}); booting it again`);
    }
  };
}

const secs = (ms: number | null) => (ms === null ? null : Math.round(ms / 1000));

/** Prints "still running" every 30 s with the last test line seen. */
function heartbeat(label: string) {
  const started = Date.now();
  let last = '';
  const timer = setInterval(() => say(`${label}: running (${secs(Date.now() - started)} s${last ? `, last: ${last}` : ''})`), HEARTBEAT_MS);
  return {
    onLine: (l: string) => {
      const t = l.trim();
      if (/^[✔✖﹣]/.test(t)) last = t.length > 100 ? `${t.slice(0, 97)}...` : t;
    },
    stop: () => clearInterval(timer),
  };
}

interface Target {
  row: MatrixRow;
  execute: Execute;
  resultsPath: ResultsPath;
  /** Environment of the commands (what differs from host to guest). */
  env: Record<string, string>;
}

async function measure(t: Target): Promise<MatrixRow> {
  const { row } = t;
  const label = `${row.id} (${row.distro})`;
  const dir = join(RUNS_DIR, row.id);
  rmSync(dir, { recursive: true, force: true });

  say(`${label}: ${row.accel === 'host' ? 'opening the collector on this host' : `booting ${row.kernel} under ${row.accel}`}`);
  const reportDir = join(dir, 'report');
  const rep = await t.execute([NODE, 'dist/test/matrix/guest-report.js', '--out', `${t.resultsPath(reportDir)}/report.json`], t.env, REPORT_TIMEOUT_MS, reportDir, () => {});
  row.seconds.boot = secs(rep.bootMs);
  row.seconds.report = secs(rep.durationMs);
  if (rep.code === null) {
    row.status = rep.timedOut ? 'timed out' : 'no boot';
    row.reason = `hook report: ${rep.error}`;
    say(`${label}: ${row.reason}`);
    return row;
  }
  const reportFile = join(reportDir, 'report.json');
  if (!existsSync(reportFile)) {
    row.status = 'failed';
    row.reason = `hook report: exit ${rep.code}, no report.json: ${rep.stderr.trim().split('\n').slice(-5).join(' | ')}`;
    return row;
  }
  if (rep.crash) row.reason = `guest kernel: ${rep.crash}`;
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as KernelReport;
  row.kernel = report.kernel;
  row.hooks = report.hooks.map(({ hook, via, target }) => ({ hook, via, target }));
  if (report.error) row.collectorError = report.error;
  say(`${label}: hook report done in ${secs(rep.durationMs)} s${rep.bootMs !== null ? ` (boot ${secs(rep.bootMs)} s)` : ''}`);

  say(`${label}: running the kernel suite${row.e2e === 'run' ? ' and the kernel end-to-end file' : ''}`);
  const suiteDir = join(dir, 'suite');
  const beat = heartbeat(label);
  const suite = await t.execute(suiteCommand(t.resultsPath(suiteDir), row.e2e === 'run'), t.env, SUITE_TIMEOUT_MS, suiteDir, beat.onLine);
  beat.stop();
  row.seconds.suite = secs(suite.durationMs);
  const tapFile = join(suiteDir, 'tap.txt');
  row.tests = parseTap(existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '');
  if (suite.code === null) {
    row.status = suite.timedOut ? 'timed out' : 'no boot';
    row.reason = `kernel suite: ${suite.error}`;
  } else if (suite.crash) {
    row.status = 'failed';
    row.reason = `guest kernel during the suite: ${suite.crash}`;
  } else if (row.tests.failed > 0) {
    row.status = 'failed';
  } else if (suite.code !== 0) {
    row.status = 'failed';
    row.reason = `kernel suite exited with code ${suite.code} without a failed test: ${suite.stderr.trim().split('\n').slice(-5).join(' | ')}`;
  } else {
    row.status = 'passed';
  }
  say(`${label}: ${row.status} in ${secs(suite.durationMs)} s (${row.tests.passed} passed, ${row.tests.failed} failed, ${row.tests.notApplicable} n/a); logs in ${suiteDir}`);
  return row;
}

function emptyRow(id: string, distro: string, e2e: string): MatrixRow {
  return { id, distro, suite: null, package: null, version: null, kernel: '', accel: '', status: 'skipped', hooks: [], tests: null, e2e, seconds: { boot: null, report: null, suite: null } };
}

function hostDistro(): string {
  try {
    const name = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    return name ? `this machine (${name})` : 'this machine';
  } catch {
    return 'this machine';
  }
}

function qemuMissing(): string | null {
  const r = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? `${QEMU} is not installed (apt-get install qemu-system-x86, or bash scripts/bootstrap.sh)` : null;
}

async function main(): Promise<number> {
  const fromEnv = (process.env.PROCFLOW_MATRIX_KERNELS ?? '').split(/[\s,]+/).filter(Boolean);
  const fromArgs = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const ids = fromArgs.length ? fromArgs : fromEnv;
  const wanted = ids.length ? ids : [...KERNELS.map((k) => k.id), HOST_KERNEL_ID];
  const guests: GuestKernel[] = wanted.filter((id) => id !== HOST_KERNEL_ID).map(kernelById);
  const esUrl = process.env.PROCFLOW_ES_URL;
  const e2e = esUrl ? 'run' : 'not run: PROCFLOW_ES_URL is not set';
  const ci: Record<string, string> = process.env.CI !== undefined ? { CI: process.env.CI } : {};
  const rows: MatrixRow[] = [];
  const noGuests = guests.length ? (qemuMissing() ?? guestNodeMissing()) : null;
  let accel: { accel: Accel; why: string } | undefined;
  // Taken once, so every kernel of this run tests the same build.
  const checkout = snapshotCheckout();
  say(`testing the build in ${CHECKOUT}, copied to ${checkout}`);

  for (const k of guests) {
    const row: MatrixRow = { ...emptyRow(k.id, k.distro, e2e), suite: k.suite };
    rows.push(row);
    if (noGuests) {
      row.reason = noGuests;
      continue;
    }
    let kernel: FetchedKernel;
    try {
      kernel = ensureKernel(k, (m) => process.stderr.write(`kernels: ${m}\n`));
    } catch (err) {
      row.reason = `kernel not available: ${describeError(err)}`;
      continue;
    }
    Object.assign(row, { package: kernel.package, version: kernel.version, kernel: kernel.release });
    if (!accel) {
      accel = await chooseAccel(kernel);
      say(`guests run under ${accel.accel} (${accel.why})`);
    }
    row.accel = accel.accel;
    const env = { ...ci, ...(esUrl ? { PROCFLOW_ES_URL: guestEsUrl(esUrl) } : {}) };
    try {
      await measure({ row, execute: inGuest(kernel, accel.accel, checkout, `${k.id} (${k.distro})`), resultsPath: () => GUEST_RESULTS_DIR, env });
    } catch (err) {
      row.status = 'no boot';
      row.reason = describeError(err);
    }
  }

  if (wanted.includes(HOST_KERNEL_ID)) {
    const row: MatrixRow = { ...emptyRow(HOST_KERNEL_ID, hostDistro(), e2e), kernel: release(), accel: 'host' };
    rows.push(row);
    await measure({ row, execute: onHost(checkout), resultsPath: (d) => d, env: {} });
  }

  for (const r of rows) if (r.status === 'skipped') say(`${r.id} (${r.distro}): skipped: ${r.reason}`);
  process.stdout.write(`\n${formatTable(rows)}\n\n`);
  if (rows.some((r) => r.status !== 'skipped')) {
    writeResults(rows);
    say(`wrote ${RESULTS_FILE}`);
  }
  const bad = rows.filter((r) => r.status === 'failed' || r.status === 'timed out' || r.status === 'no boot' || (IN_CI && r.status === 'skipped'));
  if (bad.length) {
    say(`${bad.map((r) => `${r.id}: ${r.status}`).join(', ')}${IN_CI && bad.some((r) => r.status === 'skipped') ? ' (CI=true: a skipped kernel fails)' : ''}`);
    return 1;
  }
  if (rows.every((r) => r.status === 'skipped')) say('skipped');
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    say(describeError(err));
    process.exitCode = 1;
  },
);
