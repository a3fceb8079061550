// The Kubernetes manifests, checked without a cluster: every file parses, kustomization lists
// them all, the agent DaemonSet is privileged on the host pid and network, the indexer has a
// Deployment and a Service that selects it, secrets referenced exist, and every container's
// procflow command, flags and PROCFLOW_* variables exist in the CLI's settings tables (with the
// Secret's sample values filled in). TLS: every certificate and token flag names a key of a
// mounted Secret, the certs Job (make-certs.sh run here for real) makes those keys and may
// touch only those Secrets, the cert-manager component makes the same ones, and no token is in
// the environment or on a command line. The probes run against the real indexer over mTLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { pino } from 'pino';
import { invocationProblems, isPlaceholder, loadCommand } from '../../cli/invocation.js';
import { INDEXER_SETTINGS, startIndexer } from '../../indexer/index.js';
import { CERT_SECRETS } from '../../deploy/tls/kubernetes-secrets.js';
import { probe } from '../../deploy/probe.js';
import { makeCerts } from '../support/make-certs.js';
import { withDefaults } from '../../indexer/options.js';
import { skipOrFail } from '../support/environment.js';
import { loadSettings } from '../../common/config.js';
import { AGENT_SETTINGS } from '../../agent/config.js';
import { validateAgentConfig } from '../../agent/run.js';

const dir = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: unknown };
}
interface Probe {
  httpGet?: { host?: string; path: string; port: string | number };
  exec?: { command: string[] };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args: string[];
  env?: EnvVar[];
  securityContext?: { privileged?: boolean; runAsUser?: number };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  ports?: Array<{ name: string; containerPort: number }>;
}
interface PodSpec {
  hostPID?: boolean;
  hostNetwork?: boolean;
  dnsPolicy?: string;
  containers: Container[];
  volumes?: Array<{ name: string; hostPath?: { path: string }; emptyDir?: { medium?: string }; secret?: { secretName: string; defaultMode?: number; items?: Array<{ key: string; path: string }> } }>;
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
}
interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: { selector?: { matchLabels?: Record<string, string> } & Record<string, string>; template?: { metadata: { labels: Record<string, string> }; spec: PodSpec }; ports?: Array<{ port: number; targetPort: string | number }> };
  stringData?: Record<string, string>;
  resources?: string[];
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}

const yamlFiles = (under: string) => readdirSync(under).filter((f) => f.endsWith('.yaml'));
const load = (under: string): Array<Manifest & { file: string }> =>
  yamlFiles(under).flatMap((file) =>
    parseAllDocuments(readFileSync(join(under, file), 'utf8')).map((d) => {
      assert.deepEqual(d.errors, [], file);
      return { ...(d.toJSON() as Manifest), file };
    }),
  );
const files = yamlFiles(dir);
const docs = load(dir);
// The optional component for clusters with cert-manager (its CRDs are not needed to parse it).
const certManagerDir = join(dir, 'cert-manager');
const certManagerDocs = load(certManagerDir);
const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
const secret = find('Secret', 'procflow')!;
const podOf = (kind: string, name: string) => find(kind, name)!.spec!.template!.spec;
const flagValue = (argv: string[], flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);

// The certs Job: `kubernetes-secrets.js DIR NAME...` (make-certs.sh's DIR and names).
const certsPod = podOf('Job', 'procflow-certs');
const [certsDir, ...certNames] = certsPod.containers[0]!.args as [string, ...string[]];

/** The Secret and key a container reads at `path`, through its volume mounts. */
function secretFile(pod: PodSpec, c: Container, path: string): { secretName: string; key: string } {
  const mount = c.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `${c.name}: a volume is mounted where ${path} is`);
  const volume = pod.volumes!.find((v) => v.name === mount.name);
  assert.ok(volume?.secret, `${c.name}: ${path} is in a Secret volume`);
  const rel = path.slice(mount.mountPath.length + 1);
  const items = volume.secret.items;
  const item = items?.find((i) => i.path === rel);
  assert.ok(!items || item, `${c.name}: the volume ${volume.name} projects ${rel}`);
  return { secretName: volume.secret.secretName, key: item?.key ?? rel };
}

/** make-certs.sh as the certs Job runs it, into a temporary directory. */
const runCertsJob = () => makeCerts(certNames);

/** A file standing for `path` in `c`: the certs Job's output for the TLS Secrets, the Secret's sample for procflow. */
function localFile(pod: PodSpec, c: Container, path: string, made: { dir: string }, scratch: string): string {
  const { secretName, key } = secretFile(pod, c, path);
  if (secretName === secret.metadata.name) {
    const file = join(scratch, key);
    writeFileSync(file, secret.stringData![key]!);
    return file;
  }
  const s = CERT_SECRETS.find((x) => x.name === secretName);
  assert.ok(s, `${secretName} is a Secret the certs Job makes`);
  return join(made.dir, s.dir, key);
}

test('the manifests parse and the kustomization lists every file', () => {
  const kustomization = docs.find((d) => d.kind === 'Kustomization')!;
  assert.deepEqual([...kustomization.resources!].sort(), files.filter((f) => f !== 'kustomization.yaml').sort());
  for (const kind of ['Namespace', 'Secret', 'Job', 'CronJob', 'Deployment', 'Service', 'DaemonSet', 'Role', 'RoleBinding']) assert.ok(docs.some((d) => d.kind === kind), kind);
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
  for (const p of ['/sys/kernel/tracing', '/sys/kernel/debug', '/sys/fs/cgroup', '/var/lib/procflow']) {
    assert.ok(mounts.has(p), `mounts ${p}`);
    assert.ok(pod.volumes!.some((v) => v.name === mounts.get(p) && v.hostPath), `volume ${mounts.get(p)} is a hostPath`);
  }
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
  // Both read the token from the same key of the Secret, mounted as a file.
  const tokenOf = (kind: string, name: string) => {
    const pod = podOf(kind, name);
    return secretFile(pod, pod.containers[0]!, flagValue(pod.containers[0]!.args, '--token-file')!);
  };
  assert.deepEqual(tokenOf('DaemonSet', 'procflow-agent'), { secretName: secret.metadata.name, key: 'token' });
  assert.deepEqual(tokenOf('Deployment', 'procflow-indexer'), tokenOf('DaemonSet', 'procflow-agent'));
});

test('agent and indexer speak mTLS: every certificate flag names a key of a mounted Secret that the certs Job makes', () => {
  const agent = podOf('DaemonSet', 'procflow-agent');
  const indexer = podOf('Deployment', 'procflow-indexer');
  const url = new URL(flagValue(agent.containers[0]!.args, '--indexer-url')!);
  assert.equal(url.protocol, 'https:');
  assert.ok(certNames.includes(url.hostname), `the server certificate is made for ${url.hostname}`);
  const wanted: Array<[PodSpec, string, string, string]> = [
    [indexer, '--tls-cert-file', 'procflow-indexer-tls', 'tls.crt'], [indexer, '--tls-key-file', 'procflow-indexer-tls', 'tls.key'], [indexer, '--tls-client-ca-file', 'procflow-indexer-tls', 'ca.crt'],
    [agent, '--indexer-ca-file', 'procflow-agent-tls', 'ca.crt'], [agent, '--indexer-cert-file', 'procflow-agent-tls', 'tls.crt'], [agent, '--indexer-key-file', 'procflow-agent-tls', 'tls.key'],
  ];
  const made = runCertsJob();
  try {
    for (const [pod, flag, secretName, key] of wanted) {
      const c = pod.containers[0]!;
      const path = flagValue(c.args, flag);
      assert.ok(path, `${c.name} ${flag}`);
      assert.deepEqual(secretFile(pod, c, path), { secretName, key }, `${c.name} ${flag} ${path}`);
      const s = CERT_SECRETS.find((x) => x.name === secretName)!;
      assert.ok(existsSync(join(made.dir, s.dir, key)), `the certs Job makes ${secretName} ${key}`);
    }
  } finally {
    made.remove();
  }
  // Mounted read-only; the indexer's user reads them through its fsGroup, root alone reads the agent's.
  for (const [pod, mode] of [[indexer, 0o440], [agent, 0o400]] as const) {
    for (const v of pod.volumes!.filter((x) => x.secret)) assert.equal(v.secret!.defaultMode, mode, `${pod.containers[0]!.name} volume ${v.name}`);
    for (const m of pod.containers[0]!.volumeMounts!) if (pod.volumes!.find((v) => v.name === m.name)!.secret) assert.equal((m as { readOnly?: boolean }).readOnly, true, m.name);
  }
  assert.equal(indexer.securityContext?.fsGroup, indexer.containers[0]!.securityContext?.runAsUser);
  // The CA's key is mounted by no pod.
  for (const d of docs) for (const v of d.spec?.template?.spec.volumes ?? []) assert.notEqual(v.secret?.secretName, 'procflow-ca', `${d.kind}/${d.metadata.name}`);
});

test('no token is in an environment variable or on a command line', () => {
  for (const d of docs) {
    for (const c of d.spec?.template?.spec.containers ?? []) {
      assert.ok(!(c.env ?? []).some((e) => /TOKEN/.test(e.name)), `${d.metadata.name}: no token in the environment`);
      assert.ok(!c.args.some((a) => a === '--token' || a.startsWith('--token=')), `${d.metadata.name}: no --token`);
      assert.ok(!c.args.includes(secret.stringData!.token!), `${d.metadata.name}: the token is not an argument`);
    }
  }
});

test('the agent listens on loopback only, and kubelet probes it there through the host network', () => {
  const pod = podOf('DaemonSet', 'procflow-agent');
  const c = pod.containers[0]!;
  const listen = flagValue(c.args, '--listen')!;
  assert.equal(listen, '127.0.0.1:9464');
  assert.equal(pod.hostNetwork, true, 'kubelet shares the network namespace, so 127.0.0.1 is the agent');
  assert.deepEqual(c.livenessProbe!.httpGet, { host: '127.0.0.1', path: '/healthz', port: Number(listen.split(':')[1]) });
  assert.equal(c.ports, undefined, 'no port is declared: nothing listens off loopback');
});

test('the agent\'s settings pass its start-up checks; an --api-token-file is mounted from a key of the Secret', () => {
  const pod = find('DaemonSet', 'procflow-agent')!.spec!.template!.spec;
  const c = pod.containers[0]!;
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? 'node-1']));
  const { config } = loadSettings(AGENT_SETTINGS, c.args.slice(1), env);
  // What the agent refuses at start (a --listen off loopback without a token file, a token, ...).
  assert.doesNotThrow(() => validateAgentConfig({ ...config, token: config.token || 'from-the-secret' }));
  for (const file of [config.api_token_file].filter(Boolean)) {
    const mount = c.volumeMounts!.find((m) => file.startsWith(`${m.mountPath}/`));
    assert.ok(mount, `a volume is mounted where ${file} lives`);
    const volume = pod.volumes!.find((v) => v.name === mount.name)!;
    assert.equal(volume.secret?.secretName, secret.metadata.name);
    const item = volume.secret!.items!.find((i) => `${mount.mountPath}/${i.path}` === file);
    assert.ok(item && item.key in secret.stringData!, `the Secret has the key mounted as ${file}`);
  }
});

test('every secret reference names a key of the Secret, or a Secret the certs Job makes', () => {
  for (const d of docs) {
    for (const c of d.spec?.template?.spec.containers ?? []) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        assert.equal(ref.name, secret.metadata.name, `${d.metadata.name}/${e.name}`);
        assert.ok(ref.key in secret.stringData!, `${d.metadata.name}/${e.name}: the Secret has ${ref.key}`);
      }
    }
    for (const v of d.spec?.template?.spec.volumes ?? []) {
      if (!v.secret) continue;
      if (v.secret.secretName === secret.metadata.name) {
        assert.ok(v.secret.items?.length, `${d.metadata.name}/${v.name} projects single keys, not the Elasticsearch password`);
        for (const i of v.secret.items!) assert.ok(i.key in secret.stringData!, `${d.metadata.name}/${v.name}: the Secret has ${i.key}`);
      } else {
        assert.ok(CERT_SECRETS.some((x) => x.name === v.secret!.secretName), `${d.metadata.name}/${v.name}: ${v.secret.secretName} is made by the certs Job`);
      }
    }
  }
});

test('every container runs a procflow command with flags and variables the CLI knows, or a script of the image', async (t) => {
  const containers = docs.flatMap((d) => (d.spec?.template?.spec.containers ?? []).map((c) => ({ owner: `${d.kind}/${d.metadata.name}`, c })));
  assert.equal(containers.length, 4);
  for (const { owner, c } of containers) {
    assert.match(c.image, /^procflow:/, owner);
    if (c.command) {
      // node and a script of dist/, which the image holds under /opt/procflow.
      const [node, script] = c.command as [string, string];
      assert.equal(node, 'node', owner);
      assert.match(script, /^\/opt\/procflow\/dist\//, owner);
      assert.ok(existsSync(join(root, script.replace('/opt/procflow/', ''))), `${owner}: ${script} is built`);
      continue;
    }
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

test('the indexer probes present its own certificate and pass against the real indexer over mTLS', async (t) => {
  const pod = podOf('Deployment', 'procflow-indexer');
  const c = pod.containers[0]!;
  const port = c.ports![0]!;
  assert.ok(c.args.includes(`0.0.0.0:${port.containerPort}`), 'the indexer listens on the container port');
  const tlsFiles = ['--tls-client-ca-file', '--tls-cert-file', '--tls-key-file'].map((f) => flagValue(c.args, f));
  const probes = { liveness: c.livenessProbe!, readiness: c.readinessProbe! };
  for (const [name, p] of Object.entries(probes)) {
    // kubelet's httpGet cannot present a client certificate: an exec probe of deploy/probe.js does.
    const [node, script, url, ...options] = p.exec!.command as [string, string, string, ...string[]];
    assert.deepEqual([node, script], ['node', '/opt/procflow/dist/deploy/probe.js'], name);
    assert.equal(new URL(url).origin, `https://127.0.0.1:${port.containerPort}`, name);
    assert.deepEqual(['--ca-file', '--cert-file', '--key-file'].map((f) => flagValue(options, f)), tlsFiles, `${name}: the files the indexer serves with`);
    assert.ok((p as { timeoutSeconds?: number }).timeoutSeconds! >= 5, `${name}: time for node to start`);
  }
  assert.ok(certNames.includes('127.0.0.1'), 'the server certificate is made for 127.0.0.1');

  // The real indexer with the Deployment's arguments, on files the certs Job makes.
  const made = runCertsJob();
  const scratch = mkdtempSync(join(tmpdir(), 'procflow-secret-'));
  t.after(() => {
    made.remove();
    rmSync(scratch, { recursive: true, force: true });
  });
  const local = (a: string) => (a.startsWith('/etc/') ? localFile(pod, c, a, made, scratch) : a);
  const opts = loadSettings(INDEXER_SETTINGS, c.args.slice(1).map(local), {}).config;
  const indexer = await startIndexer(withDefaults({ ...opts, es_url: 'http://127.0.0.1:1', listen: '127.0.0.1:0', install_templates: false }), { log: pino({ level: 'silent' }) });
  t.after(() => indexer.close());
  const asRun = (p: Probe) => {
    const [, , url, ...options] = p.exec!.command as [string, string, string, ...string[]];
    return probe([`${indexer.url}${new URL(url).pathname}`, ...options.map(local)]);
  };
  assert.equal((await asRun(probes.liveness)).ok, true, 'liveness passes while Elasticsearch is down');
  const ready = await asRun(probes.readiness);
  assert.equal(ready.ok, false);
  assert.match(ready.message, /answered 503/, 'readiness reaches the indexer and says no while Elasticsearch is unreachable');
});

test('the certs Job runs unprivileged in memory and may get, update and create only its three Secrets', () => {
  const c = certsPod.containers[0]!;
  assert.deepEqual(c.command, ['node', '/opt/procflow/dist/deploy/tls/kubernetes-secrets.js']);
  assert.equal(certsPod.securityContext?.runAsNonRoot, true);
  assert.equal((c.securityContext as { readOnlyRootFilesystem?: boolean }).readOnlyRootFilesystem, true);
  const work = c.volumeMounts!.find((m) => m.mountPath === certsDir);
  assert.ok(work, `a volume at ${certsDir}`);
  assert.equal(certsPod.volumes!.find((v) => v.name === work.name)?.emptyDir?.medium, 'Memory', 'keys never touch the node\'s disk');

  const sa = certsPod.serviceAccountName!;
  const binding = docs.find((d) => d.kind === 'RoleBinding' && (d as unknown as { subjects: { kind: string; name: string }[] }).subjects.some((s) => s.kind === 'ServiceAccount' && s.name === sa)) as unknown as { roleRef: { kind: string; name: string } };
  assert.ok(binding, `a RoleBinding for ${sa}`);
  assert.equal(docs.filter((d) => /Binding$/.test(d.kind) && JSON.stringify(d).includes(`"name":"${sa}"`)).length, 1, 'bound once, in its namespace');
  const role = find(binding.roleRef.kind, binding.roleRef.name) as unknown as { kind: string; rules: Rule[] };
  assert.equal(role.kind, 'Role');
  const names = CERT_SECRETS.map((s) => s.name).sort();
  assert.deepEqual(role.rules.map((r) => ({ ...r, resourceNames: r.resourceNames?.slice().sort() })), [
    { apiGroups: [''], resources: ['secrets'], resourceNames: names, verbs: ['get', 'update'] },
    // create cannot be limited by name (Kubernetes does not know the name when it authorizes).
    { apiGroups: [''], resources: ['secrets'], resourceNames: undefined, verbs: ['create'] },
  ]);

  // The weekly renewal runs the Job's pod, copied in by the kustomization.
  const kustomization = docs.find((d) => d.kind === 'Kustomization') as unknown as { replacements: Array<{ source: Record<string, string>; targets: Array<{ select: Record<string, string>; fieldPaths: string[] }> }> };
  assert.deepEqual(kustomization.replacements, [{
    source: { kind: 'Job', name: 'procflow-certs', fieldPath: 'spec.template' },
    targets: [{ select: { kind: 'CronJob', name: 'procflow-certs' }, fieldPaths: ['spec.jobTemplate.spec.template'] }],
  }]);
  assert.ok(find('CronJob', 'procflow-certs'));
});

test('the agent runs under a service account that may list and watch pods, Services and EndpointSlices, as --kubernetes needs', () => {
  const ds = find('DaemonSet', 'procflow-agent')!;
  const pod = ds.spec!.template!.spec as PodSpec & { serviceAccountName?: string };
  assert.ok(pod.containers[0]!.args.includes('--kubernetes'));
  const sa = find('ServiceAccount', pod.serviceAccountName ?? '');
  assert.ok(sa, `ServiceAccount ${pod.serviceAccountName}`);
  const binding = docs.find((d) => d.kind === 'ClusterRoleBinding' && (d as unknown as { subjects: { kind: string; name: string; namespace: string }[] }).subjects
    .some((s) => s.kind === 'ServiceAccount' && s.name === sa.metadata.name && s.namespace === sa.metadata.namespace)) as unknown as { roleRef: { kind: string; name: string } } | undefined;
  assert.ok(binding, 'a ClusterRoleBinding grants the service account a role');
  const role = find(binding.roleRef.kind, binding.roleRef.name) as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
  assert.deepEqual(role.rules, [
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  ], 'pods, Services and EndpointSlices, read only, and nothing else');
});

test('the cert-manager component makes the same Secrets for the same names, and takes the certs Job, CronJob and RBAC away', () => {
  const component = certManagerDocs.find((d) => d.kind === 'Component') as unknown as { apiVersion: string; resources: string[]; patches: Array<{ patch: string }> };
  assert.equal(component.apiVersion, 'kustomize.config.k8s.io/v1alpha1');
  assert.deepEqual([...component.resources].sort(), yamlFiles(certManagerDir).filter((f) => f !== 'kustomization.yaml').sort());
  type Spec = { secretName: string; isCA?: boolean; commonName?: string; dnsNames?: string[]; ipAddresses?: string[]; usages?: string[]; privateKey?: { algorithm: string; size: number }; issuerRef: { name: string; kind: string } };
  const objects = certManagerDocs.filter((d) => d.kind !== 'Component') as unknown as Array<{ apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: Spec & { ca?: { secretName: string }; selfSigned?: object } }>;
  for (const o of objects) {
    assert.equal(o.apiVersion, 'cert-manager.io/v1', o.metadata.name);
    assert.equal(o.metadata.namespace, 'procflow', o.metadata.name);
  }
  const certificates = objects.filter((o) => o.kind === 'Certificate').map((o) => o.spec);
  assert.deepEqual(certificates.map((c) => c.secretName).sort(), CERT_SECRETS.map((s) => s.name).sort());
  const of = (secretName: string) => certificates.find((c) => c.secretName === secretName)!;
  const issuer = (ref: Spec['issuerRef']) => objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name)!.spec;

  const ca = of('procflow-ca');
  assert.equal(ca.isCA, true);
  assert.deepEqual(issuer(ca.issuerRef).selfSigned, {});
  const indexer = of('procflow-indexer-tls');
  const agent = of('procflow-agent-tls');
  for (const leaf of [indexer, agent]) {
    assert.deepEqual(issuer(leaf.issuerRef).ca, { secretName: 'procflow-ca' }, 'issued by the CA in procflow-ca');
    assert.deepEqual(leaf.privateKey && [leaf.privateKey.algorithm, leaf.privateKey.size], ['ECDSA', 256]);
  }
  // The names and usages make-certs.sh gives: the Service's names, and 127.0.0.1 for the probes.
  const isIp = (n: string) => /^[\d.]+$|:/.test(n);
  assert.deepEqual(new Set(indexer.dnsNames), new Set(certNames.filter((n) => !isIp(n))));
  assert.deepEqual(new Set(indexer.ipAddresses), new Set(certNames.filter(isIp)));
  assert.deepEqual(new Set(indexer.usages), new Set(['digital signature', 'server auth', 'client auth']));
  assert.deepEqual(new Set(agent.usages), new Set(['digital signature', 'client auth']));
  assert.equal(agent.commonName, 'procflow-agent', 'the common name make-certs.sh gives the agents');

  // Exactly the base's certs objects are deleted.
  const deleted = component.patches.map((p) => parse(p.patch) as { $patch: string; kind: string; metadata: { name: string } });
  for (const d of deleted) assert.equal(d.$patch, 'delete');
  const certsObjects = docs.filter((d) => d.metadata?.labels?.['app.kubernetes.io/component'] === 'certs');
  assert.deepEqual(deleted.map((d) => `${d.kind}/${d.metadata.name}`).sort(), certsObjects.map((d) => `${d.kind}/${d.metadata.name}`).sort());
});
