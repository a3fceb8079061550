// The indexer as the benchmarks run it: `procflow indexer` in a child process (so its CPU and
// memory are its own), and agents' compressed batches posted to it by a few concurrent senders.
import { encodingOf } from '../common/batch-encoding.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const TOKEN = 'bench-token';

export interface RunningIndexer {
  url: string;
  child: ChildProcess;
  peakRssKiB(): number;
  /** User + system CPU seconds the indexer has used so far (all its threads). */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * Starts `procflow indexer` against `esUrl` with `args` and waits until it is ready.
 * BENCH_INDEXER_NODE_FLAGS (e.g. --max-semi-space-size=4, --cpu-prof) tries node settings on it.
 */
export async function spawnIndexer(esUrl: string, args: string[]): Promise<RunningIndexer> {
  const bin = fileURLToPath(new URL('../../bin/procflow.js', import.meta.url));
  const nodeFlags = (process.env.BENCH_INDEXER_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeFlags, bin, 'indexer', '--es-url', esUrl, '--listen', '127.0.0.1:0', '--log-level', 'warn', ...args], {
    env: { ...process.env, PROCFLOW_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  while (!(url = /listening on (http:\S+)/.exec(out)?.[1])) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`bench: the indexer did not start: ${out}`);
    await sleep(50);
  }
  for (;;) {
    const res = await fetch(`${url}/readyz`).catch(() => null);
    if (res?.ok) break;
    if (Date.now() > deadline) throw new Error(`bench: the indexer did not become ready: ${await res?.text()}`);
    await sleep(100);
  }
  const status = () => readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return {
    url,
    child,
    peakRssKiB: () => Number(/VmHWM:\s+(\d+)/.exec(status())?.[1] ?? 0),
    cpuSeconds: () => {
      // Fields 14 and 15 of /proc/<pid>/stat (utime, stime in clock ticks), after the command name.
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`bench: the indexer exited with ${code}`);
    },
  };
}

export function postBatch(agent: Agent, url: string, body: Buffer): Promise<{ status: number; retryAfter: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/flows`,
      {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson', 'content-encoding': encodingOf(body) ?? 'identity', 'content-length': body.length },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after'] ?? 1), text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Posts every batch (flow logs), `senders` at a time; a 503 is retried after its Retry-After. */
export async function sendBatches(url: string, batches: Buffer[], senders: number): Promise<{ seconds: number; retries: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: senders });
  let next = 0;
  let retries = 0;
  const sender = async () => {
    for (let i = next++; i < batches.length; i = next++) {
      for (;;) {
        const res = await postBatch(agent, url, batches[i]!);
        if (res.status === 200) break;
        if (res.status !== 503) throw new Error(`bench: the indexer answered ${res.status}: ${res.text}`);
        retries++;
        await sleep(res.retryAfter * 1000);
      }
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: senders }, sender));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  return { seconds, retries };
}
