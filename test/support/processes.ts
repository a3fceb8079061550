// Child processes for end-to-end tests: the procflow CLI and test programs, with their output
// captured for assertions and failure messages.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** The procflow CLI of this checkout. */
export const CLI = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));

export interface Started {
  child: ChildProcess;
  output: () => string;
}

/** Starts `node <args>` with stdout and stderr collected. */
export function start(args: string[], env: NodeJS.ProcessEnv = {}): Started {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

/** Polls `fn` until it returns a value; thrown errors count as "not yet" and are reported on timeout. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(500);
  }
  throw new Error(`e2e: timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** Runs a program to its end; its pid and exit code. */
export async function run(cmd: string, args: string[]): Promise<{ pid: number; code: number }> {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? -1)));
  return { pid: child.pid!, code };
}

export async function stop(p: Started | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill(signal);
  await exited;
}
