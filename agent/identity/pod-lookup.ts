// The port through which the agent asks who stands behind an address or a cgroup: which pod
// owns an IP (flow endpoints, Calico's "wep"), which pod a pod uid names (process events,
// Tetragon's pod block), which container of it a container id is, and which Service an address
// and port stand for (Calico's dest_service_*). The agent owns this interface; kubernetes/
// implements it with informers, and NO_PODS answers when --kubernetes is off. Only the daemon
// shell (run.ts) knows both sides, so the flow and process code never depends on the client.

/** One container of a pod, as its status reports it (Tetragon's pod.container). */
export interface ContainerInfo {
  /** Runtime id without the runtime prefix (the 64 hex digits a cgroup path carries). */
  id: string;
  name: string;
  /** The image as the pod spec names it (status.containerStatuses[].image). */
  image: string;
  /** The image digest the runtime resolved (imageID), e.g. docker.io/library/nginx@sha256:... */
  imageId: string;
  /** Ports the container declares (spec.containers[].ports[].containerPort), to pick the container a peer reached. */
  ports: readonly number[];
  /**
   * True for a container that runs before the app and exits (an init container) or one added to
   * debug (ephemeral); false or absent for app containers and native sidecars (init containers
   * with restartPolicy Always, which run alongside the app and can serve traffic).
   */
  init?: boolean;
}

/** The workload a pod belongs to: its controller, a ReplicaSet resolved to its Deployment. */
export interface Workload {
  /**
   * The controller's kind: Deployment (a ReplicaSet it made), ReplicaSet, DaemonSet, StatefulSet,
   * Job (also one a CronJob made: nothing on the pod names the CronJob), ReplicationController,
   * a custom kind as its owner reference spells it, or Pod for a pod without a controller.
   */
  kind: string;
  /** The controller's name; the pod's own name for a bare pod. */
  name: string;
}

/** Who an address on one side of a flow belongs to, in flow-log terms. */
export interface Endpoint {
  type: 'hep' | 'net' | 'wep';
  name: string;
  nameAggr: string;
  namespace: string;
  /** A pod's labels as key=value. */
  labels?: string[];
  /** The pod behind a wep endpoint (containers, workload). */
  pod?: PodInfo;
}

export interface PodInfo {
  uid: string;
  namespace: string;
  name: string;
  /** Calico's aggregated name: the generateName prefix plus "*" (nginx-7c5ddbdf54-*), else the name. */
  nameAggr: string;
  /** key=value, sorted. */
  labels: string[];
  /** The same labels as a map (Tetragon's pod_labels). */
  labelMap: Readonly<Record<string, string>>;
  /** Pod IPs (v4 and v6); empty for host-network pods, whose traffic is the node's. */
  ips: string[];
  nodeName: string;
  workload: Workload;
  /** Containers with a runtime id (init and ephemeral containers included), from the status. */
  containers: readonly ContainerInfo[];
  /** The flow-log endpoint this pod stands for, built once. */
  endpoint: Endpoint;
}

/** A Kubernetes Service an address and port stand for (Calico's dest_service_* fields). */
export interface ServiceRef {
  namespace: string;
  name: string;
  /** The Service port's name ("" when the port is unnamed, as a single-port Service's often is). */
  portName: string;
  /** The Service port number (the port clients use, not the target port). */
  port: number;
}

export type L4Protocol = 'tcp' | 'udp';

/** Pod lookups the agent needs: by the uid in a cgroup path, and by an address in a flow. */
export interface PodLookup {
  byUid(uid: string): PodInfo | undefined;
  byIp(ip: string): PodInfo | undefined;
  /**
   * The Service behind ip:port: a ClusterIP (or external IP) and Service port, as a client sees it
   * before DNAT, or a backend address and target port from the Service's EndpointSlices, as the
   * server sees it after. Undefined when neither.
   */
  serviceFor(ip: string, port: number, proto: L4Protocol): ServiceRef | undefined;
  close(): void;
}

/** The container of a pod with this runtime id. */
export function containerById(pod: PodInfo, id: string): ContainerInfo | undefined {
  return pod.containers.find((c) => c.id === id);
}

/**
 * The container a peer reached at `port` on this pod: an app container that declares the port,
 * else any container that declares it, else the only app container. Undefined when that cannot
 * be told (several app containers, none declares the port).
 */
export function containerByPort(pod: PodInfo, port: number): ContainerInfo | undefined {
  const app = pod.containers.filter((c) => !c.init);
  const declared = app.find((c) => c.ports.includes(port)) ?? pod.containers.find((c) => c.ports.includes(port));
  if (declared) return declared;
  return app.length === 1 ? app[0] : undefined;
}

/** The null implementation: no pods are known (the agent runs without --kubernetes). */
export const NO_PODS: PodLookup = { byUid: () => undefined, byIp: () => undefined, serviceFor: () => undefined, close: () => {} };
