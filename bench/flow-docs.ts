// The flow logs the indexer benchmarks send: generated with a seeded PRNG, so every run (and
// both benchmarks, bench:indexer against a cluster and bench:indexer-cpu without one) sees the
// same documents, packed into gzip NDJSON batches the way agents pack them.
import { gzipSync } from 'node:zlib';
import type { FlowLog } from '../schema/index.js';
import { AGENT_SETTINGS } from '../agent/config.js';
import { prng } from '../test/support/prng.js';

/** A day only the benchmarks write to, so a shared cluster's other indices are left alone. */
export const BENCH_DAY = Date.UTC(2002, 1, 2);

/** The agent's batch limits (its defaults): at most this many documents and bytes per batch. */
export const AGENT_BATCH_DOCS = AGENT_SETTINGS.batch_max_docs.default;
export const AGENT_BATCH_BYTES = AGENT_SETTINGS.batch_max_size.default;

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

/** `n` flow logs spread over BENCH_DAY, the same `n` documents on every call. */
export function generateFlowLogs(n: number): FlowLog[] {
  const rnd = prng(42);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const v4 = (pub: boolean) => (pub ? `${int(1, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}` : `10.${int(0, 3)}.${int(0, 255)}.${int(1, 254)}`);
  const v6 = () => `2001:db8:${int(0, 0xffff).toString(16)}:${int(0, 0xffff).toString(16)}::${int(1, 0xffff).toString(16)}`;
  const docs: FlowLog[] = [];
  for (let i = 0; i < n; i++) {
    const end = BENCH_DAY + 3_600_000 + Math.floor((i / n) * 72_000_000);
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

export interface AgentBatches {
  /** Gzip NDJSON request bodies, each one line per document. */
  batches: Buffer[];
  /** Their size before gzip. */
  rawBytes: number;
}

/** The documents as agents send them: at most `maxDocs` documents and AGENT_BATCH_BYTES a batch. */
export function agentBatches(docs: readonly FlowLog[], maxDocs = AGENT_BATCH_DOCS): AgentBatches {
  const batches: Buffer[] = [];
  let rawBytes = 0;
  let lines: string[] = [];
  let size = 0;
  const flush = () => {
    const text = lines.join('\n') + '\n';
    rawBytes += Buffer.byteLength(text);
    batches.push(gzipSync(text));
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
