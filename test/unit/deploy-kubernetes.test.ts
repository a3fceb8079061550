// The Kubernetes manifests, checked without a cluster: every file parses, kustomization lists
// them all, the agent DaemonSet is privileged on the host pid and network, the indexer has a
// Deployment and a Service that selects it, secrets referenced exist, and every container's
// procflow command, flags and PROCFLOW_* variables exist in the CLI's settings tables (with the
// Secret's sample values filled in). Probe paths are asked of the real indexer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { pino } from 'pino';
import { invocationProblems, isPlaceholder, loadCommand } from '../../localstack/invocation.js';
import { startIndexer } from '../../indexer/index.js';
import { withDefaults } from '../../indexer/options.js';
import { skipOrFail } from '../support/environment.js';

const dir = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url));

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: unknown };
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env?: EnvVar[];
  securityContext?: { privileged?: boolean; runAsUser?: number };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  livenessProbe?: { httpGet: { path: string; port: string | number } };
  readinessProbe?: { httpGet: { path: string; port: string | number } };
  ports?: Array<{ name: string; containerPort: number }>;
}
interface PodSpec {
  hostPID?: boolean;
  hostNetwork?: boolean;
  dnsPolicy?: string;
  containers: Container[];
  volumes?: Array<{ name: string; hostPath?: { path: string } }>;
}
interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: { selector?: { matchLabels?: Record<string, string> } & Record<string, string>; template?: { metadata: { labels: Record<string, string> }; spec: PodSpec }; ports?: Array<{ port: number; targetPort: string | number }> };
  stringData?: Record<string, string>;
  resources?: string[];
}

const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
const docs: Array<Manifest & { file: string }> = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => {
    assert.deepEqual(d.errors, [], file);
    return { ...(d.toJSON() as Manifest), file };
  }),
);
const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
const secret = find('Secret', 'procflow')!;

test('the manifests parse and the kustomization lists every file', () => {
  const kustomization = docs.find((d) => d.kind === 'Kustomization')!;
  assert.deepEqual([...kustomization.resources!].sort(), files.filter((f) => f !== 'kustomization.yaml').sort());
  for (const kind of ['Namespace', 'Secret', 'Job', 'Deployment', 'Service', 'DaemonSet']) assert.ok(docs.some((d) => d.kind === kind), kind);
  for (const d of docs) if (!['Namespace', 'Kustomization', 'ClusterRole', 'ClusterRoleBinding'].includes(d.kind)) assert.equal(d.metadata.namespace, 'procflow', `${d.kind}/${d.metadata.name}`);
});

test('the agent DaemonSet is privileged with host pid and network, tracefs, cgroups and a spool', () => {
  const ds = find('DaemonSet', 'procflow-agent')!;
  const pod = ds.spec!.template!.spec;
  assert.equal(pod.hostPID, true);
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet', 'resolves the indexer Service on the host network');
  const c = pod.containers[0]!;
  assert.equal(c.securityContext?.privileged, true);
  const mounts = new Map(c.volumeMounts!.map((m) => [m.mountPath, m.name]));
  for (const p of ['/sys/kernel/tracing', '/sys/kernel/debug', '/sys/fs/cgroup', '/var/lib/procflow']) assert.ok(mounts.has(p), `mounts ${p}`);
  for (const name of mounts.values()) assert.ok(pod.volumes!.some((v) => v.name === name && v.hostPath), `volume ${name} is a hostPath`);
  assert.deepEqual(ds.spec!.selector!.matchLabels, ds.spec!.template!.metadata.labels);
});

test('the agent ships to the indexer Service with the shared token', () => {
  const agent = find('DaemonSet', 'procflow-agent')!.spec!.template!.spec.containers[0]!;
  const url = new URL(agent.args[agent.args.indexOf('--indexer-url') + 1]!);
  const svc = find('Service', url.hostname.split('.')[0]!);
  assert.ok(svc, `Service ${url.hostname}`);
  assert.equal(url.hostname, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
  assert.ok(svc.spec!.ports!.some((p) => String(p.port) === url.port));
  const dep = find('Deployment', 'procflow-indexer')!;
  for (const [k, v] of Object.entries(svc.spec!.selector!)) assert.equal(dep.spec!.template!.metadata.labels[k], v, 'the Service selects the indexer pods');
  const tokenOf = (c: Container) => c.env!.find((e) => e.name === 'PROCFLOW_TOKEN')!.valueFrom!.secretKeyRef;
  assert.deepEqual(tokenOf(agent), tokenOf(dep.spec!.template!.spec.containers[0]!));
});

test('every secret reference names a key of the Secret', () => {
  for (const d of docs) {
    for (const c of d.spec?.template?.spec.containers ?? []) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        assert.equal(ref.name, secret.metadata.name, `${d.metadata.name}/${e.name}`);
        assert.ok(ref.key in secret.stringData!, `${d.metadata.name}/${e.name}: the Secret has ${ref.key}`);
      }
    }
  }
});

test('every container runs a procflow command with flags and variables the CLI knows', async (t) => {
  const containers = docs.flatMap((d) => (d.spec?.template?.spec.containers ?? []).map((c) => ({ owner: `${d.kind}/${d.metadata.name}`, c })));
  assert.equal(containers.length, 3);
  for (const { owner, c } of containers) {
    assert.match(c.image, /^procflow:/, owner);
    const cmd = await loadCommand(c.args[0]!);
    assert.ok(cmd, `${owner}: procflow ${c.args[0]} exists`);
    if (isPlaceholder(cmd)) {
      skipOrFail(t, `procflow ${c.args[0]} (${owner}) is still a placeholder; its flags cannot be checked yet`);
      continue;
    }
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? (e.valueFrom?.fieldRef ? 'node-1' : secret.stringData![e.valueFrom!.secretKeyRef!.key]!)]));
    assert.deepEqual(await invocationProblems(c.args, env), [], owner);
  }
});

test('the indexer probes ask paths the real indexer serves, on its named port', async (t) => {
  const c = find('Deployment', 'procflow-indexer')!.spec!.template!.spec.containers[0]!;
  const port = c.ports![0]!;
  assert.equal(c.livenessProbe!.httpGet.port, port.name);
  assert.equal(c.readinessProbe!.httpGet.port, port.name);
  assert.ok(c.args.includes(`0.0.0.0:${port.containerPort}`), 'the indexer listens on the container port');
  const indexer = await startIndexer(withDefaults({ es_url: 'http://127.0.0.1:1', token: 't', listen: '127.0.0.1:0', install_templates: false }), { log: pino({ level: 'silent' }) });
  t.after(() => indexer.close());
  assert.equal((await fetch(`${indexer.url}${c.livenessProbe!.httpGet.path}`)).status, 200, 'liveness answers while Elasticsearch is down');
  const ready = await fetch(`${indexer.url}${c.readinessProbe!.httpGet.path}`);
  assert.equal(ready.status, 503, 'readiness says no while Elasticsearch is unreachable');
});

test('the agent runs under a service account that may list and watch pods, as --kubernetes needs', () => {
  const ds = find('DaemonSet', 'procflow-agent')!;
  const pod = ds.spec!.template!.spec as PodSpec & { serviceAccountName?: string };
  assert.ok(pod.containers[0]!.args.includes('--kubernetes'));
  const sa = find('ServiceAccount', pod.serviceAccountName ?? '');
  assert.ok(sa, `ServiceAccount ${pod.serviceAccountName}`);
  const binding = docs.find((d) => d.kind === 'ClusterRoleBinding' && (d as unknown as { subjects: { kind: string; name: string; namespace: string }[] }).subjects
    .some((s) => s.kind === 'ServiceAccount' && s.name === sa.metadata.name && s.namespace === sa.metadata.namespace)) as unknown as { roleRef: { kind: string; name: string } } | undefined;
  assert.ok(binding, 'a ClusterRoleBinding grants the service account a role');
  const role = find(binding.roleRef.kind, binding.roleRef.name) as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
  assert.ok(role.rules.some((r) => r.apiGroups.includes('') && r.resources.includes('pods') && ['list', 'watch'].every((v) => r.verbs.includes(v))));
});
