// What the agent keeps of a Kubernetes pod (PodInfo, declared by the agent's port in
// identity/pod-lookup.ts): enough to name flow endpoints (Calico's "wep") and to tag process
// events (Tetragon's pod block), nothing more, so a cluster-wide watch stays small.
import type { PodInfo } from '../identity/pod-lookup.js';

/** The fields of the API's Pod object that are read (everything else is ignored). */
export interface ApiPod {
  metadata?: { uid?: string; name?: string; namespace?: string; generateName?: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: { nodeName?: string; hostNetwork?: boolean };
  status?: { phase?: string; podIP?: string; podIPs?: { ip?: string }[] };
}

/**
 * The compact record of an API pod, or undefined when it lacks a uid or name. Finished pods
 * (Succeeded, Failed) keep their names for process events but give up their IPs, which the
 * network may already have handed to a new pod.
 */
export function podInfoFrom(p: ApiPod): PodInfo | undefined {
  const m = p.metadata;
  if (!m?.uid || !m.name) return undefined;
  const namespace = m.namespace ?? 'default';
  const nameAggr = m.generateName ? `${m.generateName}*` : m.name;
  const labels = Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${v}`).sort();
  const finished = p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
  const ips = new Set<string>();
  if (!p.spec?.hostNetwork && !finished) {
    if (p.status?.podIP) ips.add(p.status.podIP);
    for (const a of p.status?.podIPs ?? []) if (a.ip) ips.add(a.ip);
  }
  return {
    uid: m.uid,
    namespace,
    name: m.name,
    nameAggr,
    labels,
    ips: [...ips],
    nodeName: p.spec?.nodeName ?? '',
    endpoint: { type: 'wep', name: m.name, nameAggr, namespace, labels },
  };
}
