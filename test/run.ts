// The test command: one real Elasticsearch for the whole run (unless PROCFLOW_ES_URL points at
// one), then node's test runner over every suite, one file at a time so suites that share the
// cluster or the kernel do not race. Extra arguments select suites (e.g. `unit integration`).
// `kernels` is the kernel matrix (test/matrix/run-matrix.ts), run last as a child of its own: it
// boots each supported kernel under qemu and runs the kernel suites inside, against the same
// Elasticsearch (guests reach the host's 127.0.0.1 as 10.0.2.2).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { getTestCluster } from './support/elasticsearch.js';
import { IN_CI } from './support/environment.js';
import { getTestKubernetes } from './support/kubernetes.js';
import { suiteFiles } from './support/suites.js';

const SUITES = ['unit', 'integration', 'kernel', 'e2e', 'kernels'];
const MATRIX = 'kernels';
const root = fileURLToPath(new URL('.', import.meta.url));

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : SUITES;
const dirs = wanted.filter((s) => s !== MATRIX).map((s) => join(root, s)).filter((d) => existsSync(d));

let stop = async () => {};
if (!process.env.PROCFLOW_ES_URL && wanted.some((s) => s !== 'unit')) {
  process.stderr.write('test: starting Elasticsearch for this run\n');
  const res = await getTestCluster();
  if (res.cluster) {
    process.env.PROCFLOW_ES_URL = res.cluster.url;
    stop = () => res.cluster.stop();
    process.stderr.write(`test: Elasticsearch at ${res.cluster.url}\n`);
  } else {
    process.stderr.write(`test: ${res.reason}; suites that need it will skip${IN_CI ? ' (and fail, CI=true)' : ''}\n`);
  }
}

// One kube-apiserver (with etcd) for the suites that name pods, shared like Elasticsearch.
let stopKube = async () => {};
if (!process.env.PROCFLOW_KUBE_URL && wanted.some((s) => s === 'integration' || s === 'e2e')) {
  process.stderr.write('test: starting kube-apiserver for this run\n');
  try {
    const res = await getTestKubernetes();
    if (res.kube) {
      Object.assign(process.env, { PROCFLOW_KUBE_URL: res.kube.url, PROCFLOW_KUBE_TOKEN: res.kube.token, PROCFLOW_KUBE_CA_FILE: res.kube.caFile });
      stopKube = () => res.kube.stop();
      process.stderr.write(`test: kube-apiserver at ${res.kube.url}\n`);
    } else {
      process.stderr.write(`test: ${res.reason}; suites that need it will skip\n`);
    }
  } catch (err) {
    process.stderr.write(`test: ${(err as Error).message}; suites that need it will fail (CI=true)\n`);
  }
}

const runChild = async (args: string[]): Promise<number> => {
  const child = spawn(process.execPath, args, { stdio: 'inherit', env: process.env });
  return new Promise((r) => child.once('exit', (c, sig) => r(c ?? (sig ? 1 : 0))));
};
let code = 0;
if (dirs.length > 0 || !wanted.includes(MATRIX)) code = await runChild(['--test', '--test-reporter=spec', '--test-concurrency=1', ...dirs.map(suiteFiles)]);
if (wanted.includes(MATRIX)) {
  process.stderr.write('test: kernel matrix (guests boot one at a time)\n');
  const matrixCode = await runChild([join(root, 'matrix', 'run-matrix.js')]);
  code = code || matrixCode;
}
await stopKube();
await stop();
process.exitCode = code;
