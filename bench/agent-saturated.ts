// bench:agent's saturated phase: the whole agent (`procflow agent --output ndjson
// --flush-interval 1s` to /dev/null, a process of its own as on a node) under the saturated-core
// workloads of bench/saturate.ts, without and with it in interleaved rounds, and the agent's own
// CPU per operation above its idle rate: for the exec workload that is what user space spends on
// each process (fork, exec and exit events: cache, cwd, cgroup, redaction, documents).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkKernelSupport } from '../native/index.js';
import {
  BenchError, USER_HZ, fmt, interleavedRounds, loadgen, median, opsPerUnit, runGenerators, saturatedTable, workloads,
  type Attached, type Results, type Sample, type Workload,
} from './saturate.js';

/** The agent under test: this checkout's, or another build's CLI (PROCFLOW_BENCH_AGENT_CLI, to measure a baseline). */
const CLI = process.env.PROCFLOW_BENCH_AGENT_CLI ?? fileURLToPath(new URL('../../bin/procflow.js', import.meta.url));
/** The Node.js that runs the agent (PROCFLOW_BENCH_AGENT_NODE, to measure another one; default: the bench's). */
const AGENT_NODE = process.env.PROCFLOW_BENCH_AGENT_NODE || process.execPath;
/**
 * Every exec becomes a document (the default --process-events-rate of 1000/s would drop most of
 * them under this load and hide their cost); PROCFLOW_BENCH_AGENT_ARGS adds settings.
 */
const AGENT_ARGS = ['agent', '--output', 'ndjson', '--flush-interval', '1s', '--listen', '127.0.0.1:0', '--process-events-rate', '0',
  ...(process.env.PROCFLOW_BENCH_AGENT_ARGS?.split(' ').filter(Boolean) ?? [])];
/** Seconds of the idle window after each start, and the settling each sample waits for. */
const IDLE_S = 3;
const FLUSH_SETTLE_MS = 1500;
/**
 * Seconds of each workload the agent runs after its start, before anything is measured
 * (PROCFLOW_BENCH_WARMUP_SECONDS; 0 = none). A node's agent has run for days: its code is
 * compiled and its caches are full. A fresh one spends its first seconds of a workload compiling
 * (V8's threads) and running code not yet optimised: its first 3 s of execs cost up to 1.9 times
 * what the same agent spends per exec from its second such window on.
 */
const WARMUP_S = Number(process.env.PROCFLOW_BENCH_WARMUP_SECONDS ?? 3);
if (!(WARMUP_S >= 0)) throw new Error(`bench: PROCFLOW_BENCH_WARMUP_SECONDS must be 0 or more (got ${process.env.PROCFLOW_BENCH_WARMUP_SECONDS})`);

interface AgentProcess {
  child: ChildProcess;
  url: string;
  hooks: string;
}

/** Starts the agent and waits for its 'agent: running' log line (its /metrics URL). */
function startAgent(): Promise<AgentProcess> {
  const devnull = openSync('/dev/null', 'w');
  const child = spawn(AGENT_NODE, [CLI, ...AGENT_ARGS], { stdio: ['ignore', devnull, 'pipe'] });
  closeSync(devnull);
  return new Promise((resolve, reject) => {
    let buf = '';
    const hooks: string[] = [];
    const timer = setTimeout(() => {
      child.kill();
      reject(new BenchError(`the agent did not report 'agent: running' within 60 s; its log: ${buf.slice(-2000)}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new BenchError(`the agent exited (${code}) before it was running: ${buf.slice(-2000)}`, `run it yourself: node ${CLI} ${AGENT_ARGS.join(' ')}`));
    });
    child.stderr!.on('data', (d: Buffer) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let rec: { msg?: string; hook?: string; via?: string; listen?: string; level?: number };
        try {
          rec = JSON.parse(line) as typeof rec;
        } catch {
          continue;
        }
        if (rec.hook && rec.via) hooks.push(`${rec.hook}=${rec.via}`);
        if (rec.msg === 'agent: running' && rec.listen) {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve({ child, url: rec.listen, hooks: hooks.join(' ') });
        }
      }
    });
  });
}

/** utime and stime of a process and its threads, dead threads included (/proc/PID/stat). */
function processCpu(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / USER_HZ, system: Number(f[12]) / USER_HZ };
}

/** The groups the agent's threads fall in, in the order the report lists them. */
const THREAD_GROUPS = ['JavaScript (main thread)', 'V8 workers (GC, compiler)', 'ring buffer poller', 'libuv pool', 'other'] as const;

/** Which group a thread belongs to, by its id and name (/proc/PID/task/TID/comm). */
function threadGroup(pid: number, tid: number, name: string): (typeof THREAD_GROUPS)[number] {
  if (tid === pid) return 'JavaScript (main thread)';
  // V8's threads: "V8Worker" up to Node.js 24, "node-V8Worker" since 26.
  if (name.startsWith('V8') || name.startsWith('node-V8')) return 'V8 workers (GC, compiler)';
  if (name === 'procflow-ring') return 'ring buffer poller';
  if (name.startsWith('libuv')) return 'libuv pool';
  return 'other';
}

/** CPU seconds (user + system) of the process's live threads so far, by group. */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(THREAD_GROUPS.map((g) => [g, 0]));
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[threadGroup(pid, Number(t), name)]! += (Number(f[11]) + Number(f[12])) / USER_HZ;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

const EXECS = 'procflow_agent_process_events_total{kind="exec"}';
const LOST = 'procflow_agent_kernel_events_lost_total';
const DROPPED = 'procflow_agent_kernel_events_dropped_user_total';

let hooksLine = '';
/** The agent's CPU per second while idle, one figure per start; and by group of threads. */
const idleRates: { user: number; system: number }[] = [];
const idleThreadRates: Record<string, number>[] = [];

async function attach(ws: Workload[]): Promise<Attached & { idle: { user: number; system: number } }> {
  const a = await startAgent();
  hooksLine ||= a.hooks;
  const pid = a.child.pid!;
  // Past its start (the /proc scan, the first flushes) and its warm-up, then its idle rate.
  await new Promise((r) => setTimeout(r, 2000));
  if (WARMUP_S > 0) {
    for (const w of workloads(WARMUP_S).filter((x) => ws.some((y) => y.key === x.key))) await runGenerators(w);
    await new Promise((r) => setTimeout(r, FLUSH_SETTLE_MS));
  }
  const c0 = processCpu(pid);
  const t0 = threadCpu(pid);
  await new Promise((r) => setTimeout(r, IDLE_S * 1000));
  const c1 = processCpu(pid);
  const t1 = threadCpu(pid);
  const idle = { user: (c1.user - c0.user) / IDLE_S, system: (c1.system - c0.system) / IDLE_S };
  idleRates.push(idle);
  idleThreadRates.push(Object.fromEntries(THREAD_GROUPS.map((g) => [g, (t1[g]! - t0[g]!) / IDLE_S])));
  // The agent's exec count after the previous sample.
  let execsBefore = await metric(a.url, EXECS);
  return {
    idle,
    cpu: () => processCpu(pid),
    threads: () => threadCpu(pid),
    async settle(w: Workload, s: Sample) {
      const checks: Record<string, number> = {};
      if (w.key === 'exec') {
        // The events of the last execs may still be in the ring buffer: wait until the agent has them.
        let seen = 0;
        for (let i = 0; i < 50; i++) {
          seen = (await metric(a.url, EXECS)) - execsBefore;
          if (seen >= s.ops) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        checks.execStarted = s.ops;
        checks.execSeen = Math.min(seen, s.ops);
      }
      // One more interval, so the documents of what happened are written (and their CPU counted).
      await new Promise((r) => setTimeout(r, FLUSH_SETTLE_MS));
      execsBefore = await metric(a.url, EXECS);
      checks.lost = await metric(a.url, LOST);
      checks.dropped = await metric(a.url, DROPPED);
      return checks;
    },
    async close() {
      const exited = new Promise((r) => a.child.once('exit', r));
      a.child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The agent's own CPU per operation above its idle rate, medians of the "on" samples. */
function agentCpuLines(ws: Workload[], r: Results): string[] {
  const idle = { user: median(idleRates.map((x) => x.user)), system: median(idleRates.map((x) => x.system)) };
  const lines = [
    `the agent's own CPU per operation above its idle rate (${fmt(((idle.user + idle.system) * 100))}% of a core idle: user ${fmt(idle.user * 100)}%, system ${fmt(idle.system * 100)}%):`,
    '| workload | agent µs per op (user + system) | user | system | op |',
    '| --- | ---: | ---: | ---: | --- |',
  ];
  for (const w of ws) {
    const per = (pick: (c: { user: number; system: number }) => number) => median(r.on.get(w.key)!.map((m) => {
      const c = m.collectorCpu!;
      return ((pick(c) - pick(idle) * c.settleS) / (m.sample.ops / opsPerUnit(w))) * 1e6;
    }));
    const user = per((c) => c.user);
    const system = per((c) => c.system);
    lines.push(`| ${w.name} | ${fmt(user + system)}${w.key === 'exec' ? ` (aim 10: ${user + system <= 10 ? 'ok' : 'ABOVE'})` : ''} | ${fmt(user)} | ${fmt(system)} | ${w.op} |`);
  }
  return [...lines, '', ...threadLines(ws, r)];
}

/**
 * The same by group of the agent's threads (user + system, each above its own idle rate): the
 * JavaScript thread, V8's helper threads (parallel and concurrent garbage collection,
 * compilation), the thread that reads the ring buffer, libuv's pool.
 */
function threadLines(ws: Workload[], r: Results): string[] {
  const idle = Object.fromEntries(THREAD_GROUPS.map((g) => [g, median(idleThreadRates.map((x) => x[g] ?? 0))]));
  const lines = [
    "the agent's own CPU per operation by thread (µs per op, user + system, above each one's idle rate; medians):",
    `| workload | ${THREAD_GROUPS.join(' | ')} | op |`,
    `| --- | ${THREAD_GROUPS.map(() => '---:').join(' | ')} | --- |`,
  ];
  for (const w of ws) {
    const cells = THREAD_GROUPS.map((g) => fmt(median(r.on.get(w.key)!.map((m) => {
      const used = m.collectorThreads?.[g] ?? 0;
      return ((used - idle[g]! * m.collectorCpu!.settleS) / (m.sample.ops / opsPerUnit(w))) * 1e6;
    }))));
    lines.push(`| ${w.name} | ${cells.join(' | ')} | ${w.op} |`);
  }
  return lines;
}

/** Runs the phase; returns the report's lines, or why it was skipped. */
export async function saturatedPhase(rounds: number, seconds: number, progress: (text: string) => void): Promise<string[]> {
  const support = checkKernelSupport();
  if (!support.ok) return [`saturated phase skipped: missing ${support.missing.join(', ')} (${support.hint})`];
  loadgen();
  // PROCFLOW_BENCH_WORKLOADS=exec (comma separated keys) runs only those workloads.
  const only = process.env.PROCFLOW_BENCH_WORKLOADS?.split(',').filter(Boolean);
  const ws = workloads(seconds).filter((w) => !only?.length || only.includes(w.key));
  const res = await interleavedRounds(ws, rounds, () => attach(ws), progress);
  const execs = (res.on.get('exec') ?? []).map((m) => m.checks ?? {});
  const seen = execs.reduce((a, c) => a + (c.execSeen ?? 0), 0);
  const started = execs.reduce((a, c) => a + (c.execStarted ?? 0), 0);
  const last = (k: string) => Math.max(0, ...(res.on.get('exec') ?? []).map((m) => m.checks?.[k] ?? 0));
  return [
    `the whole agent on saturated cores (${AGENT_ARGS.join(' ')}${AGENT_NODE === process.execPath ? '' : `; Node.js ${AGENT_NODE}`}; ${rounds} interleaved rounds of ${seconds} s, medians; ${WARMUP_S > 0 ? `each start warmed up by ${WARMUP_S} s of every workload, unmeasured` : 'measured from a fresh start, no warm-up'}; hooks: ${hooksLine})`,
    '',
    ...saturatedTable(ws, res),
    '',
    ...agentCpuLines(ws, res),
    // Without the exec workload there is nothing to count.
    ...(execs.length ? [`exec events the agent received / processes started: ${seen} / ${started} = ${(seen / Math.max(1, started)).toFixed(4)}; ring buffer drops (kernel) up to the last exec sample of a run: ${last('lost')}; dropped in user space: ${last('dropped')}`] : []),
  ];
}
