// Generated flow logs for the indexer benchmark, deterministic (a seeded PRNG), in two shapes:
//
// - `agent`: what `procflow agent --kubernetes` on a cluster's nodes sends at the default full
//   aggregation level: one batch per node per 15 s interval, every log of a batch with the same
//   @timestamp, start_time and end_time; pods with their workloads, labels, containers and
//   images; flows to Services (their backends after DNAT), to other pods, to CoreDNS, out to
//   the internet (named from DNS answers) and the node's own daemons; one argument list per
//   process, as the agent joins it; community ids from the real hash; exec ids as the agent
//   builds them. What the storage figures in the README are measured on.
// - `plain`: the benchmark's earlier generator: no Kubernetes, random addresses and ports,
//   every document at its own millisecond, a few host processes with their arguments one per
//   element. Kept to compare with earlier figures.
import { communityId } from '../agent/flows/community-id.js';
import { execId } from '../agent/process/exec-id.js';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { AGENT_SETTINGS } from '../agent/config.js';
import { BATCH_ENCODINGS, type BatchEncoding } from '../common/batch-encoding.js';
import type { FlowLog } from '../schema/index.js';
import { prng } from '../test/support/prng.js';

export const GENERATORS = ['agent', 'plain'] as const;
export type Generator = (typeof GENERATORS)[number];


interface Rand {
  next: () => number;
  pick: <T>(a: readonly T[]) => T;
  int: (lo: number, hi: number) => number;
  hex: (chars: number) => string;
  /** A size with a long tail: most flows small, a few large. */
  bytes: (median: number) => number;
}

function rand(seed: number): Rand {
  const next = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    pick: (a) => a[Math.floor(next() * a.length)]!,
    hex: (chars) => Array.from({ length: chars }, () => int(0, 15).toString(16)).join(''),
    bytes: (median) => Math.max(40, Math.round(median * Math.exp((next() + next() + next() - 1.5) * 3))),
  };
}

export function generateFlowLogs(kind: Generator, n: number, day: number): FlowLog[] {
  return kind === 'agent' ? agentFlowLogs(n, day) : plainFlowLogs(n, day);
}

// ---- agent: a Kubernetes cluster as the agent reports it ----

interface Workload {
  namespace: string;
  name: string;
  kind: 'Deployment' | 'DaemonSet' | 'StatefulSet';
  container: string;
  image: string;
  binary: string;
  args: string;
  user: [number, string];
  parent: string;
  /** The port it serves on (its Service's target port), if it serves. */
  port?: number;
  /** Who it calls: workload names, 'dns', 'external:<domain>' or 'apiserver'. */
  calls: string[];
}

const WORKLOADS: Workload[] = [
  { namespace: 'shop', name: 'frontend', kind: 'Deployment', container: 'frontend', image: 'registry.example.com/shop/frontend:2.14.1', binary: '/usr/local/bin/node', args: 'dist/server.js --port=8080', user: [1000, 'node'], parent: '/usr/bin/containerd-shim-runc-v2', port: 8080, calls: ['cart', 'catalog', 'checkout', 'dns', 'external:cdn.jsdelivr.net'] },
  { namespace: 'shop', name: 'cart', kind: 'Deployment', container: 'cart', image: 'registry.example.com/shop/cart:1.9.0', binary: '/app/cart', args: '--listen=:7070 --redis=redis:6379', user: [65532, '65532'], parent: '/usr/bin/containerd-shim-runc-v2', port: 7070, calls: ['redis', 'dns'] },
  { namespace: 'shop', name: 'catalog', kind: 'Deployment', container: 'catalog', image: 'registry.example.com/shop/catalog:3.2.7', binary: '/usr/lib/jvm/java-21-openjdk-amd64/bin/java', args: '-XX:MaxRAMPercentage=75 -jar /app/catalog.jar', user: [1001, 'app'], parent: '/usr/bin/containerd-shim-runc-v2', port: 8080, calls: ['postgres', 'dns', 'external:search.example-saas.io'] },
  { namespace: 'shop', name: 'checkout', kind: 'Deployment', container: 'checkout', image: 'registry.example.com/shop/checkout:0.31.2', binary: '/usr/local/bin/python3.12', args: '-m gunicorn checkout.wsgi:app --bind 0.0.0.0:8000 --workers 4', user: [1000, 'app'], parent: '/usr/local/bin/gunicorn', port: 8000, calls: ['postgres', 'kafka', 'dns', 'external:api.stripe.com'] },
  { namespace: 'shop', name: 'redis', kind: 'StatefulSet', container: 'redis', image: 'docker.io/library/redis:7.4.1', binary: '/usr/local/bin/redis-server', args: '*:6379', user: [999, 'redis'], parent: '/usr/bin/containerd-shim-runc-v2', port: 6379, calls: [] },
  { namespace: 'data', name: 'postgres', kind: 'StatefulSet', container: 'postgres', image: 'docker.io/library/postgres:16.4', binary: '/usr/lib/postgresql/16/bin/postgres', args: '-c config_file=/etc/postgresql/postgresql.conf', user: [999, 'postgres'], parent: '/usr/lib/postgresql/16/bin/postgres', port: 5432, calls: [] },
  { namespace: 'data', name: 'kafka', kind: 'StatefulSet', container: 'kafka', image: 'docker.io/bitnami/kafka:3.8.0', binary: '/opt/bitnami/java/bin/java', args: '-Xmx1g -Xms1g -server -XX:+UseG1GC -cp /opt/bitnami/kafka/libs/* kafka.Kafka /opt/bitnami/kafka/config/server.properties', user: [1001, '1001'], parent: '/bin/bash', port: 9092, calls: ['kafka', 'dns'] },
  { namespace: 'kube-system', name: 'coredns', kind: 'Deployment', container: 'coredns', image: 'registry.k8s.io/coredns/coredns:v1.11.3', binary: '/coredns', args: '-conf /etc/coredns/Corefile', user: [65532, '65532'], parent: '/usr/bin/containerd-shim-runc-v2', port: 53, calls: ['external:dns.google'] },
  { namespace: 'monitoring', name: 'node-exporter', kind: 'DaemonSet', container: 'node-exporter', image: 'quay.io/prometheus/node-exporter:v1.8.2', binary: '/bin/node_exporter', args: '--path.procfs=/host/proc --path.sysfs=/host/sys --web.listen-address=:9100', user: [65534, 'nobody'], parent: '/usr/bin/containerd-shim-runc-v2', port: 9100, calls: [] },
  { namespace: 'monitoring', name: 'prometheus', kind: 'StatefulSet', container: 'prometheus', image: 'quay.io/prometheus/prometheus:v2.54.1', binary: '/bin/prometheus', args: '--config.file=/etc/prometheus/prometheus.yml --storage.tsdb.retention.time=15d', user: [65534, 'nobody'], parent: '/usr/bin/containerd-shim-runc-v2', port: 9090, calls: ['node-exporter', 'frontend', 'apiserver', 'dns'] },
  { namespace: 'logging', name: 'fluent-bit', kind: 'DaemonSet', container: 'fluent-bit', image: 'cr.fluentbit.io/fluent/fluent-bit:3.1.9', binary: '/fluent-bit/bin/fluent-bit', args: '-c /fluent-bit/etc/fluent-bit.conf', user: [0, 'root'], parent: '/usr/bin/containerd-shim-runc-v2', calls: ['external:logs.example-saas.io', 'apiserver', 'dns'] },
];

const EXTERNAL: Record<string, { ips: string[]; cnames: string[] }> = {
  'cdn.jsdelivr.net': { ips: ['151.101.1.229', '151.101.65.229'], cnames: ['jsdelivr.map.fastly.net'] },
  'search.example-saas.io': { ips: ['34.120.177.193'], cnames: [] },
  'api.stripe.com': { ips: ['54.187.216.72', '54.187.174.169', '2600:1f14:24ee:e500::c8'], cnames: [] },
  'dns.google': { ips: ['8.8.8.8', '8.8.4.4'], cnames: [] },
  'logs.example-saas.io': { ips: ['35.190.60.12'], cnames: ['ingest.eu.example-saas.io'] },
};

/** The node's own daemons: kubelet to the API server, containerd pulling, sshd. */
const HOST_PROCESSES = [
  { binary: '/usr/bin/kubelet', args: '--config=/var/lib/kubelet/config.yaml --kubeconfig=/etc/kubernetes/kubelet.conf --container-runtime-endpoint=unix:///run/containerd/containerd.sock', user: [0, 'root'] as [number, string], parent: '/usr/lib/systemd/systemd' },
  { binary: '/usr/bin/containerd', args: '', user: [0, 'root'] as [number, string], parent: '/usr/lib/systemd/systemd' },
];

interface Pod {
  w: Workload;
  name: string;
  nameAggr: string;
  ip: string;
  node: number;
  labels: string[];
  imageId: string;
  containerId: string;
  pid: number;
  execId: string;
}

const INTERVAL_MS = 15_000;

function agentFlowLogs(n: number, day: number): FlowLog[] {
  const r = rand(7);
  const NODES = 12;
  const nodes = Array.from({ length: NODES }, (_, i) => ({ name: `ip-10-0-${16 + i * 5}-${r.int(10, 250)}.eu-west-1.compute.internal`, ip: `10.0.${16 + i * 5}.${r.int(10, 250)}` }));
  const bootNs = (i: number) => BigInt(1_000_000_000 * (3600 + i * 97));
  const digest = new Map(WORKLOADS.map((w) => [w.name, `${w.image.split(':')[0]}@sha256:${r.hex(64)}`]));
  const pods: Pod[] = [];
  for (const w of WORKLOADS) {
    const replicas = w.kind === 'DaemonSet' ? NODES : w.kind === 'StatefulSet' ? 3 : r.int(3, 6);
    const hash = r.hex(10).replace(/[0-3]/g, 'b');
    for (let i = 0; i < replicas; i++) {
      const node = w.kind === 'DaemonSet' ? i : r.int(0, NODES - 1);
      const name = w.kind === 'Deployment' ? `${w.name}-${hash}-${r.hex(5)}` : w.kind === 'StatefulSet' ? `${w.name}-${i}` : `${w.name}-${r.hex(5)}`;
      const nameAggr = w.kind === 'Deployment' ? `${w.name}-${hash}-*` : w.kind === 'StatefulSet' ? name : `${w.name}-*`;
      const pid = r.int(2000, 400_000);
      const labels = [`app.kubernetes.io/name=${w.name}`, `app.kubernetes.io/part-of=${w.namespace}`];
      if (w.kind === 'Deployment') labels.push(`pod-template-hash=${hash}`);
      if (w.kind === 'StatefulSet') labels.push(`statefulset.kubernetes.io/pod-name=${name}`);
      labels.sort();
      pods.push({ w, name, nameAggr, ip: `10.244.${node}.${r.int(2, 250)}`, node, labels, imageId: digest.get(w.name)!, containerId: r.hex(64), pid, execId: execId(nodes[node]!.name, pid, bootNs(pid)) });
    }
  }
  const podsOf = (workload: string) => pods.filter((p) => p.w.name === workload);
  const apiserver = { ip: '10.0.0.10', port: 6443 };
  const hostProcs = nodes.map((node) => HOST_PROCESSES.map((h) => {
    const pid = r.int(300, 2000);
    return { ...h, pid, execId: execId(node.name, pid, bootNs(pid)) };
  }));

  // One interval of one node: its pods' flows and its daemons'.
  const intervalDocs = (node: number, end: number): FlowLog[] => {
    const out: FlowLog[] = [];
    const endIso = new Date(end).toISOString();
    const startIso = new Date(end - INTERVAL_MS).toISOString();
    const host = nodes[node]!.name;
    const base = (proto: 'tcp' | 'udp', reporter: 'src' | 'dst'): FlowLog => ({
      '@timestamp': endIso, start_time: startIso, end_time: endIso, host,
      source_name: '-', source_name_aggr: '-', source_namespace: '-', source_type: 'net',
      dest_name: '-', dest_name_aggr: '-', dest_namespace: '-', dest_type: 'net',
      proto, reporter, bytes_in: 0, bytes_out: 0, packets_in: 0, packets_out: 0,
      num_flows: 1, num_flows_started: 0, num_flows_completed: 0,
      process_name: '-', num_process_names: 1, process_id: '-', num_process_ids: 1, process_args: [], num_process_args: 0,
    });
    const side = (doc: FlowLog, which: 'source' | 'dest', p: Pod | undefined, hostEp?: { name: string }) => {
      const d = doc as unknown as Record<string, unknown>;
      if (p) {
        Object.assign(d, { [`${which}_name`]: p.name, [`${which}_name_aggr`]: p.nameAggr, [`${which}_namespace`]: p.w.namespace, [`${which}_type`]: 'wep', [`${which}_labels`]: p.labels,
          [`${which}_workload`]: p.w.name, [`${which}_workload_kind`]: p.w.kind, [`${which}_container_name`]: p.w.container, [`${which}_container_image`]: p.w.image, [`${which}_container_image_id`]: p.imageId });
      } else if (hostEp) {
        Object.assign(d, { [`${which}_name`]: hostEp.name, [`${which}_name_aggr`]: hostEp.name, [`${which}_namespace`]: '-', [`${which}_type`]: 'hep' });
      } else {
        Object.assign(d, { [`${which}_name`]: '-', [`${which}_name_aggr`]: which === 'dest' && doc.dest_ip && !doc.dest_ip.startsWith('10.') ? 'pub' : 'pvt', [`${which}_namespace`]: '-', [`${which}_type`]: 'net' });
      }
    };
    const proc = (doc: FlowLog, p: { binary: string; args: string; user: [number, string]; parent: string; pid: number; execId: string }, containerId?: string) => {
      Object.assign(doc, { process_name: p.binary, process_id: String(p.pid), process_args: p.args ? [p.args] : [], num_process_args: p.args ? 1 : 0, process_exec_id: p.execId, process_source: 'kernel', process_args_truncated: false, process_user_id: p.user[0], process_user_name: p.user[1], process_parent_name: p.parent });
      if (containerId) doc.container_id = containerId;
    };
    const traffic = (doc: FlowLog, proto: 'tcp' | 'udp', out: number, inb: number) => {
      doc.bytes_out = r.bytes(out);
      doc.bytes_in = r.bytes(inb);
      doc.packets_out = Math.max(1, Math.ceil(doc.bytes_out / r.int(600, 1400)));
      doc.packets_in = Math.max(1, Math.ceil(doc.bytes_in / r.int(600, 1400)));
      if (proto === 'tcp') {
        const rtt = r.int(80, 2500);
        Object.assign(doc, {
          num_flows_started: r.next() < 0.6 ? 1 : 0, num_flows_completed: r.next() < 0.6 ? 1 : 0,
          tcp_mean_send_congestion_window: r.int(10, 60), tcp_min_send_congestion_window: 10,
          tcp_mean_smooth_rtt: rtt, tcp_max_smooth_rtt: rtt + r.int(0, 4000), tcp_mean_min_rtt: Math.round(rtt * 0.7), tcp_max_min_rtt: Math.round(rtt * 0.7),
          tcp_mean_mss: 1398, tcp_min_mss: 1398, tcp_total_retransmissions: r.next() < 0.97 ? 0 : r.int(1, 4), tcp_lost_packets: 0,
        });
      } else {
        doc.num_flows_started = r.next() < 0.5 ? 1 : 0;
      }
    };
    const ephemeral = () => r.int(32768, 60999);
    for (const p of pods.filter((q) => q.node === node)) {
      for (const target of p.w.calls) {
        if (r.next() < 0.35) continue;
        const sport = ephemeral();
        if (target === 'dns') {
          const dnsPod = r.pick(podsOf('coredns'));
          const doc = base('udp', 'src');
          Object.assign(doc, { source_ip: p.ip, source_port: sport, dest_ip: dnsPod.ip, dest_port: 53 });
          side(doc, 'source', p);
          side(doc, 'dest', dnsPod);
          Object.assign(doc, { dest_service_name: 'kube-dns', dest_service_namespace: 'kube-system', dest_service_port: 'dns', dest_service_port_num: 53 });
          proc(doc, { ...p.w, pid: p.pid, execId: p.execId }, p.containerId);
          traffic(doc, 'udp', 80, 200);
          doc.community_id = communityId(17, p.ip, sport, dnsPod.ip, 53);
          out.push(doc);
        } else if (target.startsWith('external:')) {
          const domain = target.slice(9);
          const ext = EXTERNAL[domain]!;
          const ip = r.pick(ext.ips);
          const doc = base('tcp', 'src');
          Object.assign(doc, { source_ip: p.ip, source_port: sport, dest_ip: ip, dest_port: domain === 'dns.google' ? 53 : 443 });
          side(doc, 'source', p);
          side(doc, 'dest', undefined);
          doc.dest_domains = [domain, ...ext.cnames];
          proc(doc, { ...p.w, pid: p.pid, execId: p.execId }, p.containerId);
          traffic(doc, 'tcp', 2000, 9000);
          doc.community_id = communityId(6, p.ip, sport, ip, doc.dest_port!);
          out.push(doc);
        } else if (target === 'apiserver') {
          const doc = base('tcp', 'src');
          Object.assign(doc, { source_ip: p.ip, source_port: sport, dest_ip: apiserver.ip, dest_port: apiserver.port, dest_service_name: 'kubernetes', dest_service_namespace: 'default', dest_service_port: 'https', dest_service_port_num: 443 });
          side(doc, 'source', p);
          side(doc, 'dest', undefined);
          proc(doc, { ...p.w, pid: p.pid, execId: p.execId }, p.containerId);
          traffic(doc, 'tcp', 800, 4000);
          doc.community_id = communityId(6, p.ip, sport, apiserver.ip, apiserver.port);
          out.push(doc);
        } else {
          // To a Service: the backend after DNAT, named as its pod; the server's node reports too.
          const backend = r.pick(podsOf(target));
          const port = backend.w.port!;
          const doc = base('tcp', 'src');
          Object.assign(doc, { source_ip: p.ip, source_port: sport, dest_ip: backend.ip, dest_port: port, dest_service_name: target, dest_service_namespace: backend.w.namespace, dest_service_port: r.next() < 0.8 ? 'http' : '-', dest_service_port_num: port });
          side(doc, 'source', p);
          side(doc, 'dest', backend);
          proc(doc, { ...p.w, pid: p.pid, execId: p.execId }, p.containerId);
          traffic(doc, 'tcp', 1500, 6000);
          doc.community_id = communityId(6, p.ip, sport, backend.ip, port);
          out.push(doc);
          if (backend.node === node) {
            const back = { ...doc, reporter: 'dst', bytes_in: doc.bytes_out, bytes_out: doc.bytes_in, packets_in: doc.packets_out, packets_out: doc.packets_in } as FlowLog;
            proc(back, { ...backend.w, pid: backend.pid, execId: backend.execId }, backend.containerId);
            out.push(back);
          }
        }
      }
    }
    for (const h of hostProcs[node]!) {
      const sport = ephemeral();
      const doc = base('tcp', 'src');
      Object.assign(doc, { source_ip: nodes[node]!.ip, source_port: sport, dest_ip: h.binary.endsWith('kubelet') ? apiserver.ip : '52.95.150.10', dest_port: h.binary.endsWith('kubelet') ? apiserver.port : 443 });
      side(doc, 'source', undefined, { name: host });
      side(doc, 'dest', undefined);
      proc(doc, h);
      traffic(doc, 'tcp', 3000, 3000);
      doc.community_id = communityId(6, doc.source_ip!, sport, doc.dest_ip!, doc.dest_port!);
      out.push(doc);
    }
    return out;
  };

  const docs: FlowLog[] = [];
  // Intervals through the day, each node's batch in turn (agents ship at the end of an interval).
  for (let end = day + 3_600_000; docs.length < n; end += INTERVAL_MS) {
    for (let node = 0; node < NODES && docs.length < n; node++) {
      for (const d of intervalDocs(node, end)) if (docs.length < n) docs.push(d);
    }
  }
  return docs;
}

// ---- plain: the earlier generator ----

const PROCESSES: Array<[string, string[][]]> = [
  ['/usr/bin/curl', [['-sSL', 'https://api.github.com/repos/elastic/elasticsearch'], ['-fsS', 'http://10.0.0.12:8080/healthz']]],
  ['/usr/sbin/nginx', [['-g', 'daemon off;'], []]],
  ['/usr/local/bin/node', [['/srv/app/server.js', '--port=3000'], ['/srv/worker/index.js']]],
  ['/usr/bin/python3.11', [['-m', 'gunicorn', 'app:wsgi', '--bind', '0.0.0.0:8000'], ['/opt/etl/run.py', '--since=1h']]],
  ['/usr/lib/jvm/java-21-openjdk-amd64/bin/java', [['-Xms1g', '-jar', '/opt/kafka/libs/kafka.jar'], ['-cp', '/opt/app/lib/*', 'com.example.Main']]],
  ['/usr/sbin/sshd', [['-D'], []]],
  ['/usr/bin/postgres', [['-D', '/var/lib/postgresql/16/main'], []]],
  ['/usr/bin/dockerd', [['-H', 'fd://', '--containerd=/run/containerd/containerd.sock'], []]],
  ['/usr/lib/systemd/systemd-resolved', [[]]],
  ['kworker/u8:2', [[]]],
];
const SERVICE_PORTS = [443, 80, 53, 5432, 9200, 6379, 8080, 22, 9092, 3000, 8000];

function plainFlowLogs(n: number, day: number): FlowLog[] {
  const { next: rnd, pick, int } = rand(42);
  const v4 = (pub: boolean) => (pub ? `${int(1, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}` : `10.${int(0, 3)}.${int(0, 255)}.${int(1, 254)}`);
  const v6 = () => `2001:db8:${int(0, 0xffff).toString(16)}:${int(0, 0xffff).toString(16)}::${int(1, 0xffff).toString(16)}`;
  const docs: FlowLog[] = [];
  for (let i = 0; i < n; i++) {
    const end = day + 3_600_000 + Math.floor((i / n) * 72_000_000);
    const ipv6 = rnd() < 0.2;
    const outbound = rnd() < 0.7;
    const [proc, argSets] = pick(PROCESSES);
    const args = pick(argSets);
    const bytesOut = Math.floor(Math.exp(rnd() * 16));
    const bytesIn = Math.floor(Math.exp(rnd() * 18));
    const tcp = rnd() < 0.85;
    const doc: FlowLog = {
      '@timestamp': new Date(end).toISOString(),
      start_time: new Date(end - 15_000).toISOString(),
      end_time: new Date(end).toISOString(),
      host: `node-${int(1, 40)}`,
      source_ip: ipv6 ? v6() : v4(!outbound),
      source_port: outbound ? int(32768, 60999) : pick(SERVICE_PORTS),
      source_name: '-',
      source_name_aggr: outbound ? `node-${int(1, 40)}` : 'pub',
      source_namespace: '-',
      source_type: outbound ? 'hep' : 'net',
      dest_ip: ipv6 ? v6() : v4(outbound),
      dest_port: outbound ? pick(SERVICE_PORTS) : int(32768, 60999),
      dest_name: '-',
      dest_name_aggr: outbound ? 'pub' : `node-${int(1, 40)}`,
      dest_namespace: '-',
      dest_type: outbound ? 'net' : 'hep',
      proto: tcp ? 'tcp' : 'udp',
      reporter: outbound ? 'src' : 'dst',
      bytes_in: bytesIn,
      bytes_out: bytesOut,
      packets_in: Math.max(1, Math.floor(bytesIn / 1400)),
      packets_out: Math.max(1, Math.floor(bytesOut / 1400)),
      num_flows: int(1, 4),
      num_flows_started: int(0, 2),
      num_flows_completed: int(0, 2),
      process_name: proc,
      num_process_names: 1,
      process_id: String(int(300, 4_000_000)),
      num_process_ids: 1,
      process_args: args,
      num_process_args: 1,
      process_exec_id: Buffer.from(`node-${i % 40}:${int(1e9, 9e9)}:${int(300, 4_000_000)}`).toString('base64url'),
      process_source: 'kernel',
      process_user_id: pick([0, 33, 101, 1000]),
      community_id: `1:${Buffer.from(String(rnd())).toString('base64').slice(0, 27)}=`,
    };
    if (tcp) {
      Object.assign(doc, {
        tcp_mean_send_congestion_window: int(10, 400),
        tcp_min_send_congestion_window: int(2, 10),
        tcp_mean_smooth_rtt: int(50, 80_000),
        tcp_max_smooth_rtt: int(80_000, 200_000),
        tcp_mean_min_rtt: int(30, 50_000),
        tcp_max_min_rtt: int(50_000, 90_000),
        tcp_mean_mss: 1448,
        tcp_min_mss: 1448,
        tcp_total_retransmissions: int(0, 3),
        tcp_lost_packets: int(0, 1),
      });
    }
    docs.push(doc);
  }
  return docs;
}

/** A day only the benchmarks write to, so a shared cluster's other indices are left alone. */
export const BENCH_DAY = Date.UTC(2002, 1, 2);

/** The agent's batch limits (its defaults): at most this many documents and bytes per batch. */
export const AGENT_BATCH_DOCS = AGENT_SETTINGS.batch_max_docs.default;
export const AGENT_BATCH_BYTES = AGENT_SETTINGS.batch_max_size.default;

/**
 * How the benchmarks' agent batches are compressed: BENCH_ENCODING, else as agents compress
 * them by default (--batch-compression).
 */
export const BENCH_ENCODING = ((): BatchEncoding => {
  const e = process.env.BENCH_ENCODING ?? AGENT_SETTINGS.batch_compression.default;
  if ((BATCH_ENCODINGS as readonly string[]).includes(e)) return e as BatchEncoding;
  throw new Error(`bench: BENCH_ENCODING must be one of ${BATCH_ENCODINGS.join(', ')} (got ${JSON.stringify(e)})`);
})();

export interface AgentBatches {
  /** Compressed NDJSON request bodies (BENCH_ENCODING), each one line per document. */
  batches: Buffer[];
  /** Their size before compression. */
  rawBytes: number;
}

/** The documents as agents send them: at most `maxDocs` documents and AGENT_BATCH_BYTES a batch. */
export function agentBatches(docs: readonly FlowLog[], maxDocs = AGENT_BATCH_DOCS, encoding = BENCH_ENCODING): AgentBatches {
  const batches: Buffer[] = [];
  let rawBytes = 0;
  let lines: string[] = [];
  let size = 0;
  const flush = () => {
    const text = lines.join('\n') + '\n';
    rawBytes += Buffer.byteLength(text);
    batches.push(encoding === 'zstd' ? zstdCompressSync(text) : gzipSync(text));
    lines = [];
    size = 0;
  };
  for (const d of docs) {
    const line = JSON.stringify(d);
    if (lines.length === maxDocs || (lines.length && size + line.length + 1 > AGENT_BATCH_BYTES)) flush();
    lines.push(line);
    size += line.length + 1;
  }
  if (lines.length) flush();
  return { batches, rawBytes };
}
