// The Helm chart deploy/helm/procflow, with a real helm (local-services/helm.ts) and the real
// kube-apiserver the integration suite shares.
//
// The chart and the kustomize manifests (deploy/kubernetes) are two sources of the same objects,
// kept in agreement here rather than generated one from the other (a generated chart would lose
// its templates' readability, a generated kustomize tree its comments): `helm template` with the
// default values (plus the sample tokens and password of deploy/kubernetes/secret.yaml) must give
// exactly the objects of `kubectl kustomize deploy/kubernetes`, compared whole: kinds, names,
// namespaces, containers' images, args, env, ports, probes, mounts, volumes, security contexts,
// RBAC rules. The only differences allowed are Helm's own: its labels and hook annotations, the
// Namespace (which `helm install --create-namespace` makes), and the order of flags on a command
// line (the CLI takes them in any order). tls.source=cert-manager is compared with the kustomize
// cert-manager component the same way. A difference fails with one line per differing field.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { invocationProblems } from '../../cli/invocation.js';
import { findHelm, HELM_VERSION } from '../../local-services/helm.js';
import { kubeRequest } from '../../local-services/kubernetes.js';
import { skipOrFail } from '../support/environment.js';
import { getTestKubernetes, stopTestKubernetes, type TestKubernetes } from '../support/kubernetes.js';
import { makeCerts } from '../support/make-certs.js';

const CHART = fileURLToPath(new URL('../../../deploy/helm/procflow/', import.meta.url));
const KUSTOMIZE = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url));
/** Not the kustomize test's `procflow`: a deleted namespace stays Terminating without a controller manager. */
const NAMESPACE = 'procflow-helm';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  stringData?: Record<string, string>;
  data?: Record<string, string>;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: unknown };
}
interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args: string[];
  env?: EnvVar[];
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  livenessProbe?: { httpGet?: { port: number }; exec?: { command: string[] } };
  readinessProbe?: { exec?: { command: string[] } };
  resources?: unknown;
}
interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string; items?: Array<{ key: string }> } }>;
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
}

const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version'];

const key = (o: K8sObject) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
const parseObjects = (text: string): K8sObject[] =>
  parseAllDocuments(text)
    .map((d) => d.toJSON() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);

/** A command line with its flags (and their values) sorted: the CLI takes them in any order. */
function sortedFlags(argv: string[]): string[] {
  const groups: string[][] = [];
  for (const a of argv) {
    if (a.startsWith('-') || groups.length === 0) groups.push([a]);
    else groups[groups.length - 1]!.push(a);
  }
  const [head, ...flags] = groups;
  return [...head!, ...flags.sort((x, y) => (x.join(' ') < y.join(' ') ? -1 : 1)).flat()];
}

/** An object as the comparison sees it: without Helm's labels and hook annotations, flags sorted. */
function normalize(o: K8sObject): K8sObject {
  const copy = structuredClone(o);
  const labels = Object.entries(copy.metadata.labels ?? {}).filter(([k]) => !HELM_LABELS.includes(k));
  if (labels.length) copy.metadata.labels = Object.fromEntries(labels);
  else delete copy.metadata.labels;
  const annotations = Object.entries(copy.metadata.annotations ?? {}).filter(([k]) => !k.startsWith('helm.sh/'));
  if (annotations.length) copy.metadata.annotations = Object.fromEntries(annotations);
  else delete copy.metadata.annotations;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (Array.isArray(record.containers)) for (const c of record.containers as Container[]) if (c.args) c.args = sortedFlags(c.args);
    Object.values(record).forEach(visit);
  };
  visit(copy.spec);
  return copy;
}

/** One line per field where `a` (kustomize) and `b` (the chart) differ, named by its path. */
function differences(a: unknown, b: unknown, path: string): string[] {
  const isRecord = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (isRecord(a) && isRecord(b)) return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().flatMap((k) => differences(a[k], b[k], `${path}.${k}`));
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) return a.flatMap((x, i) => differences(x, b[i], `${path}[${i}]`));
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [`${path}: kustomize ${JSON.stringify(a) ?? '(none)'}, chart ${JSON.stringify(b) ?? '(none)'}`];
}

/** The differences between two object sets, with the kustomize-only kinds named in `kustomizeOnly`. */
function compareObjects(kustomize: K8sObject[], chart: K8sObject[], kustomizeOnly: string[]): string[] {
  const byKey = (list: K8sObject[]) => new Map(list.map((o) => [key(o), normalize(o)]));
  const k = byKey(kustomize);
  const c = byKey(chart);
  const problems: string[] = [];
  for (const name of k.keys()) if (!c.has(name) && !kustomizeOnly.includes(name)) problems.push(`${name}: in deploy/kubernetes, not rendered by the chart`);
  for (const name of c.keys()) if (!k.has(name)) problems.push(`${name}: rendered by the chart, not in deploy/kubernetes`);
  for (const [name, obj] of c) if (k.has(name)) problems.push(...differences(k.get(name), obj, name));
  return problems;
}

const kubectlKustomize = (dir: string): K8sObject[] => {
  const built = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  assert.equal(built.status, 0, `kubectl kustomize ${dir}: ${built.stderr}`);
  return parseObjects(built.stdout);
};

/** The sample tokens and password of deploy/kubernetes/secret.yaml as chart values. */
function kustomizeSecretValues(): Record<string, unknown> {
  const secret = parse(readFileSync(join(KUSTOMIZE, 'secret.yaml'), 'utf8')) as { stringData: Record<string, string> };
  const s = secret.stringData;
  return { secret: { token: s.token, agentApiToken: s['agent-api-token'] }, elasticsearch: { password: s['es-password'] } };
}

const podOf = (objects: K8sObject[], kind: string, name: string): PodSpec => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} is rendered`);
  const spec = o.spec as { template?: { spec: PodSpec }; jobTemplate?: { spec: { template: { spec: PodSpec } } } };
  return spec.template?.spec ?? spec.jobTemplate!.spec.template.spec;
};
const flag = (argv: string[], name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);

/** Sample values for environment variables that come from Secrets or the downward API. */
const SAMPLE_ENV: Record<string, string> = { PROCFLOW_ES_URL: 'https://es.example:9200', PROCFLOW_KIBANA_URL: 'https://kibana.example:5601', PROCFLOW_NODE_NAME: 'node-1' };

/** The procflow invocation of a container: its args (after `node dist/...` for a script) and PROCFLOW_* variables. */
async function cliProblems(c: Container): Promise<string[]> {
  if (c.command) return []; // a script of its own (the certs Job), not a procflow command
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? SAMPLE_ENV[e.name] ?? 'sample']));
  return invocationProblems(c.args, env);
}

describe(`the Helm chart (helm v${HELM_VERSION})`, () => {
  const helm = findHelm();
  const work = mkdtempSync(join(tmpdir(), 'procflow-helm-'));
  // helm's own cache, config and data: nothing outside this directory.
  const env = { ...process.env, HELM_CACHE_HOME: join(work, 'cache'), HELM_CONFIG_HOME: join(work, 'config'), HELM_DATA_HOME: join(work, 'data') };
  const run = (args: string[], input?: string): SpawnSyncReturns<string> => spawnSync(helm!, args, { encoding: 'utf8', env, input, maxBuffer: 64 * 1024 * 1024 });
  let files = 0;
  const valuesFile = (values: Record<string, unknown>): string => {
    const file = join(work, `values-${files++}.yaml`);
    writeFileSync(file, stringify(values));
    return file;
  };
  const render = (values: Record<string, unknown>, namespace = 'procflow'): K8sObject[] => {
    const r = run(['template', 'procflow', CHART, '--namespace', namespace, '-f', valuesFile(values)]);
    assert.equal(r.status, 0, `helm template failed:\n${r.stderr}`);
    return parseObjects(r.stdout);
  };
  const needHelm = (t: TestContext) => {
    if (helm) return true;
    skipOrFail(t, `helm v${HELM_VERSION} is not built; run \`node dist/local-services/helm.js --ensure\` (bootstrap does)`);
    return false;
  };

  // The value sets the tests render: TLS material from values, cert-manager, plain http, and
  // one that sets nearly every value to something other than its default.
  const certs = makeCerts(['procflow-indexer.procflow-helm.svc', 'localhost', '127.0.0.1']);
  const pem = (p: string) => certs.read(p).toString();
  const VALUE_SETS: Record<string, Record<string, unknown>> = {
    defaults: {},
    'TLS and mTLS from values': { tls: { source: 'values', pem: { ca: pem('ca/tls.crt'), indexerCert: pem('indexer/tls.crt'), indexerKey: pem('indexer/tls.key'), agentCert: pem('agent/tls.crt'), agentKey: pem('agent/tls.key') } } },
    'cert-manager': { tls: { source: 'cert-manager' } },
    'plain http': { tls: { enabled: false } },
    'every value set': {
      image: { repository: 'registry.example/procflow', tag: '9.9.9', pullPolicy: 'Always' },
      imagePullSecrets: [{ name: 'registry' }],
      secret: { existingSecret: 'my-procflow' },
      elasticsearch: { passwordSecretRef: { name: 'es-elastic-user', key: 'elastic' }, caSecretRef: { name: 'es-http-certs-public', key: 'ca.crt' } },
      retentionDays: 14,
      tls: { clientAuth: false, source: 'secrets' },
      agent: {
        settings: { hook_mode: 'fentry', export_namespaces: ['prod', 'staging'], export_deny_binary_regex: '^/usr/bin/(curl|wget)$', process_ancestors: 4, ring_buffer_size: '16 MiB', flow_map_entries: 131072, listen: '0.0.0.0:9465', dns: false },
        extraArgs: ['--log-level', 'debug'],
        extraEnv: [{ name: 'PROCFLOW_PROCESS_CAPABILITIES', value: 'true' }],
        resources: { requests: { cpu: '200m', memory: '256Mi' } },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'observability', effect: 'NoSchedule' }],
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        priorityClassName: 'system-node-critical',
      },
      indexer: { replicas: 3, port: 9443, settings: { bulk_concurrency: 8, max_body_size: '32 MiB', shutdown_timeout: '20s' }, nodeSelector: { role: 'ingest' } },
      setup: { settings: { wait_timeout: '10m', kibana_username: 'kibana-admin' } },
    },
  };

  let kube: TestKubernetes | undefined;
  let kubeReason = '';
  const kubectl = (args: string[], input?: string) =>
    spawnSync('kubectl', ['--server', kube!.url, '--token', kube!.token, '--certificate-authority', kube!.caFile, ...args], { encoding: 'utf8', input });

  // Under CI=true a missing API server throws here; only the test that needs it fails on that.
  before(async () => {
    try {
      const res = await getTestKubernetes();
      if (res.kube) kube = res.kube;
      else kubeReason = res.reason;
    } catch (err) {
      kubeReason = (err as Error).message;
    }
  });
  after(async () => {
    if (kube && helm) {
      run(['uninstall', 'procflow', '--namespace', NAMESPACE, '--kubeconfig', kube.kubeconfig, '--ignore-not-found']);
      await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${NAMESPACE}`).catch(() => {});
    }
    await stopTestKubernetes();
    certs.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('helm lint --strict passes for the defaults and each value set', (t) => {
    if (!needHelm(t)) return;
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const r = run(['lint', CHART, '--strict', '--namespace', 'procflow', '-f', valuesFile(values)]);
      assert.equal(r.status, 0, `helm lint (${name}):\n${r.stdout}${r.stderr}`);
    }
  });

  it('with the default values the chart renders the objects of deploy/kubernetes', (t) => {
    if (!needHelm(t)) return;
    if (spawnSync('kubectl', ['version', '--client']).error) return skipOrFail(t, 'kubectl (for kustomize) is not installed');
    const problems = compareObjects(kubectlKustomize(KUSTOMIZE), render(kustomizeSecretValues()), ['Namespace procflow']);
    assert.deepEqual(problems, [], `the chart and deploy/kubernetes differ:\n${problems.join('\n')}`);

    // tls.source=cert-manager and the kustomize cert-manager component.
    const overlay = mkdtempSync(join(work, 'cert-manager-'));
    writeFileSync(join(overlay, 'kustomization.yaml'), `resources: [${relative(overlay, KUSTOMIZE)}]\ncomponents: [${relative(overlay, join(KUSTOMIZE, 'cert-manager'))}]\n`);
    const withCertManager = compareObjects(kubectlKustomize(overlay), render({ ...kustomizeSecretValues(), tls: { source: 'cert-manager' } }), ['Namespace procflow']);
    assert.deepEqual(withCertManager, [], `tls.source=cert-manager and deploy/kubernetes/cert-manager differ:\n${withCertManager.join('\n')}`);
  });

  it('every value set renders invocations the procflow CLI accepts, and the values land where they should', async (t) => {
    if (!needHelm(t)) return;
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const objects = render(values);
      for (const o of objects) {
        if (!['DaemonSet', 'Deployment', 'Job', 'CronJob'].includes(o.kind)) continue;
        for (const c of podOf(objects, o.kind, o.metadata.name).containers) assert.deepEqual(await cliProblems(c), [], `${name}: ${key(o)} container ${c.name}`);
      }
    }

    const tlsFromValues = render(VALUE_SETS['TLS and mTLS from values']!);
    for (const component of ['indexer', 'agent']) {
      const s = tlsFromValues.find((o) => o.kind === 'Secret' && o.metadata.name === `procflow-${component}-tls`);
      assert.ok(s, `the Secret procflow-${component}-tls`);
      assert.deepEqual(Object.keys(s.data!).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
      assert.equal(Buffer.from(s.data!['tls.crt']!, 'base64').toString(), pem(`${component}/tls.crt`));
    }
    assert.ok(!tlsFromValues.some((o) => o.metadata.name === 'procflow-certs'), 'no certs Job, CronJob or RBAC');

    const plain = render(VALUE_SETS['plain http']!);
    const plainAgent = podOf(plain, 'DaemonSet', 'procflow-agent').containers[0]!;
    assert.equal(flag(plainAgent.args, '--indexer-url'), 'http://procflow-indexer.procflow.svc:8080');
    const plainIndexer = podOf(plain, 'Deployment', 'procflow-indexer').containers[0]!;
    assert.ok(!plainIndexer.args.some((a) => a.startsWith('--tls')), plainIndexer.args.join(' '));
    assert.deepEqual(plainIndexer.readinessProbe!.exec!.command.slice(2), ['http://127.0.0.1:8080/readyz']);
    assert.ok(!plain.some((o) => o.metadata.name.startsWith('procflow-certs')), 'no certs Job without TLS');

    const all = render(VALUE_SETS['every value set']!);
    assert.ok(!all.some((o) => o.kind === 'Secret'), 'an existing Secret and TLS Secrets of the user\'s: the chart makes none');
    const agentPod = podOf(all, 'DaemonSet', 'procflow-agent');
    const agent = agentPod.containers[0]!;
    assert.equal(agent.image, 'registry.example/procflow:9.9.9');
    assert.equal(agent.imagePullPolicy, 'Always');
    for (const [f, v] of [['--hook-mode', 'fentry'], ['--export-namespaces', 'prod,staging'], ['--export-deny-binary-regex', '^/usr/bin/(curl|wget)$'], ['--process-ancestors', '4'], ['--ring-buffer-size', '16 MiB'], ['--flow-map-entries', '131072'], ['--listen', '0.0.0.0:9465'], ['--log-level', 'debug'], ['--indexer-url', 'https://procflow-indexer.procflow.svc:9443']] as const) {
      assert.equal(flag(agent.args, f), v, `agent ${f}`);
    }
    assert.ok(agent.args.includes('--dns=false'), agent.args.join(' '));
    assert.equal(flag(agent.args, '--api-token-file'), '/etc/procflow/agent-api/token', 'off loopback, /metrics needs the token');
    assert.equal(flag(agent.args, '--indexer-cert-file'), undefined, 'no client certificate without clientAuth');
    assert.equal(agent.livenessProbe!.httpGet!.port, 9465);
    assert.ok(agent.env!.some((e) => e.name === 'PROCFLOW_PROCESS_CAPABILITIES' && e.value === 'true'));
    assert.deepEqual(agentPod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.equal((agentPod.tolerations![0] as { key: string }).key, 'dedicated');
    assert.ok(agentPod.volumes!.filter((v) => v.secret && v.name !== 'tls').every((v) => v.secret!.secretName === 'my-procflow'), 'tokens from the existing Secret');
    const indexer = podOf(all, 'Deployment', 'procflow-indexer').containers[0]!;
    for (const [f, v] of [['--listen', '0.0.0.0:9443'], ['--bulk-concurrency', '8'], ['--max-body-size', '32 MiB'], ['--retention-days', '14'], ['--es-ca-file', '/etc/procflow/es-ca/ca.crt']] as const) {
      assert.equal(flag(indexer.args, f), v, `indexer ${f}`);
    }
    assert.equal(flag(indexer.args, '--tls-client-ca-file'), undefined, 'no mTLS without clientAuth');
    assert.deepEqual(indexer.env!.find((e) => e.name === 'PROCFLOW_ES_PASSWORD')!.valueFrom!.secretKeyRef, { name: 'es-elastic-user', key: 'elastic' });
    assert.equal(indexer.env!.find((e) => e.name === 'PROCFLOW_ES_URL')!.valueFrom!.secretKeyRef!.name, 'my-procflow');
    const setup = podOf(all, 'Job', 'procflow-setup').containers[0]!;
    assert.equal(flag(setup.args, '--retention-days'), '14');
    assert.equal(flag(setup.args, '--kibana-username'), 'kibana-admin');
    assert.equal((all.find((o) => o.kind === 'Deployment')!.spec as { replicas: number }).replicas, 3);
    assert.equal(((all.find((o) => o.kind === 'Service')!.spec as { ports: Array<{ port: number }> }).ports[0]!.port), 9443);
  });

  it('bad values fail with the value\'s path and what it may be', (t) => {
    if (!needHelm(t)) return;
    const cases: Array<[string, Record<string, unknown>, RegExp[]]> = [
      ['an unknown hook mode', { agent: { settings: { hook_mode: 'uprobe' } } }, [/hook_mode/, /auto/, /fentry/, /kprobe/]],
      ['a misspelt setting', { agent: { settings: { hook_mod: 'fentry' } } }, [/hook_mod/, /additional/i]],
      ['a setting the chart sets itself', { agent: { settings: { indexer_url: 'http://elsewhere:8080' } } }, [/indexer_url/]],
      ['a duration without a unit the CLI knows', { agent: { settings: { flush_interval: '15 parsecs' } } }, [/flush_interval/]],
      ['a count below the setting\'s minimum', { indexer: { settings: { bulk_concurrency: 0 } } }, [/bulk_concurrency/, /minimum|>= 1|at least/i]],
      ['an unknown TLS source', { tls: { source: 'vault' } }, [/source/, /cert-manager/]],
      ['a boolean as a string', { tls: { enabled: 'sure' } }, [/enabled/, /boolean/]],
      ['an Elasticsearch URL without a scheme', { elasticsearch: { url: 'es.example:9200' } }, [/url/]],
    ];
    for (const [name, values, patterns] of cases) {
      const r = run(['lint', CHART, '-f', valuesFile(values)]);
      assert.notEqual(r.status, 0, `${name}: helm lint accepted ${JSON.stringify(values)}`);
      const installLike = run(['template', 'procflow', CHART, '-f', valuesFile(values)]);
      assert.notEqual(installLike.status, 0, `${name}: helm template accepted it`);
      for (const p of patterns) assert.match(installLike.stderr, p, `${name}: helm template's message:\n${installLike.stderr}`);
    }
    // Rules the schema cannot say, from the templates.
    const templateCases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['TLS from values without the PEM', { tls: { source: 'values' } }, /tls\.pem\.ca is required .*--set-file tls\.pem\.ca=FILE/],
      ['the agent on a Unix socket', { agent: { settings: { listen: 'unix:/run/procflow.sock' } } }, /liveness probe needs a TCP port/],
      ['a password Secret without its key', { elasticsearch: { passwordSecretRef: { name: 'es-user', key: '' } } }, /passwordSecretRef\.key is required/],
    ];
    for (const [name, values, pattern] of templateCases) {
      const r = run(['template', 'procflow', CHART, '-f', valuesFile(values)]);
      assert.notEqual(r.status, 0, `${name}: accepted`);
      assert.match(r.stderr, pattern, name);
    }
  });

  it('the real kube-apiserver accepts every rendered object, and helm installs, upgrades and uninstalls the release', async (t) => {
    if (!needHelm(t)) return;
    if (!kube) return skipOrFail(t, kubeReason);
    if (spawnSync('kubectl', ['version', '--client']).error) return skipOrFail(t, 'kubectl is not installed');
    const ns = await kubeRequest(kube, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    assert.ok([201, 409].includes(ns.status), ns.body);
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const objects = render(values, NAMESPACE);
      // The server has no cert-manager CRDs; those objects are checked against the kustomize component above.
      const known = objects.filter((o) => !o.apiVersion.startsWith('cert-manager.io/'));
      const applied = kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager', 'procflow-test', '-f', '-'], known.map((o) => stringify(o)).join('---\n'));
      assert.equal(applied.status, 0, `${name}: the API server refused:\n${applied.stderr}`);
      for (const o of known) assert.match(applied.stdout, new RegExp(`${o.metadata.name.replaceAll('.', '\\.')} serverside-applied \\(server dry run\\)`), `${name}: ${key(o)} in\n${applied.stdout}`);
    }

    // A real install (hooks need a Job controller, which this server lacks: --no-hooks).
    const kubeconfig = ['--kubeconfig', kube.kubeconfig, '--namespace', NAMESPACE];
    const installed = run(['install', 'procflow', CHART, ...kubeconfig, '--no-hooks', '-f', valuesFile(kustomizeSecretValues())]);
    assert.equal(installed.status, 0, `helm install:\n${installed.stderr}`);
    assert.match(installed.stdout, /STATUS: deployed/);
    assert.match(installed.stdout, /procflow-indexer\.procflow-helm\.svc:8080 with client certificates \(mTLS\)/, 'NOTES.txt');
    const ds = kubectl(['-n', NAMESPACE, 'get', 'daemonset', 'procflow-agent', '-o', 'json']);
    assert.equal(ds.status, 0, ds.stderr);
    const token = kubectl(['-n', NAMESPACE, 'get', 'secret', 'procflow', '-o', 'jsonpath={.data.token}']);
    const sampleToken = (kustomizeSecretValues().secret as { token: string }).token;
    assert.equal(Buffer.from(token.stdout, 'base64').toString(), sampleToken);

    // Upgrading with a generated token keeps the token of the release's Secret (lookup).
    const upgraded = run(['upgrade', 'procflow', CHART, ...kubeconfig, '--no-hooks', '--set', 'image.tag=0.1.1', '--set', 'secret.token=']);
    assert.equal(upgraded.status, 0, `helm upgrade:\n${upgraded.stderr}`);
    const image = kubectl(['-n', NAMESPACE, 'get', 'daemonset', 'procflow-agent', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']);
    assert.equal(image.stdout, 'procflow:0.1.1');
    const kept = kubectl(['-n', NAMESPACE, 'get', 'secret', 'procflow', '-o', 'jsonpath={.data.token}']);
    assert.equal(Buffer.from(kept.stdout, 'base64').toString(), sampleToken, 'an empty token keeps the one the Secret has');

    const uninstalled = run(['uninstall', 'procflow', ...kubeconfig]);
    assert.equal(uninstalled.status, 0, `helm uninstall:\n${uninstalled.stderr}`);
    const gone = kubectl(['get', 'clusterrole', 'procflow-agent', '--ignore-not-found', '-o', 'name']);
    assert.equal(gone.stdout.trim(), '', 'the ClusterRole is removed with the release');
  });
});
