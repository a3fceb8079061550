// A real Kubernetes API server on this machine, without Docker or a cluster: kube-apiserver and
// etcd built once from the Go module proxy (Go is on every machine of this kind; Kubernetes
// publishes no binaries through a registry we reach), then run on 127.0.0.1 with a throwaway
// CA, static bearer tokens and RBAC. There is no kubelet, scheduler or controller manager:
// callers write pod status themselves. Used by the tests of the agent's pod metadata.
//
// `node dist/local-services/kubernetes.js --ensure` builds the binaries (bootstrap runs it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeError, ProcflowError } from '../common/errors.js';
import { requestText } from '../common/http-client.js';
import { freePort } from '../common/net.js';
import { type Progress } from './elasticsearch.js';
import { goFor, goLong, goSync, toolDir, type GoTool } from './go-build.js';

/** A release whose staging modules (k8s.io/api, apiserver, ...) are published as v0.<minor>.<patch>. */
export const KUBERNETES_VERSION = process.env.PROCFLOW_KUBERNETES_VERSION ?? '1.34.4';
/** kube-apiserver's and etcd's build: Go caches and the toolchain under <cache>/kubernetes. */
const KUBE_BUILD: GoTool = { dir: 'kubernetes', code: 'LOCAL_KUBE', name: 'kubernetes', minGoMinor: 24, disk: '~4 GB' };

export interface KubernetesBinaries {
  apiserver: string;
  etcd: string;
  /** Versions actually built, e.g. { kubernetes: 'v1.34.4', etcd: 'v3.6.4' }. */
  versions: { kubernetes: string; etcd: string };
}

export const kubernetesDir = (): string => toolDir(KUBE_BUILD);
const binDir = () => join(kubernetesDir(), 'bin');
const stampFile = () => join(binDir(), 'versions.json');

/** The binaries when they are built for KUBERNETES_VERSION, else null (never builds). */
export function findKubernetesBinaries(): KubernetesBinaries | null {
  const apiserver = join(binDir(), 'kube-apiserver');
  const etcd = join(binDir(), 'etcd');
  try {
    const versions = JSON.parse(readFileSync(stampFile(), 'utf8')) as KubernetesBinaries['versions'];
    if (versions.kubernetes === `v${KUBERNETES_VERSION}` && existsSync(apiserver) && existsSync(etcd)) return { apiserver, etcd, versions };
  } catch {
    /* not built yet */
  }
  return null;
}

/**
 * The build module: k8s.io/kubernetes cannot be built with `go install pkg@version` because its
 * go.mod points every staging module (k8s.io/api, k8s.io/apiserver, ...) at ./staging. Ours
 * requires the release and replaces each of those with its published v0.<minor>.<patch> tag,
 * reading the list from the release's own go.mod so it follows whatever the release stages.
 */
function writeBuildModule(go: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const info = JSON.parse(goSync(KUBE_BUILD, go, ['mod', 'download', '-json', `k8s.io/kubernetes@v${KUBERNETES_VERSION}`], dir, `downloading k8s.io/kubernetes v${KUBERNETES_VERSION}`)) as { GoMod?: string; Error?: string };
  if (!info.GoMod) throw new ProcflowError('LOCAL_KUBE', `kubernetes: the Go module proxy has no k8s.io/kubernetes v${KUBERNETES_VERSION}: ${info.Error ?? 'no go.mod'}`, 'set PROCFLOW_KUBERNETES_VERSION to a published release');
  const upstream = readFileSync(info.GoMod, 'utf8');
  const staged = [...upstream.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)].map((m) => m[1]!);
  if (staged.length === 0) throw new ProcflowError('LOCAL_KUBE', `kubernetes: k8s.io/kubernetes v${KUBERNETES_VERSION}'s go.mod has no staging replacements to rewrite`, 'pick a 1.2x/1.3x release');
  const stagingVersion = `v0.${KUBERNETES_VERSION.split('.').slice(1).join('.')}`;
  const goMod = [
    'module procflow.local/kubernetes-build',
    '',
    'go 1.24.0',
    '',
    `require k8s.io/kubernetes v${KUBERNETES_VERSION}`,
    '',
    'replace (',
    ...staged.map((m) => `\t${m} => ${m} ${stagingVersion}`),
    ')',
    '',
  ].join('\n');
  const path = join(dir, 'go.mod');
  if (!existsSync(path) || readFileSync(path, 'utf8') !== goMod) {
    writeFileSync(path, goMod);
    rmSync(join(dir, 'go.sum'), { force: true });
  }
}

/**
 * Builds kube-apiserver and etcd (the etcd release Kubernetes itself is built against) once into
 * <cache>/kubernetes/bin. A cold build on two cores took 13-16 minutes (0.5 GB of modules, a
 * 2.2 GB Go build cache, 125 MB of binaries); with warm Go caches it only relinks.
 */
export async function ensureKubernetesBinaries(progress: Progress = () => {}): Promise<KubernetesBinaries> {
  const found = findKubernetesBinaries();
  if (found) return found;
  const go = goFor(KUBE_BUILD, progress);
  const buildDir = join(kubernetesDir(), 'build');
  progress(`building kube-apiserver v${KUBERNETES_VERSION} and etcd from the Go module proxy into ${binDir()}, once (a cold build takes tens of minutes)`);
  writeBuildModule(go, buildDir);
  mkdirSync(binDir(), { recursive: true });
  const k8sVersion = `v${KUBERNETES_VERSION}`;
  const [major, minor] = KUBERNETES_VERSION.split('.');
  // Without these the server reports v0.0.0-master, which kubectl and clients warn about.
  const v = 'k8s.io/component-base/version';
  const apiserverLd = `-s -w -X ${v}.gitVersion=${k8sVersion} -X ${v}.gitMajor=${major} -X ${v}.gitMinor=${minor} -X ${v}.gitTreeState=clean`;
  const tmpApiserver = join(binDir(), '.kube-apiserver.tmp');
  await goLong(KUBE_BUILD, go, ['build', '-v', `-ldflags=${apiserverLd}`, '-o', tmpApiserver, 'k8s.io/kubernetes/cmd/kube-apiserver'], buildDir, `building kube-apiserver ${k8sVersion}`, progress);
  const etcdVersion = goSync(KUBE_BUILD, go, ['list', '-m', '-f', '{{.Version}}', 'go.etcd.io/etcd/server/v3'], buildDir, 'resolving the etcd version').trim();
  const tmpEtcd = join(binDir(), '.etcd.tmp');
  await goLong(KUBE_BUILD, go, ['build', '-v', '-ldflags=-s -w', '-o', tmpEtcd, 'go.etcd.io/etcd/server/v3'], buildDir, `building etcd ${etcdVersion}`, progress);
  renameSync(tmpApiserver, join(binDir(), 'kube-apiserver'));
  renameSync(tmpEtcd, join(binDir(), 'etcd'));
  // Written last: an interrupted build is redone, never half-used.
  writeFileSync(stampFile(), JSON.stringify({ kubernetes: k8sVersion, etcd: etcdVersion }) + '\n');
  const built = findKubernetesBinaries();
  if (!built) throw new ProcflowError('LOCAL_KUBE', `kubernetes: the build finished but ${binDir()} is incomplete`, `remove ${binDir()} and run again`);
  return built;
}

/** Where to reach an API server and how to authenticate to it. */
export interface KubeConnection {
  url: string;
  token: string;
  /** PEM file of the CA that signed the server's certificate. */
  caFile: string;
}

export interface KubeResponse {
  status: number;
  body: string;
  json<T = unknown>(): T;
}

/** One HTTPS request to the API server (bearer token, the connection's CA). */
export async function kubeRequest(conn: KubeConnection, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { authorization: `Bearer ${conn.token}`, accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': contentType }) };
  const { status, text } = await requestText(new URL(path, conn.url), { method, headers, body: payload, ca: readFileSync(conn.caFile), timeoutMs: 30_000 });
  return { status, body: text, json: <T>() => JSON.parse(text) as T };
}

export interface LocalKubeUser {
  name: string;
  /** Generated when not given. */
  token?: string;
  groups?: string[];
}

export interface LocalKubernetesOptions {
  progress?: Progress;
  /** How long to wait for /readyz (default 120 s). */
  startTimeoutMs?: number;
  /** Extra users with static tokens (no groups = no permissions until a RoleBinding grants some). */
  users?: LocalKubeUser[];
}

export interface LocalKubernetes extends KubeConnection {
  /** A kubeconfig for kubectl and client libraries, as the admin user (system:masters). */
  kubeconfig: string;
  /** The admin token in a file, as the agent's --kubernetes-token-file reads it. */
  tokenFile: string;
  /** Token of each extra user, by name. */
  tokens: Record<string, string>;
  /** kube-apiserver's and etcd's output. */
  logFile: string;
  versions: KubernetesBinaries['versions'];
  stop(): Promise<void>;
}

function openssl(args: string[], what: string): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new ProcflowError('LOCAL_KUBE', `kubernetes: ${what} failed: ${r.error?.message ?? r.stderr.trim()}`, 'install openssl (apt-get install openssl)');
  }
}

/** A throwaway CA and a serving certificate for 127.0.0.1/localhost signed by it. */
function writeCertificates(pki: string): { ca: string; cert: string; key: string } {
  const ca = join(pki, 'ca.crt');
  const caKey = join(pki, 'ca.key');
  const cert = join(pki, 'apiserver.crt');
  const key = join(pki, 'apiserver.key');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '30', '-subj', '/CN=procflow-local-kubernetes-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], 'creating the CA');
  openssl(
    ['req', '-x509', ...ec, '-CA', ca, '-CAkey', caKey, '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=kube-apiserver',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc',
      '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature', '-addext', 'extendedKeyUsage=serverAuth'],
    'creating the serving certificate',
  );
  return { ca, cert, key };
}

const csvQuote = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** The waiting side of a child process: its exit code once it has exited. */
function watchExit(child: ChildProcess): { exited: () => number | null; done: Promise<void> } {
  let code: number | null = null;
  const done = new Promise<void>((resolve) => {
    child.once('exit', (c, sig) => ((code = c ?? (sig ? 128 : -1)), resolve()));
    child.once('error', () => ((code = -1), resolve()));
  });
  return { exited: () => code, done };
}

async function stopChild(child: ChildProcess, done: Promise<void>, exited: () => number | null): Promise<void> {
  if (exited() !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await done;
  clearTimeout(timer);
}

/** Starts etcd and kube-apiserver on free 127.0.0.1 ports; resolves once /readyz says ok. */
export async function startLocalKubernetes(opts: LocalKubernetesOptions = {}): Promise<LocalKubernetes> {
  const progress = opts.progress ?? (() => {});
  const bins = findKubernetesBinaries();
  if (!bins) {
    throw new ProcflowError('LOCAL_KUBE', `kubernetes: kube-apiserver v${KUBERNETES_VERSION} is not built in ${binDir()}`, 'run `bash scripts/bootstrap.sh` (or `node dist/local-services/kubernetes.js --ensure`) once');
  }
  const work = mkdtempSync(join(tmpdir(), 'procflow-kube-'));
  const pki = join(work, 'pki');
  mkdirSync(pki);
  const logFile = join(work, 'kubernetes.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  const children: Array<{ child: ChildProcess; done: Promise<void>; exited: () => number | null }> = [];
  // If the test process dies, do not leave the servers behind.
  const reap = () => {
    children.forEach(({ child, exited }) => exited() === null && child.kill('SIGKILL'));
    rmSync(work, { recursive: true, force: true });
  };
  process.once('exit', reap);
  const stop = async () => {
    // The API server first, so it does not log etcd going away.
    for (const c of [...children].reverse()) await stopChild(c.child, c.done, c.exited);
    process.removeListener('exit', reap);
    await new Promise<void>((r) => log.end(r));
    rmSync(work, { recursive: true, force: true });
  };
  const launch = (name: string, cmd: string, args: string[]) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = (d: Buffer) => log.write(d.toString().replace(/^(?=.)/gm, `[${name}] `));
    child.stdout!.on('data', prefix);
    child.stderr!.on('data', prefix);
    const w = { child, ...watchExit(child) };
    children.push(w);
    return w;
  };
  const logTail = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-20).join('\n') : '');

  try {
    const { ca, cert, key } = writeCertificates(pki);
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(pki, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(pki, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    const token = randomBytes(24).toString('hex');
    const users = [{ name: 'procflow-admin', token, groups: ['system:masters'] }, ...(opts.users ?? []).map((u) => ({ name: u.name, token: u.token ?? randomBytes(24).toString('hex'), groups: u.groups ?? [] }))];
    // token,user,uid,"group1,group2"
    writeFileSync(join(pki, 'tokens.csv'), users.map((u) => `${u.token},${u.name},${u.name},${csvQuote(u.groups.join(','))}`).join('\n') + '\n', { mode: 0o600 });

    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    progress(`starting etcd ${bins.versions.etcd} on ${etcdUrl}`);
    const etcd = launch('etcd', bins.etcd, [
      '--name=procflow', `--data-dir=${join(work, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, `--initial-cluster=procflow=${peerUrl}`,
      // Throwaway data: no fsync makes every write (and so every API call) much faster.
      '--unsafe-no-fsync', '--log-level=warn',
    ]);
    await waitFor(async () => {
      if (etcd.exited() !== null) throw new ProcflowError('LOCAL_KUBE', `kubernetes: etcd exited with code ${etcd.exited()}:\n${logTail()}`, 'a port clash or a full disk are the usual causes');
      const res = await fetch(`${etcdUrl}/health`).catch(() => null);
      return res?.ok === true;
    }, 30_000, 'etcd');

    const url = `https://127.0.0.1:${apiPort}`;
    progress(`starting kube-apiserver ${bins.versions.kubernetes} on ${url}`);
    const apiserver = launch('kube-apiserver', bins.apiserver, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
      `--tls-cert-file=${cert}`, `--tls-private-key-file=${key}`, `--cert-dir=${pki}`,
      `--client-ca-file=${ca}`,
      `--token-auth-file=${join(pki, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(pki, 'sa.pub')}`, `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/24',
      // No controller manager creates the "default" service account, so that plugin would
      // refuse every pod.
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true', '--profiling=false', '--v=0',
    ]);
    const conn = { url, token, caFile: ca };
    const deadline = opts.startTimeoutMs ?? 120_000;
    await waitFor(async () => {
      if (apiserver.exited() !== null) throw new ProcflowError('LOCAL_KUBE', `kubernetes: kube-apiserver exited with code ${apiserver.exited()}:\n${logTail()}`, `see ${logFile}`);
      const res = await kubeRequest(conn, 'GET', '/readyz').catch(() => null);
      return res?.status === 200;
    }, deadline, 'kube-apiserver /readyz');

    const kubeconfig = join(work, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(conn), { mode: 0o600 });
    const tokenFile = join(pki, 'admin.token');
    writeFileSync(tokenFile, token, { mode: 0o600 });
    progress(`Kubernetes API server is up at ${url} (kubectl --kubeconfig ${kubeconfig})`);
    const tokens = Object.fromEntries(users.slice(1).map((u) => [u.name, u.token]));
    return { ...conn, kubeconfig, tokenFile, tokens, logFile, versions: bins.versions, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitFor(ready: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new ProcflowError('LOCAL_KUBE', `kubernetes: ${what} not ready within ${timeoutMs / 1000}s`, 'a loaded machine starts slower; raise startTimeoutMs');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A kubeconfig for kubectl that reaches `conn` as its token's user. */
export function kubeconfigYaml(conn: KubeConnection): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: procflow-local',
    '  cluster:',
    `    server: ${conn.url}`,
    `    certificate-authority: ${conn.caFile}`,
    'users:',
    '- name: procflow-admin',
    '  user:',
    `    token: ${conn.token}`,
    'contexts:',
    '- name: procflow-local',
    '  context: {cluster: procflow-local, user: procflow-admin}',
    'current-context: procflow-local',
    '',
  ].join('\n');
}

// `node dist/local-services/kubernetes.js --ensure`: build the binaries ahead of the tests.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv.includes('--ensure')) {
  const say = (m: string) => process.stderr.write(`procflow: ${m}\n`);
  try {
    const bins = await ensureKubernetesBinaries(say);
    say(`kube-apiserver ${bins.versions.kubernetes} and etcd ${bins.versions.etcd} ready in ${binDir()}`);
  } catch (err) {
    say(describeError(err));
    process.exitCode = 1;
  }
}
