// Pods by uid and by IP. An IP can be claimed by two pods for a moment (a pod being deleted and
// its successor that got the address); the newest claim wins and the older one takes over again
// only if the newest goes away first.
import type { PodInfo } from '../identity/pod-lookup.js';
import type { InformerIndex } from './informer.js';

/** "::ffff:10.0.0.1" (a v4 peer of a dual-stack socket) is the address 10.0.0.1. */
export function bareIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

export class PodIndex implements InformerIndex<PodInfo> {
  private readonly byUidMap = new Map<string, PodInfo>();
  /** IP -> the pods claiming it, oldest first (records, not uids: one map lookup per flow end). */
  private readonly claims = new Map<string, PodInfo[]>();

  get size(): number {
    return this.byUidMap.size;
  }

  has(uid: string): boolean {
    return this.byUidMap.has(uid);
  }

  byUid(uid: string): PodInfo | undefined {
    return this.byUidMap.get(uid);
  }

  byIp(ip: string): PodInfo | undefined {
    const pods = this.claims.get(bareIp(ip));
    return pods?.[pods.length - 1];
  }

  upsert(p: PodInfo): void {
    this.remove(p.uid);
    this.byUidMap.set(p.uid, p);
    for (const ip of p.ips) {
      const pods = this.claims.get(ip);
      if (pods) pods.push(p);
      else this.claims.set(ip, [p]);
    }
  }

  remove(uid: string): void {
    const old = this.byUidMap.get(uid);
    if (!old) return;
    this.byUidMap.delete(uid);
    for (const ip of old.ips) {
      const rest = this.claims.get(ip)?.filter((p) => p.uid !== uid);
      if (rest?.length) this.claims.set(ip, rest);
      else this.claims.delete(ip);
    }
  }

  /** Swaps in a fresh list (after a relist), dropping pods deleted while the watch was down. */
  replaceAll(pods: Iterable<PodInfo>): void {
    this.byUidMap.clear();
    this.claims.clear();
    for (const p of pods) this.upsert(p);
  }
}
