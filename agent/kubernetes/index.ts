// Kubernetes pod metadata for the agent (optional, `--kubernetes`): a pod informer against the
// API server, looked up by pod uid (process events, from the cgroup path) and by pod IP (flow
// endpoints, Calico's "wep"). It implements the agent's PodLookup port (identity/pod-lookup.ts).
import type { Logger } from '../../common/log.js';
import { KubeApi, type KubeApiSettings } from './api-client.js';
import type { PodLookup } from '../identity/pod-lookup.js';
import { PodInformer } from './pod-informer.js';

export interface PodWatcherSettings extends KubeApiSettings {
  /** 'node': pods of nodeName only; 'cluster': every pod (remote flow peers get names too). */
  scope: 'cluster' | 'node';
  nodeName: string;
}

export interface PodWatcher extends PodLookup {
  informer: PodInformer;
}

/** Starts the informer; throws a ProcflowError at once when there is no API server to ask. */
export function startPodWatcher(s: PodWatcherSettings, log: Logger): PodWatcher {
  const api = new KubeApi(s);
  const informer = new PodInformer(api, log, { nodeName: s.scope === 'node' ? s.nodeName : undefined });
  informer.start();
  return {
    informer,
    byUid: (uid) => informer.index.byUid(uid),
    byIp: (ip) => informer.index.byIp(ip),
    close: () => void informer.close(),
  };
}
