// The port through which the agent asks who stands behind an address or a cgroup: which pod
// owns an IP (flow endpoints, Calico's "wep") and which pod a pod uid names (process events,
// Tetragon's pod block). The agent owns this interface; kubernetes/ implements it with a pod
// informer, and NO_PODS answers when --kubernetes is off. Only the daemon shell (run.ts) knows
// both sides, so the flow and process code never depends on the Kubernetes client.

/** Who an address on one side of a flow belongs to, in flow-log terms. */
export interface Endpoint {
  type: 'hep' | 'net' | 'wep';
  name: string;
  nameAggr: string;
  namespace: string;
  /** A pod's labels as key=value. */
  labels?: string[];
}

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

/** The null implementation: no pods are known (the agent runs without --kubernetes). */
export const NO_PODS: PodLookup = { byUid: () => undefined, byIp: () => undefined, close: () => {} };
