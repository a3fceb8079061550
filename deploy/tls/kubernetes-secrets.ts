// The procflow-certs Job (deploy/kubernetes/certs-job.yaml): keeps the CA, the indexer's server
// certificate and the agents' client certificate in three Secrets. It copies the Secrets that
// exist into a scratch directory, runs make-certs.sh there (which keeps what is still good and
// renews what expires soon), and writes back only the Secrets whose files changed: created
// when missing, else replaced with the resourceVersion it read, so two runs at once cannot
// interleave (the loser gets 409 and its Job retries). Pods that mount the Secrets see the new
// files within a minute or so, and the indexer and agents re-read them without a restart.
//
//   node dist/deploy/tls/kubernetes-secrets.js DIR [make-certs.sh options] NAME...
//
// In the cluster it uses the pod's service account (RBAC: deploy/kubernetes/certs-rbac.yaml).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeApi } from '../../agent/kubernetes/api-client.js';
import { ProcflowError } from '../../common/errors.js';
import { kubeRequest, type KubeConnection } from '../../local-services/kubernetes.js';

/** The Secrets, each with the subdirectory of make-certs.sh's DIR that holds its keys. */
export const CERT_SECRETS = [
  { name: 'procflow-ca', dir: 'ca' },
  { name: 'procflow-indexer-tls', dir: 'indexer' },
  { name: 'procflow-agent-tls', dir: 'agent' },
] as const;

export const MAKE_CERTS = fileURLToPath(new URL('../../../deploy/tls/make-certs.sh', import.meta.url));

export interface CertSecretsOptions {
  conn: KubeConnection;
  namespace: string;
  /** Scratch directory make-certs.sh works in (in the Job, a memory-backed emptyDir). */
  dir: string;
  /** make-certs.sh's options and the indexer's names. */
  args: string[];
  script?: string;
  log?: (line: string) => void;
}

export type SecretOutcome = 'created' | 'updated' | 'unchanged';

interface Secret {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

const fail = (what: string, status: number, body: string) =>
  new ProcflowError('CERT_SECRETS', `certs: ${what} answered ${status}: ${body.slice(0, 300)}`,
    status === 403 ? 'the procflow-certs service account may get, update and create only the Secrets procflow-ca, procflow-indexer-tls and procflow-agent-tls (certs-rbac.yaml)' : undefined);

/** Brings the three Secrets up to date; says what it did to each. */
export async function syncCertSecrets(o: CertSecretsOptions): Promise<Record<string, SecretOutcome>> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/secrets`;
  const existing = new Map<string, Secret>();
  for (const s of CERT_SECRETS) {
    const res = await kubeRequest(o.conn, 'GET', `${base}/${s.name}`);
    if (res.status === 404) continue;
    if (res.status !== 200) throw fail(`GET secret ${s.name}`, res.status, res.body);
    const secret = res.json<Secret>();
    existing.set(s.name, secret);
    mkdirSync(join(o.dir, s.dir), { recursive: true, mode: 0o700 });
    for (const [key, value] of Object.entries(secret.data ?? {})) writeFileSync(join(o.dir, s.dir, key), Buffer.from(value, 'base64'), { mode: 0o600 });
  }

  const made = spawnSync('sh', [o.script ?? MAKE_CERTS, o.dir, ...o.args], { encoding: 'utf8' });
  for (const line of `${made.stdout ?? ''}${made.stderr ?? ''}`.split('\n')) if (line) log(line);
  if (made.error || made.status !== 0) throw new ProcflowError('CERT_SECRETS', `certs: make-certs.sh failed (${made.error?.message ?? `exit ${made.status}`})`);

  const outcomes: Record<string, SecretOutcome> = {};
  for (const s of CERT_SECRETS) {
    const files = readdirSync(join(o.dir, s.dir)).filter((f) => !f.startsWith('.')).sort();
    const data = Object.fromEntries(files.map((f) => [f, readFileSync(join(o.dir, s.dir, f)).toString('base64')]));
    const old = existing.get(s.name);
    let outcome: SecretOutcome;
    if (!old) {
      const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: s.name, namespace: o.namespace, labels: { 'app.kubernetes.io/name': 'procflow', 'app.kubernetes.io/component': 'certs' } }, type: 'kubernetes.io/tls', data };
      const res = await kubeRequest(o.conn, 'POST', base, secret);
      if (res.status !== 201) throw fail(`creating secret ${s.name}`, res.status, res.body);
      outcome = 'created';
    } else if (JSON.stringify(Object.entries(old.data ?? {}).sort()) === JSON.stringify(Object.entries(data).sort())) {
      outcome = 'unchanged';
    } else {
      const res = await kubeRequest(o.conn, 'PUT', `${base}/${s.name}`, { ...old, data });
      if (res.status !== 200) throw fail(`updating secret ${s.name}`, res.status, res.body);
      outcome = 'updated';
    }
    outcomes[s.name] = outcome;
    log(`certs: secret ${s.name} ${outcome}`);
  }
  return outcomes;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [dir, ...args] = process.argv.slice(2);
  try {
    if (!dir || args.length === 0) throw new ProcflowError('USAGE', 'usage: kubernetes-secrets.js DIR [make-certs.sh options] NAME...');
    const tokenFile = join(SERVICE_ACCOUNT, 'token');
    const caFile = join(SERVICE_ACCOUNT, 'ca.crt');
    // The agent's client resolves the in-cluster URL and checks the service account is mounted.
    const url = new KubeApi({ apiUrl: '', tokenFile, caFile }).base.href;
    const conn = { url, caFile, token: readFileSync(tokenFile, 'utf8').trim() };
    await syncCertSecrets({ conn, namespace: readFileSync(join(SERVICE_ACCOUNT, 'namespace'), 'utf8').trim(), dir, args });
  } catch (err) {
    const e = err as ProcflowError;
    process.stderr.write(`${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}\n`);
    process.exitCode = 1;
  }
}
