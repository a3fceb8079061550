// `kubectl apply -k deploy/kubernetes`, as the README has users run it, against a real
// kube-apiserver: every manifest must pass the server's schema and admission, then the agent's
// service account must really be allowed to list and watch pods cluster-wide and nothing more
// (asked of the server's own authorizer with SubjectAccessReviews). Nothing runs the workloads
// here (no scheduler, kubelet or controllers); the objects are checked, then deleted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kubeRequest } from '../../localstack/kubernetes.js';
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
      await kubeRequest(kube, 'DELETE', '/api/v1/namespaces/procflow/pods?gracePeriodSeconds=0').catch(() => {});
    }
    await stopTestKubernetes();
  });

  it('kubectl apply -k accepts every object, and the agent may read pods and nothing else', async (t) => {
    if (!kube) return skipOrFail(t, reason);
    const applied = kubectl('apply', '-k', DIR);
    assert.equal(applied.status, 0, `kubectl apply -k failed:\n${applied.stderr}`);
    for (const obj of ['namespace/procflow', 'secret/procflow', 'job.batch/procflow-setup', 'deployment.apps/procflow-indexer', 'service/procflow-indexer',
      'daemonset.apps/procflow-agent', 'serviceaccount/procflow-agent', 'clusterrole.rbac.authorization.k8s.io/procflow-agent', 'clusterrolebinding.rbac.authorization.k8s.io/procflow-agent']) {
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

    const may = async (verb: string, resource: string, group = '') => {
      const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'system:serviceaccount:procflow:procflow-agent', groups: ['system:serviceaccounts', 'system:serviceaccounts:procflow', 'system:authenticated'], resourceAttributes: { verb, resource, group } } };
      const res = await kubeRequest(kube!, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', review);
      assert.equal(res.status, 201, res.body);
      return res.json<{ status: { allowed: boolean } }>().status.allowed;
    };
    for (const verb of ['get', 'list', 'watch']) assert.equal(await may(verb, 'pods'), true, `${verb} pods`);
    assert.equal(await may('list', 'secrets'), false, 'no secrets');
    assert.equal(await may('delete', 'pods'), false, 'read-only');
    assert.equal(await may('list', 'nodes'), false, 'no nodes');
  });
});
