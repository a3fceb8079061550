// Kernel collector overhead: each workload without and with the programs attached, in
// alternating (ABBA) rounds to fight noise on small machines, printing both rates and their
// ratio, plus the in-kernel cost per program run from kernel.bpf_stats_enabled.
//
//   npm run bench:kernel                  (node dist/bench/kernel-bench.js)
//   PROCFLOW_BENCH_ROUNDS=4 PROCFLOW_BENCH_SECONDS=2 ...
//
// Workloads run in child processes; this process hosts the collector the way the agent
// does (events consumed, flows drained every second).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer, connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../common/log.js';
import { checkKernelSupport, openKernelCollector, type HookMode, type OpenKernelCollector, type ProcessEvent } from '../native/index.js';
import { freePort } from '../common/net.js';

const log = createLogger('kernel-bench');
const SELF = fileURLToPath(import.meta.url);
const ROUNDS = Number(process.env.PROCFLOW_BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.PROCFLOW_BENCH_SECONDS ?? 2);
const EXECS = Number(process.env.PROCFLOW_BENCH_EXECS ?? 1500);

// ---- child roles -----------------------------------------------------------------------------

/** A request/response server: reads 64 bytes, answers 64 bytes, the client closes. */
async function churnServer(): Promise<void> {
  const reply = Buffer.alloc(64, 0x61);
  const server = createServer((s) => {
    s.on('data', () => s.write(reply));
    s.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
}

/** Connect, send a request, read the response, close; as many as fit in `seconds`, 4 at a time. */
async function churnClient(port: number, seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  const request = Buffer.alloc(64, 0x62);
  let done = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => s.write(request));
      s.once('data', () => {
        s.destroy();
        done++;
        resolve();
      });
      s.once('error', reject);
    });
  const worker = async () => {
    while (Date.now() < until) await one();
  };
  const start = process.hrtime.bigint();
  await Promise.all([worker(), worker(), worker(), worker()]);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${done / secs}\n`);
}

// ---- helpers -----------------------------------------------------------------------------------

function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d));
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    c.once('error', reject);
    c.once('close', (code) => resolve({ code, stdout, stderr, pid: c.pid ?? -1 }));
  });
}

async function firstLine(c: ChildProcess): Promise<string> {
  let buf = '';
  for await (const chunk of c.stdout!) {
    buf += String(chunk);
    if (buf.includes('\n')) return buf.split('\n')[0]!;
  }
  throw new Error('bench: child ended before printing its port');
}

/** Wait until something listens on `port`, without connecting (iperf3 -1 would take it as its client). */
async function waitListening(port: number, server: ChildProcess): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (let i = 0; i < 500; i++) {
    if (server.exitCode !== null) throw new Error(`bench: iperf3 -s exited (${server.exitCode}) before listening on ${port}`);
    for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
      const rows = readFileSync(f, 'utf8').split('\n');
      if (rows.some((r) => r.includes(`:${hex} `) && r.split(/\s+/)[4] === '0A')) return;
    }
    await delay(20);
  }
  throw new Error(`bench: nothing listens on ${port}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---- workloads ---------------------------------------------------------------------------------

interface Workload {
  name: string;
  unit: string;
  aim: number;
  /** One measurement; `c` is the collector when attached. */
  once(c: Collecting | null): Promise<number>;
}

/** The collector as the agent runs it: events consumed, flows drained each second. */
class Collecting {
  readonly events: ProcessEvent[] = [];
  private timer: NodeJS.Timeout;
  constructor(readonly collector: OpenKernelCollector) {
    collector.start((batch) => {
      for (const e of batch) this.events.push(e);
      if (this.events.length > 200_000) this.events.splice(0, 100_000);
    });
    this.timer = setInterval(() => collector.drainFlows(), 1000);
  }
  close(): void {
    clearInterval(this.timer);
    this.collector.drainFlows();
    this.collector.close();
  }
}

const iperfStream: Workload = {
  name: 'TCP stream (iperf3, loopback)',
  unit: 'Gbit/s',
  aim: 0.97,
  async once() {
    const port = await freePort();
    const server = spawn('iperf3', ['-s', '-1', '-p', String(port)], { stdio: 'ignore' });
    try {
      await waitListening(port, server);
      const r = await run('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', String(SECONDS), '-J']);
      if (r.code !== 0) throw new Error(`iperf3 failed: ${r.stderr || r.stdout.slice(0, 300)}`);
      const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
      return j.end.sum_received.bits_per_second / 1e9;
    } finally {
      server.kill();
    }
  },
};

const churn: Workload = {
  name: 'TCP connection churn',
  unit: 'conn/s',
  aim: 0.9,
  async once() {
    const server = spawn(process.execPath, [SELF, '--role', 'churn-server'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = Number(await firstLine(server));
      const r = await run(process.execPath, [SELF, '--role', 'churn-client', String(port), String(SECONDS)]);
      if (r.code !== 0) throw new Error(`churn client failed: ${r.stderr}`);
      return Number(r.stdout.trim());
    } finally {
      server.kill();
    }
  },
};

let execSeen = 0;
let execStarted = 0;
const execLoop: Workload = {
  name: 'fork+exec loop (/bin/true)',
  unit: 'exec/s',
  aim: 0.95,
  async once(c) {
    const script = `i=0; while [ $i -lt ${EXECS} ]; do /bin/true; i=$((i+1)); done`;
    const start = process.hrtime.bigint();
    const r = await run('/bin/sh', ['-c', script]);
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    if (r.code !== 0) throw new Error(`exec loop failed: ${r.stderr}`);
    if (c) {
      // Every /bin/true the shell started must show up as an exec event.
      const pid = r.pid;
      const count = () => c.events.filter((e) => e.kind === 'exec' && e.ppid === pid && e.filename === '/bin/true').length;
      for (let i = 0; i < 40 && count() < EXECS; i++) await delay(50);
      execSeen += count();
      execStarted += EXECS;
    }
    return EXECS / secs;
  },
};

const syscalls: Workload = {
  name: '1-byte read+write syscalls (dd bs=1)',
  unit: 'syscall/s',
  aim: 0,
  async once() {
    const n = 300_000;
    const start = process.hrtime.bigint();
    const r = await run('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${n}`]);
    if (r.code !== 0) throw new Error(`dd failed: ${r.stderr}`);
    return (2 * n) / (Number(process.hrtime.bigint() - start) / 1e9);
  },
};

// ---- in-kernel cost ----------------------------------------------------------------------------

interface ProgStat {
  name: string;
  runs: number;
  ns: number;
}

function progStats(): Map<number, ProgStat> {
  const list = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as {
    id: number;
    name?: string;
    run_time_ns?: number;
    run_cnt?: number;
  }[];
  return new Map(
    list.filter((p) => p.name?.startsWith('pf_')).map((p) => [p.id, { name: p.name!, runs: p.run_cnt ?? 0, ns: p.run_time_ns ?? 0 }]),
  );
}

/** In-kernel cost of one hook flavour: its programs' runs and time over one pass of every workload. */
interface FlavourCost {
  mode: HookMode;
  hooks: string;
  programs: ProgStat[];
  /** Why the flavour was not measured (this kernel cannot attach it). */
  skipped?: string;
}

const SOCKET_HOOKS = ['tcp_send', 'tcp_recv', 'udp_send', 'udp_recv'];

async function kernelCost(workloads: Workload[]): Promise<FlavourCost[]> {
  const path = '/proc/sys/kernel/bpf_stats_enabled';
  let previous: string;
  try {
    previous = readFileSync(path, 'utf8').trim();
    writeFileSync(path, '1');
  } catch (err) {
    log.warn({ err }, 'kernel.bpf_stats_enabled not available: no in-kernel cost figures');
    return [];
  }
  const out: FlavourCost[] = [];
  try {
    // Every socket-hook flavour this kernel can attach, each measured on its own.
    for (const mode of ['auto', 'tp_btf', 'tracepoint', 'fentry', 'kprobe'] as const) {
      const others = progStats();
      const c = new Collecting(openKernelCollector({ hookMode: mode }));
      try {
        const hooks = c.collector.hooks.map((h) => `${h.hook}=${h.via}`).join(' ');
        const off = c.collector.hooks.find((h) => SOCKET_HOOKS.includes(h.hook) && mode !== 'auto' && h.via !== mode);
        if (off) {
          out.push({ mode, hooks, programs: [], skipped: `${off.hook}: ${off.reason}` });
          continue;
        }
        // Only this collector's programs: another agent on the host may run its own.
        const before = new Map([...progStats()].filter(([id]) => !others.has(id)));
        for (const w of workloads.filter((x) => x.aim > 0)) await w.once(c);
        const programs: ProgStat[] = [];
        for (const [id, a] of progStats()) {
          const b = before.get(id);
          if (b && a.runs - b.runs > 0) programs.push({ name: a.name, runs: a.runs - b.runs, ns: a.ns - b.ns });
        }
        out.push({ mode, hooks, programs: programs.sort((x, y) => y.runs - x.runs) });
      } finally {
        c.close();
      }
    }
    return out;
  } finally {
    writeFileSync(path, previous);
  }
}

// ---- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const support = checkKernelSupport();
  if (!support.ok) {
    process.stdout.write(`kernel bench skipped: missing ${support.missing.join(', ')} (${support.hint})\n`);
    process.exitCode = 2;
    return;
  }
  try {
    execFileSync('iperf3', ['--version'], { stdio: 'ignore' });
  } catch {
    process.stdout.write('kernel bench: iperf3 is missing (apt-get install iperf3)\n');
    process.exitCode = 2;
    return;
  }
  // The last one has no aim: it shows the host-wide syscall tax of the syscall tracepoints.
  const workloads = [iperfStream, churn, execLoop, syscalls];
  const results = new Map<Workload, { off: number[]; on: number[] }>(workloads.map((w) => [w, { off: [], on: [] }]));
  let lost = 0;
  let droppedUser = 0;
  let hooks = '';
  for (let round = 0; round < ROUNDS; round++) {
    for (const w of workloads) {
      // ABBA: alternate which condition goes first.
      const order = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      for (const cond of order) {
        if (cond === 'off') {
          results.get(w)!.off.push(await w.once(null));
        } else {
          const c = new Collecting(openKernelCollector());
          hooks ||= c.collector.hooks.map((h) => `${h.hook}=${h.via}`).join(' ');
          try {
            results.get(w)!.on.push(await w.once(c));
            const k = c.collector.counters();
            lost += k.eventsLost;
            droppedUser += k.eventsDroppedUser;
          } finally {
            c.close();
          }
        }
      }
      log.info({ workload: w.name, round, ...results.get(w) }, 'round done');
    }
  }
  const cost = await kernelCost(workloads);

  const rows = workloads.map((w) => {
    const r = results.get(w)!;
    const off = median(r.off);
    const on = median(r.on);
    // Best of N: least disturbed by other load on the host.
    const bestRatio = Math.max(...r.on) / Math.max(...r.off);
    return { w, off, on, ratio: on / off, bestRatio };
  });
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2));
  const lines: string[] = [];
  lines.push(`kernel collector overhead (${ROUNDS} ABBA rounds, median; hooks: ${hooks})`);
  lines.push('');
  lines.push('| workload | without (median) | with (median) | unit | ratio (median) | ratio (best of N) | aim |');
  lines.push('| --- | ---: | ---: | --- | ---: | ---: | ---: |');
  for (const r of rows) {
    const mark = (x: number) => (r.w.aim ? `${x.toFixed(3)} ${x >= r.w.aim ? 'ok' : 'BELOW'}` : x.toFixed(3));
    lines.push(`| ${r.w.name} | ${fmt(r.off)} | ${fmt(r.on)} | ${r.w.unit} | ${mark(r.ratio)} | ${mark(r.bestRatio)} | ${r.w.aim || 'info'} |`);
  }
  lines.push('');
  lines.push(`exec events seen / processes started: ${execSeen} / ${execStarted} = ${(execSeen / Math.max(1, execStarted)).toFixed(4)}`);
  lines.push(`ring buffer drops (kernel): ${lost}; dropped in user space: ${droppedUser}`);
  if (cost.length) {
    lines.push('');
    lines.push('in-kernel cost per program run, per hook flavour (kernel.bpf_stats_enabled, one extra pass of every workload each):');
    lines.push('| flavour | program | runs | ns/run |');
    lines.push('| --- | --- | ---: | ---: |');
    for (const f of cost) {
      if (f.skipped) lines.push(`| ${f.mode} | (not attachable here: ${f.skipped.replace(/\|/g, '/')}) | | |`);
      for (const p of f.programs) lines.push(`| ${f.mode} | ${p.name} | ${p.runs} | ${(p.ns / p.runs).toFixed(0)} |`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

const role = process.argv.indexOf('--role');
if (role >= 0) {
  const which = process.argv[role + 1];
  if (which === 'churn-server') await churnServer();
  else if (which === 'churn-client') await churnClient(Number(process.argv[role + 2]), Number(process.argv[role + 3]));
} else {
  await main();
}
