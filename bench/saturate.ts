// Saturated-core workloads for bench:kernel and bench:agent: as many load generators as the
// machine has cores (bench/loadgen.c, each a single thread in a tight loop), in interleaved
// rounds without and with procflow, so what procflow costs shows up as throughput lost on busy
// cores rather than as the wake-up latency of idle ones.
//
// A sample counts the generators' operations and CPU time (getrusage; these kernels account the
// softirq work of loopback TCP to the task it interrupted, CONFIG_IRQ_TIME_ACCOUNTING is off)
// and the machine's busy time (/proc/stat) over the same window: what the generators and the
// collecting process did not use of it went to other processes, and a sample where that is
// more than a little is taken again.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcflowError } from '../common/errors.js';

const SOURCE = fileURLToPath(new URL('../../bench/loadgen.c', import.meta.url));
const BINARY = fileURLToPath(new URL('./loadgen', import.meta.url));

export class BenchError extends ProcflowError {
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super('BENCH_FAILED', `bench: ${message}`, hint, options);
    this.name = 'BenchError';
  }
}

/** The generator binary next to the compiled bench, built from bench/loadgen.c when missing or older. */
export function loadgen(): string {
  if (!existsSync(SOURCE)) throw new BenchError(`the load generator's source is missing (${SOURCE})`, 'run the bench from a procflow checkout built with npm run build');
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs) return BINARY;
  mkdirSync(dirname(BINARY), { recursive: true });
  try {
    execFileSync('cc', ['-O2', '-Wall', '-o', BINARY, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new BenchError(`compiling ${SOURCE} failed${stderr ? `: ${stderr}` : ''}`, 'install a C compiler (apt-get install gcc), which bootstrap installs with g++', { cause: err });
  }
  return BINARY;
}

export interface Workload {
  key: 'stream' | 'churn' | 'exec' | 'udp';
  name: string;
  /** Unit of the throughput column; `scale` turns operations per second into it. */
  unit: string;
  scale: number;
  /** Unit of one operation, for the per-operation columns. */
  op: string;
  /** The issue's aim for the share of throughput kept with procflow (none given for UDP). */
  aim?: number;
  args: string[];
}

/** The executable the exec workload runs (each generator forks and execs it, no arguments). */
export const EXEC_PATH = '/bin/true';

export function workloads(seconds: number): Workload[] {
  const s = String(seconds);
  return [
    { key: 'stream', name: 'loopback TCP stream (64 KiB writes)', unit: 'GB/s', scale: 1e-9, op: 'MB', aim: 0.99, args: ['stream', s, '65536'] },
    { key: 'churn', name: 'TCP connect/request/close', unit: 'conn/s', scale: 1, op: 'conn', aim: 0.95, args: ['churn', s] },
    { key: 'exec', name: `fork+exec+wait ${EXEC_PATH}`, unit: 'exec/s', scale: 1, op: 'exec', aim: 0.98, args: ['exec', s, EXEC_PATH] },
    // Unconnected sendto/recvfrom: every UDP hook runs per datagram (flows, peers, DNS capture).
    { key: 'udp', name: 'loopback UDP datagrams (512 B, unconnected sendto/recvfrom)', unit: 'dgram/s', scale: 1, op: 'dgram', args: ['udp', s, '512'] },
  ];
}

/** Operations of one unit of `op` (stream operations are bytes, counted per MB). */
export function opsPerUnit(w: Workload): number {
  return w.key === 'stream' ? 1e6 : 1;
}

/** Busy and total jiffies of all cores, from the first line of /proc/stat. */
export function cpuTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is inside user already)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** Clock ticks per second of /proc times (USER_HZ). */
export const USER_HZ = 100;

export interface Sample {
  ops: number;
  /** Sum of each generator's operations per second of its own run. */
  opsPerS: number;
  wallS: number;
  /** Busy CPU time of the whole machine over the window. */
  busyCpuS: number;
  /** The generators' own CPU time (getrusage, children included). */
  generatorCpuS: number;
  pids: number[];
}

interface Started {
  child: ChildProcess;
  out: Promise<string>;
}

function startGenerator(bin: string, args: string[]): Started {
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const out = new Promise<string>((resolve, reject) => {
    child.once('error', (err) => reject(new BenchError(`starting ${bin} failed: ${err.message}`, undefined, { cause: err })));
    child.once('close', (code) => (code === 0 ? resolve(stdout) : reject(new BenchError(`load generator ${args.join(' ')} exited ${code}: ${stderr.trim()}`))));
  });
  return { child, out };
}

async function ready(g: Started): Promise<void> {
  const stdout = g.child.stdout!;
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      seen += d;
      if (seen.includes('ready\n')) {
        stdout.off('data', onData);
        resolve();
      }
    };
    stdout.on('data', onData);
    g.out.catch(reject);
  });
}

/** One sample: `n` generators of `w` set up, started together, run, and counted. */
export async function runGenerators(w: Workload, n = availableParallelism()): Promise<Sample> {
  const bin = loadgen();
  const gens = Array.from({ length: n }, () => startGenerator(bin, w.args));
  try {
    await Promise.all(gens.map(ready));
  } catch (err) {
    for (const g of gens) g.child.kill();
    throw err;
  }
  const t0 = cpuTicks();
  const start = performance.now();
  for (const g of gens) g.child.stdin!.end('g');
  const results = (await Promise.all(gens.map((g) => g.out))).map((o) => JSON.parse(o.slice(o.indexOf('{'))) as { ops: number; seconds: number; user: number; system: number });
  const wallS = (performance.now() - start) / 1000;
  const t1 = cpuTicks();
  return {
    ops: results.reduce((a, r) => a + r.ops, 0),
    opsPerS: results.reduce((a, r) => a + r.ops / r.seconds, 0),
    wallS,
    busyCpuS: (t1.busy - t0.busy) / USER_HZ,
    generatorCpuS: results.reduce((a, r) => a + r.user + r.system, 0),
    pids: gens.map((g) => g.child.pid ?? -1),
  };
}

/** What runs while procflow is on: the collecting side and how to read its cost. */
export interface Attached {
  /** CPU seconds the collecting process has used so far (user, system). */
  cpu(): { user: number; system: number };
  /** CPU seconds (user + system) its live threads have used so far, by group of threads. */
  threads?(): Record<string, number>;
  /** After a sample: wait until the collector caught up; returns checks for the report. */
  settle(w: Workload, s: Sample): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export interface Measured {
  sample: Sample;
  /** CPU seconds of the collecting process over the sample and its settling (on only). */
  collectorCpu?: { user: number; system: number; settleS: number };
  /** The same CPU by group of threads, where the collector tells them apart (Attached.threads). */
  collectorThreads?: Record<string, number>;
  /** Busy CPU time of other processes during the sample (the machine's less the generators' and the collector's). */
  otherCpuS: number;
  checks?: Record<string, number>;
}

export interface Results {
  off: Map<Workload['key'], Measured[]>;
  on: Map<Workload['key'], Measured[]>;
  /** Samples taken again because other processes were busy during them. */
  retaken: number;
}

/** A sample during which other processes used more than this share of the machine is taken again. */
const OTHERS_MAX_SHARE = 0.05;
const ATTEMPTS = 2;

/**
 * Interleaved rounds: each round runs every workload without procflow and with it, the order
 * of the two alternating from round to round (ABBA), so drift on the host falls on both sides.
 * `attach` starts the collecting side afresh for each "on" half. The machine is shared: a
 * sample during which other processes were busy is taken again (once; the quieter of the two
 * one counts).
 */
export async function interleavedRounds(
  ws: Workload[], rounds: number, attach: () => Promise<Attached>, onSample?: (text: string) => void,
): Promise<Results> {
  const res: Results = { off: new Map(ws.map((w) => [w.key, []])), on: new Map(ws.map((w) => [w.key, []])), retaken: 0 };
  const cores = availableParallelism();
  for (let round = 0; round < rounds; round++) {
    for (const cond of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      const a = cond === 'on' ? await attach() : undefined;
      try {
        for (const w of ws) {
          // The quietest of the attempts.
          let best: Measured | undefined;
          for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
            const c0 = a?.cpu();
            const th0 = a?.threads?.();
            const t0 = performance.now();
            const sample = await runGenerators(w, cores);
            const cMid = a?.cpu();
            const checks = a ? await a.settle(w, sample) : undefined;
            const c1 = a?.cpu();
            const th1 = a?.threads?.();
            const during = c0 && cMid ? cMid.user + cMid.system - c0.user - c0.system : 0;
            const m: Measured = { sample, checks, otherCpuS: Math.max(0, sample.busyCpuS - sample.generatorCpuS - during) };
            if (c0 && c1) m.collectorCpu = { user: c1.user - c0.user, system: c1.system - c0.system, settleS: (performance.now() - t0) / 1000 };
            if (th0 && th1) m.collectorThreads = Object.fromEntries(Object.entries(th1).map(([g, s1]) => [g, s1 - (th0[g] ?? 0)]));
            onSample?.(`round ${round + 1}/${rounds} ${cond} ${w.key}: ${(sample.opsPerS * w.scale).toPrecision(4)} ${w.unit}, others ${fmt(m.otherCpuS)} CPU-s`);
            if (!best || m.otherCpuS < best.otherCpuS) best = m;
            if (m.otherCpuS <= OTHERS_MAX_SHARE * cores * sample.wallS) break;
            if (attempt < ATTEMPTS - 1) res.retaken++;
          }
          res[cond].get(w.key)!.push(best!);
        }
      } finally {
        await a?.close();
      }
    }
  }
  return res;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A number with three significant digits (or more before the point). */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  return n.toPrecision(3);
}

/** CPU seconds the generators and the collecting process spent on one sample. */
function ownCpuS(m: Measured): number {
  const c = m.collectorCpu;
  return m.sample.generatorCpuS + (c ? c.user + c.system : 0);
}

/**
 * The saturated-core table: throughput without and with, the share kept (the median over the
 * rounds of each round's with/without pair, and from CPU per operation) against the issue's
 * aim, and CPU per operation: the generators' (getrusage, which on these kernels includes the
 * softirq work done in their context) plus, with procflow, the collecting process's, over the
 * sample and its settling.
 */
export function saturatedTable(ws: Workload[], r: Results): string[] {
  const lines = [
    `| workload (${availableParallelism()} generators) | without | with | unit | kept: throughput | kept: CPU/op | aim | CPU-µs/op without | with | extra µs/op |`,
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const w of ws) {
    const off = r.off.get(w.key)!;
    const on = r.on.get(w.key)!;
    const kept = median(on.map((m, i) => m.sample.opsPerS / off[i]!.sample.opsPerS));
    const perOp = (m: Measured) => (ownCpuS(m) / (m.sample.ops / opsPerUnit(w))) * 1e6;
    const cpuOff = median(off.map(perOp));
    const cpuOn = median(on.map(perOp));
    const rate = (ms: Measured[]) => fmt(median(ms.map((m) => m.sample.opsPerS)) * w.scale);
    const mark = (x: number) => (w.aim === undefined ? x.toFixed(3) : `${x.toFixed(3)} ${x >= w.aim ? 'ok' : 'BELOW'}`);
    lines.push(`| ${w.name} | ${rate(off)} | ${rate(on)} | ${w.unit} | ${mark(kept)} | ${mark(cpuOff / cpuOn)} | ${w.aim ?? '-'} | ${fmt(cpuOff)} | ${fmt(cpuOn)} | ${fmt(cpuOn - cpuOff)} |`);
  }
  const others = median([...r.off.values(), ...r.on.values()].flat().map((m) => m.otherCpuS / (availableParallelism() * m.sample.wallS)));
  lines.push(`(CPU-µs per ${ws.map((w) => `${w.key}: ${w.op}`).join(', ')}; medians of the rounds. Other processes used ${(others * 100).toFixed(1)}% of the machine in the median sample; ${r.retaken} samples were taken again because others used more than ${OTHERS_MAX_SHARE * 100}%.`);
  lines.push(' "kept: CPU/op" is CPU per operation without over with: the throughput the cores would keep if they were all ours, which holds while other processes take a share of them)');
  return lines;
}
