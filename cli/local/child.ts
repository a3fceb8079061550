// A procflow command run as a child process by `procflow local`: its output goes to a log file
// (the terminal belongs to the live view), the last lines are kept for error messages, and
// stop() sends SIGTERM once and waits (SIGKILL after a grace period).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROCFLOW_BIN = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));

export interface Child {
  name: string;
  pid: number;
  logFile: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** True once it has exited. */
  done(): boolean;
  tail(lines?: number): string;
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL, for a second Ctrl-C. */
  kill(): void;
}

export function startChild(name: string, argv: string[], env: NodeJS.ProcessEnv, logFile: string): Child {
  mkdirSync(dirname(logFile), { recursive: true });
  const log = createWriteStream(logFile, { flags: 'a' });
  // Its own process group: Ctrl-C reaches `procflow local` only, which then stops the children
  // in order (a second signal would make the indexer skip draining).
  const child: ChildProcess = spawn(process.execPath, [PROCFLOW_BIN, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let recent = '';
  const keep = (d: Buffer) => {
    log.write(d);
    recent = (recent + d.toString()).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let finished = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      finished = true;
      process.removeListener('exit', reap);
      log.end();
      resolve(code ?? signal ?? -1);
    });
    child.once('error', (err) => {
      finished = true;
      recent += `\n${err.message}`;
      log.end();
      resolve(-1);
    });
  });
  // If `procflow local` itself dies, do not leave the child behind.
  const reap = () => {
    if (!finished) child.kill('SIGKILL');
  };
  process.once('exit', reap);
  return {
    name,
    pid: child.pid ?? -1,
    logFile,
    exited,
    done: () => finished,
    tail: (lines = 12) => recent.trimEnd().split('\n').slice(-lines).join('\n'),
    kill: () => void (finished || child.kill('SIGKILL')),
    async stop(graceMs = 30_000) {
      if (finished) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
