// Services by the addresses and ports that stand for them. A client's flow goes to a ClusterIP
// (or an external or load-balancer IP) and a Service port before kube-proxy or the CNI rewrites
// it; the server's side of the same flow, or a client whose flow is seen after the rewrite, has
// a backend address and target port, which the Service's EndpointSlices list. Both are indexed:
// the Service addresses from Services, the backends from EndpointSlices. A backend names a
// Service port by its name, so the Service's port number is looked up when asked, and a backend
// whose Service is gone (or not listed yet) names nothing.
import type { L4Protocol, ServiceRef } from '../identity/pod-lookup.js';
import type { InformerIndex } from './informer.js';
import { bareIp } from './pod-index.js';
import type { PortProtocol, ServiceRecord, SliceRecord } from './service.js';

const key = (ip: string, port: number, proto: PortProtocol): string => `${ip}|${port}|${proto}`;

interface Backend {
  slice: string;
  /** namespace/name of the owning Service. */
  service: string;
  portName: string;
}

/** Keeps a list of claims per key, so two objects that claim the same key can come and go in any order. */
function claim<T>(m: Map<string, T[]>, k: string, v: T): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function unclaim<T>(m: Map<string, T[]>, k: string, keep: (v: T) => boolean): void {
  const rest = m.get(k)?.filter(keep);
  if (rest?.length) m.set(k, rest);
  else m.delete(k);
}

export class ServiceIndex {
  private readonly servicesByUid = new Map<string, ServiceRecord>();
  private readonly servicesByName = new Map<string, ServiceRecord>();
  /** ip|port|proto of a Service address -> the Service ports claiming it, oldest first. */
  private readonly frontends = new Map<string, ServiceRef[]>();
  private readonly slicesByUid = new Map<string, SliceRecord>();
  /** ip|targetPort|proto of a backend -> the slice ports listing it. */
  private readonly backends = new Map<string, Backend[]>();

  /** The index the Service informer fills. */
  readonly services: InformerIndex<ServiceRecord>;
  /** The index the EndpointSlice informer fills. */
  readonly slices: InformerIndex<SliceRecord>;

  constructor() {
    const services = this.servicesByUid;
    const slices = this.slicesByUid;
    this.services = {
      get size() {
        return services.size;
      },
      has: (uid) => services.has(uid),
      upsert: (s) => this.upsertService(s),
      remove: (uid) => this.removeService(uid),
      replaceAll: (items) => {
        services.clear();
        this.servicesByName.clear();
        this.frontends.clear();
        for (const s of items) this.upsertService(s);
      },
    };
    this.slices = {
      get size() {
        return slices.size;
      },
      has: (uid) => slices.has(uid),
      upsert: (s) => this.upsertSlice(s),
      remove: (uid) => this.removeSlice(uid),
      replaceAll: (items) => {
        slices.clear();
        this.backends.clear();
        for (const s of items) this.upsertSlice(s);
      },
    };
  }

  /** The Service behind ip:port: a Service address and port first, then a backend and target port. */
  serviceFor(ip: string, port: number, proto: L4Protocol): ServiceRef | undefined {
    const addr = bareIp(ip);
    const k = key(addr, port, proto);
    const front = this.frontends.get(k);
    if (front) return front[front.length - 1];
    const claims = this.backends.get(k);
    if (!claims) return undefined;
    // Several Services can select the same pod on the same port (a headless one for a
    // StatefulSet's DNS beside a normal one, say): prefer one with a ClusterIP, then the first by
    // namespace/name, so the answer does not depend on the order the slices arrived in.
    let best: { svc: ServiceRecord; ref: ServiceRef } | undefined;
    for (const b of claims) {
      const svc = this.servicesByName.get(b.service);
      const ref = svc?.ports.find((p) => p.name === b.portName && p.proto === proto)?.ref;
      if (!svc || !ref) continue;
      if (!best || better(svc, best.svc)) best = { svc, ref };
    }
    return best?.ref;
  }

  private upsertService(s: ServiceRecord): void {
    this.removeService(s.uid);
    this.servicesByUid.set(s.uid, s);
    this.servicesByName.set(`${s.namespace}/${s.name}`, s);
    for (const ip of s.ips) for (const p of s.ports) claim(this.frontends, key(ip, p.port, p.proto), p.ref);
  }

  private removeService(uid: string): void {
    const old = this.servicesByUid.get(uid);
    if (!old) return;
    this.servicesByUid.delete(uid);
    const name = `${old.namespace}/${old.name}`;
    // A Service deleted and made again under the same name has a new uid: keep the new one.
    if (this.servicesByName.get(name) === old) this.servicesByName.delete(name);
    const refs = new Set(old.ports.map((p) => p.ref));
    for (const ip of old.ips) for (const p of old.ports) unclaim(this.frontends, key(ip, p.port, p.proto), (r) => !refs.has(r));
  }

  private upsertSlice(s: SliceRecord): void {
    this.removeSlice(s.uid);
    this.slicesByUid.set(s.uid, s);
    const service = `${s.namespace}/${s.service}`;
    for (const ip of s.addresses) for (const p of s.ports) claim(this.backends, key(ip, p.port, p.proto), { slice: s.uid, service, portName: p.name });
  }

  private removeSlice(uid: string): void {
    const old = this.slicesByUid.get(uid);
    if (!old) return;
    this.slicesByUid.delete(uid);
    for (const ip of old.addresses) for (const p of old.ports) unclaim(this.backends, key(ip, p.port, p.proto), (b) => b.slice !== uid);
  }
}

function better(a: ServiceRecord, b: ServiceRecord): boolean {
  if (a.headless !== b.headless) return !a.headless;
  return `${a.namespace}/${a.name}` < `${b.namespace}/${b.name}`;
}
