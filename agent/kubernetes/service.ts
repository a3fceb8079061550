// What the agent keeps of Services and EndpointSlices (discovery.k8s.io/v1): the addresses a
// client dials (ClusterIPs, external IPs, load-balancer IPs) with the Service ports, and the
// backend addresses with the ports they serve, so a flow's ip:port can be named as the Service
// behind it (Calico's dest_service_namespace, _name, _port (the port's name), _port_num).
import type { ServiceRef } from '../identity/pod-lookup.js';

/** TCP, UDP or SCTP as the API spells them, lower-cased; TCP when absent (the API's default). */
export type PortProtocol = 'tcp' | 'udp' | 'sctp';

export interface ApiService {
  metadata?: { uid?: string; name?: string; namespace?: string; resourceVersion?: string };
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    externalIPs?: string[];
    ports?: { name?: string; port?: number; protocol?: string }[];
  };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

export interface ApiEndpointSlice {
  metadata?: { uid?: string; name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  addressType?: string;
  endpoints?: { addresses?: string[] }[] | null;
  ports?: { name?: string | null; port?: number | null; protocol?: string | null }[] | null;
}

export interface ServicePort {
  name: string;
  port: number;
  proto: PortProtocol;
  /** The answer for this port, built once and shared by every lookup. */
  ref: ServiceRef;
}

export interface ServiceRecord {
  uid: string;
  namespace: string;
  name: string;
  /** clusterIP None: clients reach the backends directly, there is no Service address. */
  headless: boolean;
  /** Addresses clients dial: ClusterIPs (both families), external IPs, load-balancer IPs. */
  ips: string[];
  ports: ServicePort[];
}

export interface SlicePort {
  /** The Service port's name this slice port serves ("" for an unnamed one). */
  name: string;
  /** The port the backends listen on (the Service's targetPort, resolved). */
  port: number;
  proto: PortProtocol;
}

export interface SliceRecord {
  uid: string;
  namespace: string;
  /** The owning Service's name, from the kubernetes.io/service-name label. */
  service: string;
  addresses: string[];
  ports: SlicePort[];
}

/** The label the EndpointSlice controller (and anyone mirroring it) sets to the Service's name. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function protocolOf(p: string | null | undefined): PortProtocol | undefined {
  if (!p) return 'tcp';
  const l = p.toLowerCase();
  return l === 'tcp' || l === 'udp' || l === 'sctp' ? l : undefined;
}

/** The compact record of a Service, or undefined when it lacks a uid or name. */
export function serviceFrom(s: ApiService): ServiceRecord | undefined {
  const m = s.metadata;
  if (!m?.uid || !m.name) return undefined;
  const namespace = m.namespace ?? 'default';
  const spec = s.spec ?? {};
  const headless = spec.clusterIP === 'None';
  const ips = new Set<string>();
  if (spec.type !== 'ExternalName') {
    for (const ip of [spec.clusterIP, ...(spec.clusterIPs ?? [])]) if (ip && ip !== 'None') ips.add(ip);
    for (const ip of spec.externalIPs ?? []) if (ip) ips.add(ip);
    for (const ing of s.status?.loadBalancer?.ingress ?? []) if (ing.ip) ips.add(ing.ip);
  }
  const ports: ServicePort[] = [];
  for (const p of spec.ports ?? []) {
    const proto = protocolOf(p.protocol);
    if (!proto || typeof p.port !== 'number') continue;
    const name = p.name ?? '';
    ports.push({ name, port: p.port, proto, ref: Object.freeze({ namespace, name: m.name, portName: name, port: p.port }) });
  }
  return { uid: m.uid, namespace, name: m.name, headless, ips: [...ips], ports };
}

/**
 * The compact record of an EndpointSlice, or undefined when it cannot name a backend: no uid, no
 * owning Service label, or FQDN addresses (not an IP a flow carries).
 */
export function sliceFrom(s: ApiEndpointSlice): SliceRecord | undefined {
  const m = s.metadata;
  const service = m?.labels?.[SERVICE_NAME_LABEL];
  if (!m?.uid || !service) return undefined;
  if (s.addressType !== 'IPv4' && s.addressType !== 'IPv6') return undefined;
  const addresses = new Set<string>();
  // Every listed endpoint, ready or not: one that is terminating still carries its open connections.
  for (const e of s.endpoints ?? []) for (const a of e.addresses ?? []) if (a) addresses.add(a);
  const ports: SlicePort[] = [];
  for (const p of s.ports ?? []) {
    const proto = protocolOf(p.protocol);
    // A port left out means "all ports" for a Service without ports, which names no Service port.
    if (!proto || typeof p.port !== 'number') continue;
    ports.push({ name: p.name ?? '', port: p.port, proto });
  }
  return { uid: m.uid, namespace: m.namespace ?? 'default', service, addresses: [...addresses], ports };
}
