// Endpoint naming for flow logs, Calico style: a Kubernetes pod's address is a workload endpoint
// ("wep", named after the pod, when --kubernetes is on); this host's own addresses are a host
// endpoint ("hep", named after the node); everything else is a network endpoint ("net") whose
// aggregated name says whether the address is private ("pvt") or public ("pub").
import { networkInterfaces } from 'node:os';
import { BlockList, isIPv4 } from 'node:net';
import { NO_PODS, type Endpoint, type PodLookup, type ServiceRef } from '../identity/pod-lookup.js';

const PRIVATE = new BlockList();
for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16]] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [['fc00::', 7], ['fe80::', 10], ['::1', 128]] as const) PRIVATE.addSubnet(net, bits, 'ipv6');

/** RFC 1918, CGNAT, loopback and link-local IPv4, parsed by hand (BlockList is slow per call). */
function isPrivateV4(ip: string): boolean {
  const d1 = ip.indexOf('.');
  const a = Number(ip.slice(0, d1));
  const b = Number(ip.slice(d1 + 1, ip.indexOf('.', d1 + 1)));
  return a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254);
}

export function isPrivateIp(ip: string): boolean {
  const v4 = isIPv4(ip);
  if (v4) return isPrivateV4(ip);
  if (!v4 && ip.startsWith('::ffff:')) return isPrivateIp(ip.slice(7));
  return PRIVATE.check(ip, v4 ? 'ipv4' : 'ipv6');
}

export class EndpointNamer {
  private ownAddresses = new Set<string>();
  private readonly cache = new Map<string, Endpoint>();
  private readonly host: Endpoint;
  private readonly pvt: Endpoint = { type: 'net', name: '-', nameAggr: 'pvt', namespace: '-' };
  private readonly pub: Endpoint = { type: 'net', name: '-', nameAggr: 'pub', namespace: '-' };

  constructor(hostName: string, private readonly pods: PodLookup = NO_PODS, private readonly maxCached = 262_144) {
    this.host = { type: 'hep', name: hostName, nameAggr: hostName, namespace: '-' };
    this.refresh();
  }

  /** Re-reads this host's addresses (interfaces come and go). */
  refresh(): void {
    const next = new Set<string>(['0.0.0.0', '::']);
    for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) next.add(a.address);
    this.ownAddresses = next;
    this.cache.clear();
  }

  /**
   * The endpoint of an address on this host's side of a flow: the pod that owns it (a pod's
   * sockets live in its own network namespace, with the pod IP), else this node.
   */
  local(ip: string): Endpoint {
    return this.pods.byIp(ip)?.endpoint ?? this.host;
  }

  /** The Kubernetes Service ip:port stands for (a ClusterIP, or a Service's backend), if any. */
  service(ip: string, port: number, proto: number): ServiceRef | undefined {
    if (proto !== 6 && proto !== 17) return undefined;
    return this.pods.serviceFor(ip, port, proto === 6 ? 'tcp' : 'udp');
  }

  /** The endpoint a peer address belongs to: a pod, this node for its own and loopback addresses, else pvt/pub. */
  of(ip: string): Endpoint {
    // Pods first and uncached: pod IPs move as pods come and go.
    const pod = this.pods.byIp(ip);
    if (pod) return pod.endpoint;
    const hit = this.cache.get(ip);
    if (hit) return hit;
    const bare = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    const ep = this.ownAddresses.has(ip) || this.ownAddresses.has(bare) || bare.startsWith('127.') || ip === '::1' ? this.host : isPrivateIp(ip) ? this.pvt : this.pub;
    if (this.cache.size >= this.maxCached) this.cache.clear();
    this.cache.set(ip, ep);
    return ep;
  }
}
