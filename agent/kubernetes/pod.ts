// What the agent keeps of a Kubernetes pod (PodInfo, declared by the agent's port in
// identity/pod-lookup.ts): enough to name flow endpoints (Calico's "wep") and to tag process
// events (Tetragon's pod block: containers, workload), nothing more, so a cluster-wide watch
// stays small.
import type { ContainerInfo, PodInfo, Workload } from '../identity/pod-lookup.js';
import { flatString } from '../../common/flat-string.js';

interface ApiContainer {
  name?: string;
  ports?: { containerPort?: number; name?: string; protocol?: string }[];
  /** "Always" on an init container makes it a native sidecar (runs beside the app). */
  restartPolicy?: string;
}

interface ApiContainerStatus {
  name?: string;
  containerID?: string;
  image?: string;
  imageID?: string;
}

export interface ApiOwnerReference {
  kind?: string;
  name?: string;
  controller?: boolean;
}

/** The fields of the API's Pod object that are read (everything else is ignored). */
export interface ApiPod {
  metadata?: {
    uid?: string; name?: string; namespace?: string; generateName?: string; labels?: Record<string, string>; resourceVersion?: string;
    ownerReferences?: ApiOwnerReference[];
  };
  spec?: { nodeName?: string; hostNetwork?: boolean; containers?: ApiContainer[]; initContainers?: ApiContainer[] };
  status?: {
    phase?: string; podIP?: string; podIPs?: { ip?: string }[];
    containerStatuses?: ApiContainerStatus[]; initContainerStatuses?: ApiContainerStatus[]; ephemeralContainerStatuses?: ApiContainerStatus[];
  };
}

const NO_PORTS: readonly number[] = Object.freeze([]);

/**
 * "containerd://<hex>", "cri-o://<hex>", "docker://<hex>" as the kubelet reports it, to the bare
 * id a cgroup path carries; "" when the runtime has not started the container yet.
 */
export function bareContainerId(id: string | undefined): string {
  if (!id) return '';
  const at = id.indexOf('://');
  return at < 0 ? id : flatString(id.slice(at + 3));
}

/** The controller that owns the pod, as a workload a person would name. */
export function workloadOf(p: ApiPod): Workload {
  const m = p.metadata ?? {};
  const owner = m.ownerReferences?.find((o) => o.controller === true);
  if (!owner?.kind || !owner.name) return { kind: 'Pod', name: m.name ?? '' };
  if (owner.kind === 'ReplicaSet') {
    // The Deployment controller names each of its ReplicaSets "<deployment>-<hash>" and stamps
    // the same hash on the pods as the pod-template-hash label. When both agree the Deployment
    // is known without watching ReplicaSets (Tetragon and Cilium resolve it the same way); a
    // ReplicaSet made by hand, or by another controller, lacks that match and stays itself.
    const hash = m.labels?.['pod-template-hash'];
    if (hash && owner.name.length > hash.length + 1 && owner.name.endsWith(`-${hash}`)) {
      return { kind: 'Deployment', name: flatString(owner.name.slice(0, -hash.length - 1)) };
    }
  }
  // A Job is reported as the Job, also when a CronJob made it. The CronJob controller names its
  // Jobs "<cronjob>-<scheduled minute>", but a person may name a Job that way too, and nothing
  // the pod carries names the CronJob: the Job controller's labels (batch.kubernetes.io/job-name,
  // controller-uid) name the Job, and the scheduled-timestamp annotation is on the Job only.
  // Telling the two apart would mean watching Jobs, which the agent does not.
  return { kind: owner.kind, name: owner.name };
}

/** The containers that have a runtime id: app, init and ephemeral ones, each with its declared ports. */
function containersOf(p: ApiPod): ContainerInfo[] {
  const ports = new Map<string, readonly number[]>();
  const sidecars = new Set<string>();
  const declare = (c: ApiContainer) => {
    const list = (c.ports ?? []).map((x) => x.containerPort).filter((n): n is number => typeof n === 'number');
    if (c.name && list.length) ports.set(c.name, list);
  };
  for (const c of p.spec?.containers ?? []) declare(c);
  for (const c of p.spec?.initContainers ?? []) {
    declare(c);
    if (c.name && c.restartPolicy === 'Always') sidecars.add(c.name);
  }
  const out: ContainerInfo[] = [];
  const add = (statuses: ApiContainerStatus[] | undefined, kind: 'app' | 'init' | 'ephemeral') => {
    for (const s of statuses ?? []) {
      const id = bareContainerId(s.containerID);
      if (!id || !s.name) continue;
      const c: ContainerInfo = { id, name: s.name, image: s.image ?? '', imageId: s.imageID ?? '', ports: ports.get(s.name) ?? NO_PORTS };
      if (kind === 'ephemeral' || (kind === 'init' && !sidecars.has(s.name))) c.init = true;
      out.push(c);
    }
  };
  add(p.status?.containerStatuses, 'app');
  add(p.status?.initContainerStatuses, 'init');
  add(p.status?.ephemeralContainerStatuses, 'ephemeral');
  return out;
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
  // Made sequential: they go into the flow logs of every connection of the pod (common/flat-string.ts).
  const nameAggr = m.generateName ? flatString(`${m.generateName}*`) : m.name;
  const labelMap = Object.freeze({ ...(m.labels ?? {}) });
  const labels = Object.entries(labelMap).map(([k, v]) => flatString(`${k}=${v}`)).sort();
  const finished = p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
  const ips = new Set<string>();
  if (!p.spec?.hostNetwork && !finished) {
    if (p.status?.podIP) ips.add(p.status.podIP);
    for (const a of p.status?.podIPs ?? []) if (a.ip) ips.add(a.ip);
  }
  const info: PodInfo = {
    uid: m.uid,
    namespace,
    name: m.name,
    nameAggr,
    labels,
    labelMap,
    ips: [...ips],
    nodeName: p.spec?.nodeName ?? '',
    workload: workloadOf(p),
    containers: containersOf(p),
    endpoint: { type: 'wep', name: m.name, nameAggr, namespace, labels },
  };
  // The endpoint points back at its pod, so a flow end leads to containers and workload.
  info.endpoint.pod = info;
  return info;
}
