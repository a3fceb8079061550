// Runs deploy/tls/make-certs.sh (the compose certs step, the Kubernetes procflow-certs Job) for
// tests, and reads what it made.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAKE_CERTS } from '../../deploy/tls/kubernetes-secrets.js';

export interface MakeCertsRun {
  status: number | null;
  output: string;
}

/** `sh make-certs.sh ...args`, with its exit status and output (stdout, then stderr). */
export function runMakeCerts(args: string[]): MakeCertsRun {
  const r = spawnSync('sh', [MAKE_CERTS, ...args], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export interface Certs {
  dir: string;
  read(path: string): Buffer;
  remove(): void;
}

/** make-certs.sh run into a new temporary directory with `names` (and options); throws when it fails. */
export function makeCerts(names: string[], options: string[] = []): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-certs-'));
  const r = runMakeCerts([...options, dir, ...names]);
  if (r.status !== 0) throw new Error(`make-certs.sh exited ${r.status}:\n${r.output}`);
  return { dir, read: (p) => readFileSync(join(dir, p)), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
