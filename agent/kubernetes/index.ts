// Kubernetes pod metadata for the agent (optional, `--kubernetes`): a pod informer against the
// API server, looked up by pod uid (process events, from the cgroup path) and by pod IP (flow
// endpoints, Calico's "wep").
import type { Logger } from '../../common/log.js';
import type { AgentMetrics } from '../metrics.js';
import { KubeApi, type KubeApiSettings } from './api-client.js';
import type { PodLookup } from './pod.js';
import { PodInformer } from './pod-informer.js';

export { NO_PODS, type PodInfo, type PodLookup } from './pod.js';

export interface PodWatcherSettings extends KubeApiSettings {
  /** 'node': pods of nodeName only; 'cluster': every pod (remote flow peers get names too). */
  scope: 'cluster' | 'node';
  nodeName: string;
}

export interface PodWatcher extends PodLookup {
  informer: PodInformer;
}

/** Starts the informer; throws a ProcflowError at once when there is no API server to ask. */
export function startPodWatcher(s: PodWatcherSettings, log: Logger, metrics?: AgentMetrics): PodWatcher {
  const api = new KubeApi(s);
  const informer = new PodInformer(api, log, { nodeName: s.scope === 'node' ? s.nodeName : undefined });
  informer.start();
  if (metrics) {
    metrics.gauge('procflow_agent_kubernetes_pods', 'pods known from the Kubernetes API server', () => informer.index.size);
    metrics.gauge('procflow_agent_kubernetes_synced', '1 once the first pod list is complete', () => (informer.stats.synced ? 1 : 0));
    metrics.mirrorCounter('procflow_agent_kubernetes_lists_total', 'full pod lists (the first, then after the watch fell too far behind)', () => informer.stats.lists);
    metrics.mirrorCounter('procflow_agent_kubernetes_watch_events_total', 'pod changes received from the watch', () => informer.stats.watchEvents);
    metrics.mirrorCounter('procflow_agent_kubernetes_errors_total', 'failed pod lists and watches (retried with backoff)', () => informer.stats.errors);
  }
  return {
    informer,
    byUid: (uid) => informer.index.byUid(uid),
    byIp: (ip) => informer.index.byIp(ip),
    close: () => void informer.close(),
  };
}
