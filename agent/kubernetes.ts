// Kubernetes pod metadata (optional, off by default). Processes are matched to pods by the pod
// uid in their cgroup path (kubepods layouts); names, namespaces and labels come from the API
// server's pod list for this node, polled with the service account the agent runs under.
// Outside a cluster (no KUBERNETES_SERVICE_HOST / service account) it stays empty and says so
// once. Not exercised by the tests here: no API server is reachable on these machines.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { Logger } from '../common/log.js';

export interface PodInfo {
  namespace: string;
  name: string;
  labels: string[];
}

export interface PodLookup {
  byUid(uid: string): PodInfo | undefined;
  close(): void;
}

export const NO_PODS: PodLookup = { byUid: () => undefined, close: () => {} };

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function startPodWatcher(node: string, log: Logger, pollMs = 30_000): PodLookup {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  let token: string;
  let ca: Buffer;
  try {
    token = readFileSync(`${SA_DIR}/token`, 'utf8').trim();
    ca = readFileSync(`${SA_DIR}/ca.crt`);
  } catch {
    log.warn('kubernetes: enabled, but no service account is mounted; pod metadata stays empty');
    return NO_PODS;
  }
  if (!host) {
    log.warn('kubernetes: enabled, but KUBERNETES_SERVICE_HOST is not set; pod metadata stays empty');
    return NO_PODS;
  }
  let pods = new Map<string, PodInfo>();
  const poll = () => {
    const path = `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`;
    const req = request({ host, port, path, ca, headers: { Authorization: `Bearer ${token}` }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return log.warn({ status: res.statusCode }, 'kubernetes: pod list refused');
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items?: { metadata: { uid: string; name: string; namespace: string; labels?: Record<string, string> } }[] };
          const next = new Map<string, PodInfo>();
          for (const p of body.items ?? []) {
            next.set(p.metadata.uid, { name: p.metadata.name, namespace: p.metadata.namespace, labels: Object.entries(p.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`) });
          }
          pods = next;
        } catch (err) {
          log.warn({ err }, 'kubernetes: unreadable pod list');
        }
      });
    });
    req.on('error', (err) => log.warn({ err: err.message }, 'kubernetes: API server unreachable'));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  };
  poll();
  const timer = setInterval(poll, pollMs).unref();
  return { byUid: (uid) => pods.get(uid), close: () => clearInterval(timer) };
}
