// Helpers for tests on the real kernel: skip (with the reason) where the collector cannot run,
// fail instead under CI=true; an open collector that gathers events and drained flows; child
// processes whose pid is distinct from the test's.
import { spawn, type SpawnOptions } from 'node:child_process';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { skipOrFail } from './environment.js';
import {
  checkKernelSupport,
  openKernelCollector,
  type ExecEvent,
  type FlowRecord,
  type KernelCollectorOptions,
  type OpenKernelCollector,
  type ProcessEvent,
} from '../../native/index.js';

/** Why kernel tests cannot run here, or null when they can. */
export function kernelUnavailable(): string | null {
  const s = checkKernelSupport();
  if (s.ok) return null;
  return `kernel collector unavailable: missing ${s.missing.join(', ')}${s.addonError ? ` (${s.addonError})` : ''}`;
}

/** True when the test may go on; otherwise it was skipped (or failed, in CI). */
export function requireKernel(t: TestContext): boolean {
  const reason = kernelUnavailable();
  if (reason === null) return true;
  skipOrFail(t, reason);
  return false;
}

export interface Harness {
  collector: OpenKernelCollector;
  /** Every process event delivered so far. */
  events: ProcessEvent[];
  /** Every flow drained so far (drain() appends). */
  flows: FlowRecord[];
  drain(): FlowRecord[];
  /** Poll until `pred` holds (draining flows each round) or fail after `timeoutMs`. */
  waitFor(what: string, pred: () => boolean, timeoutMs?: number): Promise<void>;
  execOf(pid: number): ExecEvent[];
}

/** Open a collector for the test; it is closed after the test. */
export function openHarness(t: TestContext, opts: KernelCollectorOptions = {}): Harness {
  const collector = openKernelCollector(opts);
  t.after(() => collector.close());
  const events: ProcessEvent[] = [];
  const flows: FlowRecord[] = [];
  collector.start((batch) => {
    for (const e of batch) events.push(e);
  });
  const h: Harness = {
    collector,
    events,
    flows,
    drain() {
      const got = [...collector.drainFlows()];
      for (const f of got) flows.push(f);
      return got;
    },
    async waitFor(what, pred, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        h.drain();
        if (pred()) return;
        if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await delay(50);
      }
    },
    execOf(pid) {
      return events.filter((e): e is ExecEvent => e.kind === 'exec' && e.pid === pid);
    },
  };
  return h;
}

export interface ChildResult {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a program to completion (pid known as soon as it starts). */
export function runChild(file: string, args: string[], opts: SpawnOptions & { onSpawn?: (pid: number) => void } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('spawn', () => opts.onSpawn?.(child.pid ?? -1));
    child.once('close', (code, signal) => resolve({ pid: child.pid ?? -1, code, signal, stdout, stderr }));
  });
}

/** Sum of the counters of every drained flow that matches. */
export function totals(flows: FlowRecord[], pred: (f: FlowRecord) => boolean) {
  const t = { bytesOut: 0, bytesIn: 0, packetsOut: 0, packetsIn: 0, tcpStarted: 0, tcpCompleted: 0, n: 0 };
  for (const f of flows) {
    if (!pred(f)) continue;
    t.n++;
    t.bytesOut += f.bytesOut;
    t.bytesIn += f.bytesIn;
    t.packetsOut += f.packetsOut;
    t.packetsIn += f.packetsIn;
    t.tcpStarted += f.tcpStarted;
    t.tcpCompleted += f.tcpCompleted;
  }
  return t;
}

export const PYTHON = '/usr/bin/python3';
