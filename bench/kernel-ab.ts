// Two or more builds of the kernel programs compared in one run: for each workload, rounds of
// no collector and each build's addon in turn (the order rotated each round), every measurement
// in a child process of its own (an addon loads once per process), with the in-kernel ns per run
// of every attached program from the run-time statistics.
//
//   node dist/bench/kernel-ab.js BASE.node NEW.node [...]     (root; copies of native/build/Release/procflow.node)
//   A build named `X.node:nodns` runs without the DNS capture (as `--dns=false`), to see what it costs.
//   PROCFLOW_BENCH_ROUNDS=5 PROCFLOW_BENCH_SECONDS=3 PROCFLOW_BENCH_WORKLOADS=churn,stream ...
//   PROCFLOW_BENCH_STATS=0 measures without the kernel's run-time statistics (no ns per run then):
//   they read the clock twice per program run, which on a VM lowers what is kept by several
//   percent (churn 0.815 with them, 0.874 without, the same build).
import { execFileSync } from 'node:child_process';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, median, opsPerUnit, runGenerators, workloads, type Workload } from './saturate.js';

const ROUNDS = Number(process.env.PROCFLOW_BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.PROCFLOW_BENCH_SECONDS ?? 3);
const KEYS = (process.env.PROCFLOW_BENCH_WORKLOADS ?? 'churn,stream').split(',');
const OFF = 'off';
const STATS = process.env.PROCFLOW_BENCH_STATS !== '0';

interface One {
  opsPerS: number;
  /** Busy CPU of the whole machine per operation unit. */
  cpuPerOp: number;
  /** The generators' own CPU (system time includes the programs run in their context) per operation unit. */
  genCpuPerOp: number;
  /** Program name -> ns per run. */
  ns: Record<string, number>;
  /** Program name -> runs per operation unit. */
  runs: Record<string, number>;
  /** The programs' run time in all, ns per operation unit (what the statistics see; not the hooks' dispatch). */
  progNsPerOp: number;
}

const NO_DNS = ':nodns';

function workload(key: string): Workload {
  const w = workloads(SECONDS).find((x) => x.key === key);
  if (!w) throw new Error(`unknown workload ${key}: choose from ${workloads(SECONDS).map((x) => x.key).join(', ')}`);
  return w;
}

/** In the child: one measurement of `w`, with the collector of `addon` attached unless OFF. */
async function measureOne(addon: string, w: Workload): Promise<One> {
  let stop = () => {};
  let stats = () => new Map<string, { runs: number; ns: number }>();
  if (addon !== OFF) {
    // Read when the addon first loads: before the import.
    process.env.PROCFLOW_NATIVE_ADDON = addon.endsWith(NO_DNS) ? addon.slice(0, -NO_DNS.length) : addon;
    const native = await import('../native/index.js');
    const statsOn = STATS ? native.enableRunTimeStats() : { close() {} };
    const c = native.openKernelCollector({ dns: !addon.endsWith(NO_DNS) });
    c.start(() => {});
    const timer = setInterval(() => c.drainFlows(), 1000);
    stats = () => new Map(c.programs().filter((p) => p.attached).map((p) => [p.name, { runs: p.runCount ?? 0, ns: p.runTimeNs ?? 0 }]));
    stop = () => {
      clearInterval(timer);
      c.drainFlows();
      c.close();
      statsOn.close();
    };
  }
  const before = stats();
  const s = await runGenerators(w);
  const ns: Record<string, number> = {};
  const runs: Record<string, number> = {};
  let progNs = 0;
  for (const [name, a] of stats()) {
    const b = before.get(name) ?? { runs: 0, ns: 0 };
    if (a.runs > b.runs) ns[name] = (a.ns - b.ns) / (a.runs - b.runs);
    runs[name] = a.runs - b.runs;
    progNs += a.ns - b.ns;
  }
  stop();
  const units = s.ops / opsPerUnit(w);
  for (const name of Object.keys(runs)) runs[name]! /= units;
  return { opsPerS: s.opsPerS, cpuPerOp: s.busyCpuS / units, genCpuPerOp: s.generatorCpuS / units, ns, runs, progNsPerOp: progNs / units };
}

function spawnOne(addon: string, key: string): One {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--one', addon, key], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as One;
}

function report(key: string, addons: string[], got: Map<string, One[]>): string[] {
  const w = workload(key);
  const off = got.get(OFF)!;
  const offRate = median(off.map((x) => x.opsPerS));
  const offCpu = median(off.map((x) => x.cpuPerOp));
  const offGen = median(off.map((x) => x.genCpuPerOp));
  const programs = [...new Set(addons.flatMap((a) => got.get(a)!.flatMap((x) => Object.keys(x.ns))))]
    .filter((p) => /_(send|recv|state|tcp_rbuf)$|^pf_dm_|^pf_dns_|^pf_cg_/.test(p)).sort();
  const nsOf = (a: string, p: string) => median(got.get(a)!.filter((x) => x.ns[p] !== undefined).map((x) => x.ns[p]!));
  const lines = [
    `${w.name}: without procflow ${fmt(offRate * w.scale)} ${w.unit}, ${fmt(offCpu * 1e6)} µs CPU per ${w.op} (machine), ${fmt(offGen * 1e6)} (generators)`,
    `| build | ${w.unit} | kept | CPU per ${w.op} (µs) | kept (CPU) | generators' CPU per ${w.op} (µs) | kept (generators' CPU) | programs' run time per ${w.op} (µs) |${programs.map((p) => ` ${p} ns/run (runs per ${w.op}) |`).join('')}`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${programs.map(() => ' ---: |').join('')}`,
  ];
  for (const a of addons) {
    const on = got.get(a)!;
    const rate = median(on.map((x) => x.opsPerS));
    const cpu = median(on.map((x) => x.cpuPerOp));
    const gen = median(on.map((x) => x.genCpuPerOp));
    const cells = programs.map((p) => {
      if (!on.some((x) => x.ns[p] !== undefined)) return '-';
      const base = nsOf(addons[0]!, p);
      const ratio = a === addons[0] || !Number.isFinite(base) ? '' : ` (${(nsOf(a, p) / base).toFixed(2)})`;
      return `${fmt(nsOf(a, p))}${ratio} ×${fmt(median(on.map((x) => x.runs[p] ?? 0)))}`;
    });
    const progUs = median(on.map((x) => x.progNsPerOp)) / 1e3;
    lines.push(`| ${basename(a)} | ${fmt(rate * w.scale)} | ${(rate / offRate).toFixed(3)} | ${fmt(cpu * 1e6)} | ${(offCpu / cpu).toFixed(3)} | ${fmt(gen * 1e6)} | ${(offGen / gen).toFixed(3)} | ${STATS ? fmt(progUs) : '-'} |${cells.map((c) => ` ${c} |`).join('')}`);
  }
  return lines;
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--one') {
    process.stdout.write(`${JSON.stringify(await measureOne(argv[1]!, workload(argv[2]!)))}\n`);
    return;
  }
  if (argv.length < 1) throw new Error('usage: kernel-ab.js ADDON.node [ADDON.node ...]');
  const variants = [OFF, ...argv];
  const lines: string[] = [`${ROUNDS} rounds of ${SECONDS} s per build and workload, order rotated each round; medians (${STATS ? 'ratios: ns per run against the first build' : 'without run-time statistics: no ns per run'})`];
  for (const key of KEYS) {
    const got = new Map<string, One[]>(variants.map((v) => [v, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < variants.length; i++) {
        const v = variants[(i + r) % variants.length]!;
        got.get(v)!.push(spawnOne(v, key));
        process.stderr.write(`kernel-ab: round ${r + 1}/${ROUNDS} ${key} ${basename(v)}\n`);
      }
    }
    lines.push('', ...report(key, argv, got));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main(process.argv.slice(2));
