// What the agent keeps of a Kubernetes pod: enough to name flow endpoints (Calico's "wep") and
// to tag process events (Tetragon's pod block), nothing more, so a cluster-wide watch stays small.
import type { Endpoint } from '../endpoints.js';

export interface PodInfo {
  uid: string;
  namespace: string;
  name: string;
  /** Calico's aggregated name: the generateName prefix plus "*" (nginx-7c5ddbdf54-*), else the name. */
  nameAggr: string;
  /** key=value, sorted. */
  labels: string[];
  /** Pod IPs (v4 and v6); empty for host-network pods, whose traffic is the node's. */
  ips: string[];
  nodeName: string;
  /** The flow-log endpoint this pod stands for, built once. */
  endpoint: Endpoint;
}

/** Pod lookups the agent needs: by the uid in a cgroup path, and by an address in a flow. */
export interface PodLookup {
  byUid(uid: string): PodInfo | undefined;
  byIp(ip: string): PodInfo | undefined;
  close(): void;
}

export const NO_PODS: PodLookup = { byUid: () => undefined, byIp: () => undefined, close: () => {} };

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
