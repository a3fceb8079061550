// The pod informer: the generic list/watch (informer.ts) of /api/v1/pods into a PodIndex, in
// node scope narrowed to this node's pods with fieldSelector spec.nodeName.
import type { Logger } from '../../common/log.js';
import type { KubeApi } from './api-client.js';
import type { PodInfo } from '../identity/pod-lookup.js';
import { Informer, type InformerOptions, type InformerStats } from './informer.js';
import { podInfoFrom, type ApiPod } from './pod.js';
import { PodIndex } from './pod-index.js';

export interface PodInformerOptions extends InformerOptions {
  /** Only pods on this node (fieldSelector spec.nodeName), else every pod in the cluster. */
  nodeName?: string;
}

/** Kept for callers that named the pod informer's stats. */
export type PodInformerStats = InformerStats;

export class PodInformer extends Informer<PodInfo, PodIndex> {
  constructor(api: KubeApi, log: Logger, o: PodInformerOptions = {}) {
    super(api, log, new PodIndex(), {
      path: '/api/v1/pods',
      query: o.nodeName ? `fieldSelector=${encodeURIComponent(`spec.nodeName=${o.nodeName}`)}` : undefined,
      plural: 'pods',
      syncedNote: '; flows and process events now name pods',
      scope: o.nodeName ? `node ${o.nodeName}` : 'cluster',
      decode: (obj) => podInfoFrom(obj as ApiPod),
    }, o);
  }
}
