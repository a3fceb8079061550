// Kernel collector cost on saturated cores: as many load generators as cores (bench/saturate.ts)
// for a loopback TCP stream, connect/request/close churn and fork+exec, each without and with
// the BPF programs attached in interleaved rounds; then the in-kernel cost of every attached
// program, per hook flavour this kernel can attach, from the kernel's run-time statistics.
//
//   npm run bench:kernel                  (node dist/bench/kernel-bench.js; root, as the agent)
//   PROCFLOW_BENCH_ROUNDS=5 PROCFLOW_BENCH_SECONDS=3 PROCFLOW_BENCH_STATS_SECONDS=1.5 ...
//   PROCFLOW_BENCH_DNS=0                  (without the DNS capture programs, as `--dns=false`:
//                                          what they cost is the difference to a run with them)
//
// This process hosts the collector the way the agent does: the programs loaded and attached
// through the addon, process events consumed from the ring buffer, flows drained every second.
import { createLogger } from '../common/log.js';
import {
  HOOK_MODES, checkKernelSupport, enableRunTimeStats, openKernelCollector, type HookMode, type OpenKernelCollector, type ProcessEvent,
} from '../native/index.js';
import {
  EXEC_PATH, fmt, interleavedRounds, loadgen, median, opsPerUnit, runGenerators, saturatedTable, workloads,
  type Attached, type Results, type Sample, type Workload,
} from './saturate.js';

const log = createLogger('kernel-bench');
const ROUNDS = Number(process.env.PROCFLOW_BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.PROCFLOW_BENCH_SECONDS ?? 3);
const STATS_SECONDS = Number(process.env.PROCFLOW_BENCH_STATS_SECONDS ?? 1.5);
/** The collector's options beyond the hook mode: DNS capture on, as by default, unless PROCFLOW_BENCH_DNS=0. */
const COLLECTOR = { dns: process.env.PROCFLOW_BENCH_DNS !== '0' };

/** The collector as the agent runs it: events consumed, flows drained each second. */
class Collecting {
  /** Exec events of EXEC_PATH by parent pid: the generators' children. */
  private readonly execsByParent = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly collector: OpenKernelCollector) {
    collector.start((batch: ProcessEvent[]) => {
      for (const e of batch) {
        if (e.kind === 'exec' && e.filename === EXEC_PATH) this.execsByParent.set(e.ppid, (this.execsByParent.get(e.ppid) ?? 0) + 1);
      }
    });
    this.timer = setInterval(() => collector.drainFlows(), 1000);
  }

  /** Exec events seen from the children of `pids`, waiting up to 2 s for `expected` of them. */
  async execsSeen(pids: number[], expected: number): Promise<number> {
    const count = () => pids.reduce((a, p) => a + (this.execsByParent.get(p) ?? 0), 0);
    for (let i = 0; i < 40 && count() < expected; i++) await new Promise((r) => setTimeout(r, 50));
    const n = count();
    for (const p of pids) this.execsByParent.delete(p);
    return n;
  }

  close(): void {
    clearInterval(this.timer);
    this.collector.drainFlows();
    this.collector.close();
  }
}

let hooksLine = '';

async function attach(): Promise<Attached> {
  const c = new Collecting(openKernelCollector(COLLECTOR));
  hooksLine ||= c.collector.hooks.map((h) => `${h.hook}=${h.via}`).join(' ');
  const k0 = c.collector.counters();
  return {
    cpu: () => {
      const u = process.cpuUsage();
      return { user: u.user / 1e6, system: u.system / 1e6 };
    },
    async settle(w: Workload, s: Sample) {
      const checks: Record<string, number> = {};
      if (w.key === 'exec') {
        checks.execStarted = s.ops;
        checks.execSeen = await c.execsSeen(s.pids, s.ops);
      }
      return checks;
    },
    async close() {
      const k = c.collector.counters();
      lost += k.eventsLost - k0.eventsLost;
      droppedUser += k.eventsDroppedUser - k0.eventsDroppedUser;
      c.close();
    },
  };
}
let lost = 0;
let droppedUser = 0;

// ---- in-kernel cost per program ------------------------------------------------------------------

interface ProgramCost {
  name: string;
  section: string;
  /** Runs and ns per workload key. */
  byWorkload: Map<Workload['key'], { runs: number; ns: number }>;
}

interface FlavourCost {
  mode: HookMode;
  programs: ProgramCost[];
  /** Why the flavour was not measured: this kernel cannot attach it, or it attached the same programs as an earlier one. */
  skipped?: string;
}

/** The sections a forced flavour's own programs live in (auto: every program). */
const SECTIONS: Record<HookMode, string[]> = {
  auto: [''],
  tp_btf: ['tp_btf/'],
  raw_tp: ['raw_tp/'],
  tracepoint: ['tracepoint/'],
  fentry: ['fentry/', 'fexit/'],
  kprobe: ['kprobe/', 'kretprobe/'],
};

/** The issue's aims for item 2 (ns per run): socket send and receive hooks, and exec. */
function aimNs(program: string): number | undefined {
  if (/^pf_(tpb|tp|fx|kp|kr)_(tcp_|udp6?_)?send$/.test(program)) return 500;
  if (/^pf_(tpb|tp|fe|fx|kp|kr)_(recv|tcp_rbuf|udp6?_recv)$/.test(program)) return 500;
  if (/^pf_(tpb|tp)_exec$/.test(program)) return 2000;
  return undefined;
}

function stats(c: OpenKernelCollector): Map<string, { section: string; runs: number; ns: number }> {
  return new Map(c.programs().filter((p) => p.attached).map((p) => [p.name, { section: p.section, runs: p.runCount ?? 0, ns: p.runTimeNs ?? 0 }]));
}

async function flavourCosts(ws: Workload[]): Promise<FlavourCost[]> {
  let statsOn: { close(): void };
  try {
    statsOn = enableRunTimeStats();
  } catch (err) {
    log.warn({ err }, 'kernel bench: no in-kernel cost figures');
    return [];
  }
  const out: FlavourCost[] = [];
  let autoPrograms = '';
  try {
    for (const mode of HOOK_MODES) {
      let c: Collecting;
      try {
        c = new Collecting(openKernelCollector({ ...COLLECTOR, hookMode: mode }));
      } catch (err) {
        out.push({ mode, programs: [], skipped: (err as Error).message.split('\n')[0]! });
        continue;
      }
      try {
        const hooks = c.collector.hooks;
        if (mode !== 'auto' && !hooks.some((h) => h.via === mode)) {
          // The first hook that says why, without the list of flavours skipped before it.
          const h = hooks.find((x) => x.via === 'none' && x.reason);
          out.push({ mode, programs: [], skipped: `not attachable here: ${h ? `${h.hook}: ${h.reason.replace(/ \(skipped .*$/, '')}` : 'no hook has this flavour'}` });
          continue;
        }
        const names = c.collector.programs().filter((p) => p.attached).map((p) => p.name).sort().join(',');
        if (mode === 'auto') autoPrograms = names;
        else if (names === autoPrograms) {
          out.push({ mode, programs: [], skipped: 'the same programs as auto' });
          continue;
        }
        const costs = new Map<string, ProgramCost>();
        for (const w of ws) {
          const before = stats(c.collector);
          const s = await runGenerators(w);
          await c.execsSeen(s.pids, 0);
          for (const [name, a] of stats(c.collector)) {
            if (!SECTIONS[mode].some((prefix) => a.section.startsWith(prefix))) continue;
            const b = before.get(name);
            const runs = a.runs - (b?.runs ?? 0);
            if (runs <= 0) continue;
            const pc = costs.get(name) ?? { name, section: a.section, byWorkload: new Map() };
            pc.byWorkload.set(w.key, { runs, ns: a.ns - (b?.ns ?? 0) });
            costs.set(name, pc);
          }
        }
        out.push({ mode, programs: [...costs.values()].sort((x, y) => x.section.localeCompare(y.section) || x.name.localeCompare(y.name)) });
      } finally {
        c.close();
      }
    }
    return out;
  } finally {
    statsOn.close();
  }
}

/** Runs of a program in one workload below which its ns per run does not count against the aim. */
const MIN_JUDGED_RUNS = 100;

function costTable(ws: Workload[], costs: FlavourCost[]): string[] {
  const lines = [
    `| flavour | program | section | ${ws.map((w) => `${w.key} runs | ns/run`).join(' | ')} | aim ns/run |`,
    `| --- | --- | --- | ${ws.map(() => '---: | ---:').join(' | ')} | ---: |`,
  ];
  for (const f of costs) {
    if (f.skipped) {
      lines.push(`| ${f.mode} | (${f.skipped.replace(/\|/g, '/')}) | | ${ws.map(() => ' | ').join(' | ')} | |`);
      continue;
    }
    for (const p of f.programs) {
      const cells = ws.map((w) => {
        const x = p.byWorkload.get(w.key);
        return x ? `${x.runs} | ${fmt(x.ns / x.runs)}` : ' | ';
      });
      const aim = aimNs(p.name);
      // Judged where the program runs in earnest: a handful of runs (an exec while the stream
      // starts) measure a cold cache, not the program.
      const judged = [...p.byWorkload.values()].filter((x) => x.runs >= MIN_JUDGED_RUNS);
      const worst = Math.max(...(judged.length ? judged : [...p.byWorkload.values()]).map((x) => x.ns / x.runs));
      lines.push(`| ${f.mode} | ${p.name} | ${p.section} | ${cells.join(' | ')} | ${aim ? `${aim} ${worst <= aim ? 'ok' : 'ABOVE'}` : ''} |`);
    }
  }
  return lines;
}

function collectorCpuLine(ws: Workload[], r: Results): string {
  const parts = ws.map((w) => {
    const per = r.on.get(w.key)!.map((m) => ((m.collectorCpu!.user + m.collectorCpu!.system) / (m.sample.ops / opsPerUnit(w))) * 1e6);
    return `${w.key} ${fmt(median(per))} µs/${w.op}`;
  });
  return `this process (ring buffer, decoding, flow drains; included above): ${parts.join(', ')}`;
}

async function main(): Promise<void> {
  const support = checkKernelSupport();
  if (!support.ok) {
    process.stdout.write(`kernel bench skipped: missing ${support.missing.join(', ')} (${support.hint})\n`);
    process.exitCode = 2;
    return;
  }
  loadgen();
  const ws = workloads(SECONDS);
  const res = await interleavedRounds(ws, ROUNDS, attach, (text) => log.info(text));
  const costs = await flavourCosts(workloads(STATS_SECONDS));

  const execs = res.on.get('exec')!.map((m) => m.checks ?? {});
  const seen = execs.reduce((a, c) => a + (c.execSeen ?? 0), 0);
  const started = execs.reduce((a, c) => a + (c.execStarted ?? 0), 0);
  const lines: string[] = [];
  lines.push(`kernel collector on saturated cores (${ROUNDS} interleaved rounds of ${SECONDS} s, medians; hooks: ${hooksLine})`);
  lines.push('');
  lines.push(...saturatedTable(ws, res));
  lines.push(collectorCpuLine(ws, res));
  lines.push(`exec events seen / processes started: ${seen} / ${started} = ${(seen / Math.max(1, started)).toFixed(4)}; ring buffer drops (kernel): ${lost}; dropped in user space: ${droppedUser}`);
  if (costs.length) {
    lines.push('');
    lines.push(`in-kernel cost per program run, per hook flavour (BPF run-time statistics, ${STATS_SECONDS} s of each workload per flavour; the statistics' own two clock reads are included):`);
    lines.push(...costTable(ws, costs));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
