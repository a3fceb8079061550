// npm run bench:agent-exec and bench:agent-churn — the agent's user-space CPU per exec, or per
// flow record and flow log of connection churn, baseline and now side by side: real kernel
// records of the workload (captured here while bench/loadgen.c saturates every core, or
// BENCH_RECORDS=FILE from an earlier capture) replayed through two builds of procflow's
// user-space path (bench/replay.ts: decode, process cache, cwd, cgroup, redaction, process
// documents, flow aggregation and flow logs, NDJSON out), each in processes of its own, in
// interleaved rounds (ABBA), medians.
//
// Usage: node agent-replay.js exec|churn. The baseline is a built checkout (BENCH_BASELINE_DIR),
// else BENCH_BASELINE_REF (default: the commit before the workload's path was made cheaper)
// checked out into a temporary worktree and compiled once.
//
// Settings (environment): BENCH_CAPTURE_SECONDS (2), BENCH_RECORDS (a file: replay it instead
// of capturing; with BENCH_SAVE_RECORDS=FILE a capture is kept), BENCH_ROUNDS (4), BENCH_PASSES
// (5 replays of the records per process, after one warm-up pass), BENCH_OUTPUT (ndjson: the
// NDJSON stream sink; spool: the default output's sink, documents validated, compressed and
// spooled, the batches deleted after each flush instead of shipped), BENCH_BASELINE_NODE (the
// node binary the baseline side runs on, to measure a change of Node.js; default: this one).
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, symlinkSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPLAY_WORKLOADS, captureRecords, countRecords, loadRecords, saveRecords, type ReplayWorkload } from './kernel-records.js';
import { BenchError, median } from './saturate.js';
import { PF_EVENT_EXEC, PF_EVENT_EXIT, PF_EVENT_FORK } from '../native/layout.js';

const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url));
const REPLAY = fileURLToPath(new URL('./replay.js', import.meta.url));
const WORKLOAD = (process.argv[2] ?? 'exec') as ReplayWorkload;
if (!REPLAY_WORKLOADS.includes(WORKLOAD)) throw new Error(`bench: the workload must be one of ${REPLAY_WORKLOADS.join(', ')} (got ${JSON.stringify(WORKLOAD)})`);
/**
 * main before the workload's path was made cheaper (issue 14, item 2): for exec the 66 µs per
 * exec, for churn the flow path as it was on 2026-12-07.
 */
const DEFAULT_BASELINE_REF = { exec: '40fd2ae', churn: '4da08d8' }[WORKLOAD];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const PASSES = Number(process.env.BENCH_PASSES ?? 5);
const OUTPUT = process.env.BENCH_OUTPUT ?? 'ndjson';
if (!['ndjson', 'spool'].includes(OUTPUT)) throw new Error(`bench: BENCH_OUTPUT must be ndjson or spool (got ${JSON.stringify(OUTPUT)})`);

interface ReplayResult {
  execs: number;
  flowRecords: number;
  cpu: { user: number; system: number };
  /** Process documents and flow logs, warm-up pass included. */
  exported: number;
  flowLogs: number;
  maxRssMiB: number;
}

function nodeVersion(node: string): string {
  try {
    return execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  } catch {
    throw new BenchError(`BENCH_BASELINE_NODE=${node} does not run`, 'set it to a node binary, e.g. /var/lib/procflow/node/VERSION/bin/node');
  }
}

/** A built checkout of the baseline: given, or the ref compiled once into a worktree under /tmp. */
function baselineRoot(): string {
  if (process.env.BENCH_BASELINE_DIR) return process.env.BENCH_BASELINE_DIR;
  const ref = process.env.BENCH_BASELINE_REF ?? DEFAULT_BASELINE_REF;
  const git = (...args: string[]) => execFileSync('git', ['-C', CHECKOUT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  let sha: string;
  try {
    sha = git('rev-parse', '--verify', `${ref}^{commit}`);
  } catch {
    throw new BenchError(`the baseline ref ${ref} is not in ${CHECKOUT}`, 'set BENCH_BASELINE_DIR to a built procflow checkout, or BENCH_BASELINE_REF to a commit');
  }
  const dir = join(tmpdir(), `procflow-baseline-${sha.slice(0, 12)}`);
  if (existsSync(join(dir, 'dist', 'agent', 'agent.js'))) return dir;
  process.stderr.write(`bench: building the baseline ${sha.slice(0, 12)} in ${dir} (once)\n`);
  if (!existsSync(dir)) git('worktree', 'add', '--detach', dir, sha);
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(CHECKOUT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(CHECKOUT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: ['ignore', 'inherit', 'inherit'] });
  return dir;
}

/** The Node.js each side runs on. */
const NODE_OF = { baseline: process.env.BENCH_BASELINE_NODE || process.execPath, now: process.execPath } as const;

function replay(node: string, root: string, records: string): Promise<ReplayResult> {
  const devnull = openSync('/dev/null', 'w');
  const p = spawn(node, ['--expose-gc', REPLAY, '--root', root, '--records', records, '--passes', String(PASSES), '--output', OUTPUT], { stdio: ['ignore', devnull, 'inherit', 'pipe'] });
  closeSync(devnull);
  return new Promise((resolve, reject) => {
    let out = '';
    (p.stdio[3] as Readable).on('data', (d: Buffer) => (out += d));
    p.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as ReplayResult) : reject(new BenchError(`the replay of ${root} exited ${code}`))));
  });
}

/** Operations of a replay the CPU is divided by: execs, or flow records. */
const opsOf = (r: ReplayResult) => (WORKLOAD === 'exec' ? r.execs : r.flowRecords);
const OP = WORKLOAD === 'exec' ? 'exec' : 'flow record';
const us = (r: ReplayResult, pick: (c: ReplayResult['cpu']) => number) => (pick(r.cpu) / opsOf(r)) * 1e6;

async function main(): Promise<void> {
  const base = baselineRoot();
  const work = mkdtempSync(join(tmpdir(), 'procflow-exec-bench-'));
  try {
    let file = process.env.BENCH_RECORDS;
    if (!file) {
      const seconds = Number(process.env.BENCH_CAPTURE_SECONDS ?? 2);
      process.stderr.write(`bench: capturing ${seconds} s of ${WORKLOAD} workload records from the kernel\n`);
      const batches = await captureRecords(WORKLOAD, seconds);
      file = process.env.BENCH_SAVE_RECORDS ?? join(work, 'records.bin');
      saveRecords(file, batches);
    }
    const batches = loadRecords(file);
    const counts = countRecords(batches);
    const sides = { baseline: base, now: CHECKOUT } as const;
    const results: Record<keyof typeof sides, ReplayResult[]> = { baseline: [], now: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['baseline', 'now'] as const) : (['now', 'baseline'] as const);
      for (const side of order) {
        const r = await replay(NODE_OF[side], sides[side], file);
        results[side].push(r);
        process.stderr.write(`bench: round ${round + 1}/${ROUNDS} ${side}: ${us(r, (c) => c.user + c.system).toFixed(2)} µs per ${OP}\n`);
      }
    }
    const row = (side: keyof typeof sides) => {
      const rs = results[side];
      return {
        total: median(rs.map((r) => us(r, (c) => c.user + c.system))), user: median(rs.map((r) => us(r, (c) => c.user))),
        system: median(rs.map((r) => us(r, (c) => c.system))), rss: median(rs.map((r) => r.maxRssMiB)), docs: (rs[0]!.exported + rs[0]!.flowLogs) / (PASSES + 1),
        perFlowLog: median(rs.map((r) => (((r.cpu.user + r.cpu.system) / r.flowLogs) * 1e6 * (PASSES + 1)) / PASSES)),
      };
    };
    const nodeNote = (side: keyof typeof sides) => (NODE_OF.baseline === NODE_OF.now ? '' : `, Node.js ${nodeVersion(NODE_OF[side])}`);
    const b = row('baseline');
    const n = row('now');
    const flows = WORKLOAD === 'churn';
    const perLog = (r: ReturnType<typeof row>) => (flows ? ` | ${r.perFlowLog.toFixed(2)}` : '');
    const records = flows
      ? `${batches.filter((x) => x.kind === 'flows').length} drains of the flow map, ${(results.now[0]!.flowRecords / PASSES).toFixed(0)} flow records`
      : `${batches.length} batches: ${counts[PF_EVENT_FORK] ?? 0} fork, ${counts[PF_EVENT_EXEC] ?? 0} exec, ${counts[PF_EVENT_EXIT] ?? 0} exit records`;
    const lines = [
      `user-space CPU per ${OP}, recorded ${WORKLOAD} records replayed (${records}; ${PASSES} passes per process after a warm-up, ${ROUNDS} interleaved rounds, medians)`,
      `| build | µs per ${OP} (user + system) | user | system${flows ? ' | µs per flow log' : ''} | documents per pass | peak RSS MiB |`,
      `| --- | ---: | ---: | ---: |${flows ? ' ---: |' : ''} ---: | ---: |`,
      `| baseline (${base}${nodeNote('baseline')}) | ${b.total.toFixed(2)} | ${b.user.toFixed(2)} | ${b.system.toFixed(2)}${perLog(b)} | ${b.docs.toFixed(0)} | ${b.rss.toFixed(0)} |`,
      `| now (${CHECKOUT}${nodeNote('now')}) | ${n.total.toFixed(2)} | ${n.user.toFixed(2)} | ${n.system.toFixed(2)}${perLog(n)} | ${n.docs.toFixed(0)} | ${n.rss.toFixed(0)} |`,
      `now / baseline: ${(n.total / b.total).toFixed(3)} (baseline ${(b.total / n.total).toFixed(2)}x the CPU)${flows ? '' : `; aim 10 µs: ${n.total <= 10 ? 'ok' : 'ABOVE'}`}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
