// `kubectl apply -k deploy/kubernetes`, as the README has users run it, against a real
// kube-apiserver: every manifest must pass the server's schema and admission, then the agent's
// service account must really be allowed to list and watch pods, Services and EndpointSlices
// cluster-wide and nothing more, and the certs Job's only to get, update and create its three
// Secrets (asked of the server's own authorizer with SubjectAccessReviews). The certs Job's
// program then runs here with a token of its service account and makes the Secrets. Nothing
// runs the workloads (no scheduler, kubelet or controllers); the objects are checked, then
// deleted. The cert-manager component is built with kustomize only (the server has no
// cert-manager CRDs).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { CERT_SECRETS, syncCertSecrets } from '../../deploy/tls/kubernetes-secrets.js';
import { kubeRequest } from '../../local-services/kubernetes.js';
import { skipOrFail } from '../support/environment.js';
import { getTestKubernetes, stopTestKubernetes, type TestKubernetes } from '../support/kubernetes.js';

const DIR = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url));

describe('deploy/kubernetes applied to a real kube-apiserver', () => {
  let kube: TestKubernetes | undefined;
  let reason = '';
  const kubectl = (...args: string[]) => spawnSync('kubectl', ['--server', kube!.url, '--token', kube!.token, '--certificate-authority', kube!.caFile, ...args], { encoding: 'utf8' });

  before(async () => {
    const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
    if (hasKubectl.error) return void (reason = 'kubectl is not installed');
    const res = await getTestKubernetes();
    if (!res.kube) return void (reason = res.reason);
    kube = res.kube;
  });
  after(async () => {
    if (kube) {
      kubectl('delete', '-k', DIR, '--wait=false', '--ignore-not-found');
      kubectl('-n', 'procflow', 'delete', 'secret', ...CERT_SECRETS.map((s) => s.name), '--wait=false', '--ignore-not-found');
      await kubeRequest(kube, 'DELETE', '/api/v1/namespaces/procflow/pods?gracePeriodSeconds=0').catch(() => {});
    }
    await stopTestKubernetes();
  });

  it('kubectl apply -k accepts every object, and the agent may read pods, Services and EndpointSlices and nothing else', async (t) => {
    if (!kube) return skipOrFail(t, reason);
    const applied = kubectl('apply', '-k', DIR);
    assert.equal(applied.status, 0, `kubectl apply -k failed:\n${applied.stderr}`);
    for (const obj of ['namespace/procflow', 'secret/procflow', 'job.batch/procflow-setup', 'deployment.apps/procflow-indexer', 'service/procflow-indexer',
      'daemonset.apps/procflow-agent', 'serviceaccount/procflow-agent', 'clusterrole.rbac.authorization.k8s.io/procflow-agent', 'clusterrolebinding.rbac.authorization.k8s.io/procflow-agent',
      'job.batch/procflow-certs', 'cronjob.batch/procflow-certs', 'serviceaccount/procflow-certs', 'role.rbac.authorization.k8s.io/procflow-certs', 'rolebinding.rbac.authorization.k8s.io/procflow-certs']) {
      assert.match(applied.stdout, new RegExp(`^${obj.replaceAll('.', '\\.')} (created|configured|unchanged)$`, 'm'), `${obj} in:\n${applied.stdout}`);
    }
    const again = kubectl('apply', '-k', DIR);
    assert.equal(again.status, 0, again.stderr);

    const ds = JSON.parse(execFileSync('kubectl', ['--server', kube.url, '--token', kube.token, '--certificate-authority', kube.caFile, '-n', 'procflow', 'get', 'daemonset', 'procflow-agent', '-o', 'json'], { encoding: 'utf8' })) as {
      spec: { template: { spec: { serviceAccountName: string; containers: { args: string[]; env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }[] } } };
    };
    const pod = ds.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'procflow-agent');
    assert.ok(pod.containers[0]!.args.includes('--kubernetes'));
    assert.equal(pod.containers[0]!.env.find((e) => e.name === 'PROCFLOW_NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');

    const mayAs = (account: string) => async (verb: string, resource: string, name = '', namespace = '', group = '') => {
      const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: `system:serviceaccount:procflow:${account}`, groups: ['system:serviceaccounts', 'system:serviceaccounts:procflow', 'system:authenticated'], resourceAttributes: { verb, resource, name, namespace, group } } };
      const res = await kubeRequest(kube!, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', review);
      assert.equal(res.status, 201, res.body);
      return res.json<{ status: { allowed: boolean } }>().status.allowed;
    };
    const may = mayAs('procflow-agent');
    for (const verb of ['get', 'list', 'watch']) assert.equal(await may(verb, 'pods'), true, `${verb} pods`);
    // Services and EndpointSlices, cluster-wide, to name the Service a flow went to.
    for (const verb of ['list', 'watch']) {
      assert.equal(await may(verb, 'services'), true, `${verb} services`);
      assert.equal(await may(verb, 'endpointslices', '', '', 'discovery.k8s.io'), true, `${verb} endpointslices`);
      assert.equal(await may(verb, 'endpointslices', '', 'kube-system', 'discovery.k8s.io'), true, `${verb} endpointslices of one namespace`);
    }
    assert.equal(await may('list', 'endpointslices'), false, 'endpointslices only in discovery.k8s.io, not the core group');
    assert.equal(await may('list', 'endpoints'), false, 'not the old Endpoints');
    for (const verb of ['get', 'create', 'update', 'patch', 'delete']) {
      assert.equal(await may(verb, 'services', 'kubernetes', 'default'), false, `no ${verb} services`);
      assert.equal(await may(verb, 'endpointslices', 'kubernetes', 'default', 'discovery.k8s.io'), false, `no ${verb} endpointslices`);
    }
    assert.equal(await may('list', 'secrets'), false, 'no secrets');
    assert.equal(await may('get', 'secrets', 'procflow', 'procflow'), false, 'not even one Secret');
    assert.equal(await may('delete', 'pods'), false, 'read-only');
    assert.equal(await may('list', 'nodes'), false, 'no nodes');

    // The certs Job's account: its three Secrets, in its namespace, and nothing else.
    const certsMay = mayAs('procflow-certs');
    for (const { name } of CERT_SECRETS) {
      for (const verb of ['get', 'update']) assert.equal(await certsMay(verb, 'secrets', name, 'procflow'), true, `${verb} ${name}`);
      for (const verb of ['delete', 'patch']) assert.equal(await certsMay(verb, 'secrets', name, 'procflow'), false, `no ${verb} ${name}`);
      assert.equal(await certsMay('get', 'secrets', name, 'default'), false, `not ${name} of another namespace`);
    }
    assert.equal(await certsMay('create', 'secrets', '', 'procflow'), true, 'create (which names cannot restrict)');
    assert.equal(await certsMay('get', 'secrets', 'procflow', 'procflow'), false, 'not the Secret with the Elasticsearch password');
    assert.equal(await certsMay('update', 'secrets', 'procflow', 'procflow'), false, 'nor change it');
    assert.equal(await certsMay('list', 'secrets', '', 'procflow'), false, 'no list');
    assert.equal(await certsMay('create', 'secrets', '', 'default'), false, 'no create elsewhere');
    assert.equal(await certsMay('list', 'pods', '', 'procflow'), false, 'no pods');
  });

  it('the certs Job\'s program, with its service account\'s token, makes the three Secrets once and then leaves them alone', async (t) => {
    if (!kube) return skipOrFail(t, reason);
    const cronJob = JSON.parse(kubectl('-n', 'procflow', 'get', 'cronjob', 'procflow-certs', '-o', 'json').stdout) as { spec: { jobTemplate: { spec: { template: { spec: { containers: { command: string[]; args: string[] }[] } } } } } };
    const job = JSON.parse(kubectl('-n', 'procflow', 'get', 'job', 'procflow-certs', '-o', 'json').stdout) as typeof cronJob.spec.jobTemplate;
    const container = job.spec.template.spec.containers[0]!;
    assert.deepEqual(cronJob.spec.jobTemplate.spec.template.spec.containers[0], container, 'the CronJob runs the Job\'s pod');

    const tokenRequest = await kubeRequest(kube, 'POST', '/api/v1/namespaces/procflow/serviceaccounts/procflow-certs/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } });
    assert.equal(tokenRequest.status, 201, tokenRequest.body);
    const conn = { url: kube.url, caFile: kube.caFile, token: tokenRequest.json<{ status: { token: string } }>().status.token };
    const [, ...names] = container.args;
    const sync = async () => {
      const dir = mkdtempSync(join(tmpdir(), 'procflow-certs-job-'));
      try {
        return await syncCertSecrets({ conn, namespace: 'procflow', dir, args: names, log: () => {} });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const all = (outcome: string) => Object.fromEntries(CERT_SECRETS.map((s) => [s.name, outcome]));
    assert.deepEqual(await sync(), all('created'));
    assert.deepEqual(await sync(), all('unchanged'), 'a second run (the CronJob) keeps valid certificates');

    type Secret = { type: string; data: Record<string, string> };
    const get = async (name: string) => (await kubeRequest(kube!, 'GET', `/api/v1/namespaces/procflow/secrets/${name}`)).json<Secret>();
    const ca = await get('procflow-ca');
    const indexer = await get('procflow-indexer-tls');
    const agent = await get('procflow-agent-tls');
    for (const s of [ca, indexer, agent]) assert.equal(s.type, 'kubernetes.io/tls');
    assert.deepEqual(Object.keys(ca.data).sort(), ['tls.crt', 'tls.key']);
    for (const s of [indexer, agent]) {
      assert.deepEqual(Object.keys(s.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
      assert.equal(s.data['ca.crt'], ca.data['tls.crt']);
    }
    const pem = (s: Secret, key: string) => Buffer.from(s.data[key]!, 'base64');
    const server = new X509Certificate(pem(indexer, 'tls.crt'));
    assert.ok(server.checkHost('procflow-indexer.procflow.svc'), server.subjectAltName);
    assert.ok(server.checkIP('127.0.0.1'), 'the indexer\'s probes connect to 127.0.0.1');
    assert.ok(server.verify(new X509Certificate(pem(ca, 'tls.crt')).publicKey));

    // A Secret spoilt by hand (a certificate that is not its key's) is made whole again, keeping the CA.
    const broken = (await kubeRequest(kube, 'GET', '/api/v1/namespaces/procflow/secrets/procflow-agent-tls')).json<Secret & { metadata: object }>();
    broken.data['tls.crt'] = ca.data['tls.crt']!;
    assert.equal((await kubeRequest(kube, 'PUT', '/api/v1/namespaces/procflow/secrets/procflow-agent-tls', broken)).status, 200);
    assert.deepEqual(await sync(), { ...all('unchanged'), 'procflow-agent-tls': 'updated' });
    assert.equal((await get('procflow-ca')).data['tls.key'], ca.data['tls.key']);
  });

  it('the cert-manager component builds with kustomize: Certificates for the same Secrets, and no certs Job', (t) => {
    if (spawnSync('kubectl', ['version', '--client']).error) return skipOrFail(t, 'kubectl is not installed');
    const overlay = mkdtempSync(join(tmpdir(), 'procflow-cert-manager-'));
    t.after(() => rmSync(overlay, { recursive: true, force: true }));
    writeFileSync(join(overlay, 'kustomization.yaml'), `resources: [${relative(overlay, DIR)}]\ncomponents: [${relative(overlay, join(DIR, 'cert-manager'))}]\n`);
    const built = spawnSync('kubectl', ['kustomize', overlay], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    const objects = parseAllDocuments(built.stdout).map((d) => d.toJSON() as { kind: string; metadata: { name: string }; spec?: { secretName?: string } });
    assert.deepEqual(objects.filter((o) => o.kind === 'Certificate').map((o) => o.spec!.secretName).sort(), CERT_SECRETS.map((s) => s.name).sort());
    assert.deepEqual(objects.filter((o) => o.metadata.name === 'procflow-certs'), [], 'the Job, CronJob and their RBAC are gone');
    for (const kind of ['Deployment', 'DaemonSet', 'Job']) assert.ok(objects.some((o) => o.kind === kind), kind);
  });
});
