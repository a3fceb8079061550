// Kubernetes metadata for the agent (optional, `--kubernetes`): three informers against the API
// server. Pods, looked up by pod uid (process events, from the cgroup path) and by pod IP (flow
// endpoints, Calico's "wep"); Services and EndpointSlices, looked up by ip:port (the Service a
// flow went to, Calico's dest_service_*). It implements the agent's PodLookup port
// (identity/pod-lookup.ts).
//
// Scope: in node scope only this node's pods are watched, but Services and EndpointSlices are
// always watched cluster-wide: a pod on this node dials Services of any namespace, whose
// backends run on any node, and there is no field selector that would narrow them by node.
// Each informer keeps at most maxObjects records (its stats count what it had to drop).
import type { Logger } from '../../common/log.js';
import { KubeApi, type KubeApiSettings } from './api-client.js';
import type { PodLookup } from '../identity/pod-lookup.js';
import { Informer, type InformerStats } from './informer.js';
import { PodInformer } from './pod-informer.js';
import { serviceFrom, sliceFrom, type ApiEndpointSlice, type ApiService, type ServiceRecord, type SliceRecord } from './service.js';
import { ServiceIndex } from './service-index.js';

/** Records each informer keeps at most when the settings do not say. */
export const DEFAULT_MAX_OBJECTS = 50_000;

export interface PodWatcherSettings extends KubeApiSettings {
  /** 'node': pods of nodeName only; 'cluster': every pod (remote flow peers get names too). Services are cluster-wide either way. */
  scope: 'cluster' | 'node';
  nodeName: string;
  /** Records kept at most per kind (pods, Services, EndpointSlices); default DEFAULT_MAX_OBJECTS. */
  maxObjects?: number;
  /** Also watch Services and EndpointSlices for serviceFor (default true). */
  services?: boolean;
}

export interface KubernetesStats {
  pods: InformerStats;
  services?: InformerStats;
  endpointSlices?: InformerStats;
}

export interface PodWatcher extends PodLookup {
  /** The pod informer (its index and stats). */
  informer: PodInformer;
  serviceInformer?: Informer<ServiceRecord>;
  sliceInformer?: Informer<SliceRecord>;
  /** Every informer's stats, by kind, for /metrics and /healthz. */
  stats(): KubernetesStats;
  /** Resolves once every informer has listed once (true), or after timeoutMs (false). */
  waitForSync(timeoutMs: number): Promise<boolean>;
}

/** Starts the informers; throws a ProcflowError at once when there is no API server to ask. */
export function startPodWatcher(s: PodWatcherSettings, log: Logger): PodWatcher {
  const api = new KubeApi(s);
  const maxEntries = s.maxObjects ?? DEFAULT_MAX_OBJECTS;
  const informer = new PodInformer(api, log, { nodeName: s.scope === 'node' ? s.nodeName : undefined, maxEntries });
  const services = new ServiceIndex();
  const withServices = s.services ?? true;
  const serviceInformer = withServices
    ? new Informer(api, log, services.services, {
      path: '/api/v1/services', plural: 'services', syncedNote: '; flows now name the Services they went to',
      decode: (o) => serviceFrom(o as ApiService),
    }, { maxEntries })
    : undefined;
  const sliceInformer = withServices
    ? new Informer(api, log, services.slices, {
      path: '/apis/discovery.k8s.io/v1/endpointslices', plural: 'endpointslices',
      decode: (o) => sliceFrom(o as ApiEndpointSlice),
    }, { maxEntries })
    : undefined;
  const all = [informer, serviceInformer, sliceInformer].filter((i) => i !== undefined);
  for (const i of all) i.start();
  return {
    informer,
    serviceInformer,
    sliceInformer,
    byUid: (uid) => informer.index.byUid(uid),
    byIp: (ip) => informer.index.byIp(ip),
    serviceFor: (ip, port, proto) => services.serviceFor(ip, port, proto),
    stats: () => ({ pods: informer.stats, services: serviceInformer?.stats, endpointSlices: sliceInformer?.stats }),
    waitForSync: async (timeoutMs) => (await Promise.all(all.map((i) => i.waitForSync(timeoutMs)))).every(Boolean),
    close: () => void Promise.all(all.map((i) => i.close())),
  };
}
