// `procflow agent` settings: every key is a flag (--flush-interval), an environment variable
// (PROCFLOW_FLUSH_INTERVAL) and a --config JSON key.
//
// A setting has this one name all the way down: the components it configures (the aggregator,
// process cache, attributor, redactor, sink, spool, shipper, indexer client, HTTP server) declare
// it in their options under the same name, required, with no default of their own, and are given
// the configuration itself (or the agent's slice of it). A component built directly (tests,
// benchmarks) is given agentDefaults() and so behaves like the CLI's. Only a component that
// other callers configure too keeps names of its own, and the settings are mapped to it once:
// the event filter (exportFilterOptions below; also /v1/events queries and `procflow events`),
// the kernel collector (native/) and the Kubernetes API client, each opened in run.ts alone.
import { hostname } from 'node:os';
import { defaultsOf, type SettingsOf, type SettingsTable } from '../common/config.js';
import { LOG_LEVEL_SETTING } from '../common/log.js';
import { AGGREGATION_LEVELS } from './flows/aggregator.js';
import { KERNEL_SETTINGS } from '../native/settings.js';
import { BATCH_ENCODINGS } from '../common/batch-encoding.js';
import type { EventFilterOptions } from './process/process-events.js';

export const AGENT_SETTINGS = {
  indexer_url: { doc: 'indexer base URL the agent ships to, e.g. http://indexer:8080', format: 'url-or-empty', default: '' },
  token: { doc: 'bearer token the indexer expects (visible in the process list as a flag: prefer PROCFLOW_TOKEN or --token-file)', format: String, default: '', sensitive: true },
  token_file: { doc: 'file holding the indexer token (the first line that is not blank or a # comment), re-read when it changes; wins over --token', format: String, default: '' },
  indexer_ca_file: { doc: 'PEM CA bundle that signed the indexer\'s certificate (https:// --indexer-url), re-read when it changes; empty = the system CAs', format: String, default: '' },
  indexer_cert_file: { doc: 'PEM client certificate the agent presents to the indexer (mTLS), with --indexer-key-file; re-read when it changes', format: String, default: '' },
  indexer_key_file: { doc: 'PEM private key of --indexer-cert-file', format: String, default: '' },
  output: { doc: 'where documents go: indexer, ndjson (stdout, for jq), or file (rotated NDJSON files in --output-path for a log shipper to tail)', format: ['indexer', 'ndjson', 'file'] as const, default: 'indexer', short: 'o' },
  output_path: { doc: 'directory of --output file: procflow-flows.ndjson, procflow-process.ndjson and procflow-dns.ndjson, with their rotated backups beside them', format: String, default: '/var/log/procflow' },
  output_file_max_size: { doc: 'an output file is rotated before it would grow past this size', format: 'size', min: 4096, default: 100 * 1024 ** 2 },
  output_file_max_age: { doc: 'and once it is this old (checked at each interval); 0 = no age limit', format: 'duration', default: 24 * 3_600_000 },
  output_file_backups: { doc: 'rotated output files kept per kind (the oldest are removed)', format: 'nat', default: 5 },
  output_file_compress: { doc: 'gzip rotated output files, except the newest (a shipper that lags one rotation behind still reads it plain)', format: Boolean, default: false },
  flush_interval: { doc: 'aggregation interval, 1s to 1h', format: 'duration', default: 15_000 },
  node_name: { doc: 'node name in documents and exec_ids', format: String, default: hostname() },
  aggregation: { doc: `flow aggregation level: ${AGGREGATION_LEVELS.join(', ')}`, format: AGGREGATION_LEVELS, default: 'full' },
  community_id: { doc: 'the Community ID flow hash in flow logs (full aggregation only), for joins with Zeek, Suricata or Packetbeat; a unique hash per flow, about 29 B of each flow log on disk', format: Boolean, default: true },
  process_limit: { doc: 'flow logs per flow with their own process name (the rest fold into "*")', format: 'nat', default: 2 },
  args_limit: { doc: 'distinct argument lists listed per flow log (num_process_args has the true count)', format: 'nat', default: 5 },
  max_flows: { doc: 'flows held per interval at most; records beyond are dropped and counted', format: 'nat', min: 1, default: 500_000 },
  udp_flow_timeout: { doc: 'a UDP flow idle this long counts as completed (num_flows_completed); 0 = no UDP start/complete counts', format: 'duration', default: 60_000 },
  udp_max_flows: { doc: 'UDP flows remembered between intervals at most; beyond, the least recently seen completes early (counted)', format: 'nat', min: 1, default: 100_000 },
  cache_max_entries: { doc: 'processes kept in the process cache at most (about 1 KiB each); full, it forgets the longest exited first, so a node starting more processes than this per flush interval names the last flows of some short-lived ones by task name (procflow_agent_attribution_taskname_total)', format: 'nat', min: 1, default: 65_536 },
  exit_retention: { doc: 'how long exited processes stay cached for late flows (at least 2 intervals)', format: 'duration', default: 60_000 },
  attribution_delay: { doc: 'wait after draining flows before attributing them (lets exec events land)', format: 'duration', default: 250 },
  max_args_size: { doc: 'argument bytes captured per process', format: 'size', min: 1, default: 4096 },
  procfs_scan: { doc: 'read /proc at start for processes older than the agent', format: Boolean, default: true },
  redact_defaults: { doc: 'apply the default argument redaction rules (secret flags and NAME= pairs, program passwords, URL credentials, credential headers, AWS keys, JWTs, private keys, also inside sh -c)', format: Boolean, default: true },
  redact_flags: { doc: 'extra flags whose value is masked, comma separated (e.g. --db-pass)', format: Array, default: [] as string[] },
  redact_patterns: { doc: 'extra regular expressions to mask (group 1, or the whole match); use --config for patterns with commas', format: Array, default: [] as string[] },
  process_events: { doc: 'ship process_exec / process_exit documents', format: Boolean, default: true },
  process_events_rate: { doc: 'process documents shipped per second at most, 0 = unlimited (drops are counted)', format: 'nat', default: 1000 },
  process_ancestors: { doc: "ancestors beyond the parent listed in each process event, nearest first (Tetragon's --enable-ancestors); 0 = none", format: 'nat', max: 64, default: 0 },
  process_namespaces: { doc: "the namespaces block in process events (inode numbers, is_host; Tetragon's --enable-process-ns); costs about 20 kernel reads per exec", format: Boolean, default: false },
  process_capabilities: { doc: 'the capability sets (permitted, effective, inheritable) in process events', format: Boolean, default: false },
  export_namespaces: { doc: 'ship process events of these pod namespaces only ("-" = outside pods), comma separated', format: Array, default: [] as string[] },
  export_pod_regex: { doc: 'ship process events of pods whose name matches', format: String, default: '' },
  export_binary_regex: { doc: 'ship process events of binaries whose path matches', format: String, default: '' },
  export_deny_binary_regex: { doc: 'never ship process events of binaries whose path matches', format: String, default: '' },
  spool_dir: { doc: 'directory of the on-disk spool (batches wait here until the indexer acknowledges them)', format: String, default: '/var/lib/procflow/spool' },
  spool_max_size: { doc: 'spool size limit; beyond it the oldest batches are dropped and counted', format: 'size', min: 1, default: 256 * 1024 ** 2 },
  dead_letter_max_size: { doc: 'size limit of the dead letter (invalid documents, batches the indexer refused, unreadable spool files)', format: 'size', min: 1, default: 64 * 1024 ** 2 },
  batch_max_size: { doc: 'uncompressed bytes per batch sent to the indexer', format: 'size', min: 1, default: 4 * 1024 ** 2 },
  batch_max_docs: { doc: 'documents per batch sent to the indexer', format: 'nat', min: 1, default: 5000 },
  batch_compression: { doc: 'how batches are compressed in the spool and sent to the indexer: zstd (about a third of the CPU of gzip, batches 0.6 of the size) or gzip (for indexers older than zstd support; an indexer that refuses zstd with 415 gets gzip anyway)', format: BATCH_ENCODINGS, default: 'zstd' },
  ship_concurrency: { doc: 'batches in flight to the indexer at once', format: 'nat', min: 1, default: 2 },
  request_timeout: { doc: 'timeout of one request to the indexer', format: 'duration', min: 1, default: 30_000 },
  retry_max_delay: { doc: 'longest backoff between attempts (Retry-After from the indexer can be longer)', format: 'duration', default: 30_000 },
  max_server_error_retries: { doc: 'retries of a batch the indexer keeps answering with a server error (5xx other than 503) before it moves to the dead letter; 503 and network errors are retried for ever', format: 'nat', min: 0, default: 10 },
  shutdown_timeout: { doc: 'on SIGTERM, how long to keep sending spooled batches before exiting (the rest stays spooled)', format: 'duration', default: 10_000 },
  listen: { doc: 'HOST:PORT or unix:/path/to.sock of /metrics, /healthz and the /v1/events stream; an address other than loopback needs --api-token-file', format: 'listen-address', default: '127.0.0.1:9464' },
  api_token_file: { doc: 'tokens (one a line, re-read when it changes) that /metrics and /v1/events require as Authorization: Bearer; /healthz stays open', format: String, default: '' },
  kubernetes: { doc: 'name pods in flow logs and process events (namespace, pod, labels) from the Kubernetes API server', format: Boolean, default: false },
  kubernetes_api_url: { doc: 'Kubernetes API server URL; empty = in cluster (KUBERNETES_SERVICE_HOST and _PORT)', format: 'url-or-empty', default: '' },
  kubernetes_token_file: { doc: 'bearer token file for the API server (re-read when it rotates)', format: String, default: '/var/run/secrets/kubernetes.io/serviceaccount/token' },
  kubernetes_ca_file: { doc: 'CA bundle that signs the API server certificate; empty = system CAs', format: String, default: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt' },
  kubernetes_max_objects: { doc: 'records kept at most per kind (pods, Services, EndpointSlices); objects beyond are left unnamed and counted in procflow_agent_kubernetes_dropped_total', format: 'nat', min: 1, default: 50_000 },
  kubernetes_services: { doc: 'name the Kubernetes Service a flow went to (dest_service_*; watches Services and EndpointSlices cluster-wide, which needs list and watch on them)', format: Boolean, default: true },
  kubernetes_scope: { doc: 'pods watched: cluster (names remote pods as flow peers too) or node (this node only, less memory)', format: ['cluster', 'node'] as const, default: 'cluster' },
  dns: { doc: 'capture DNS messages (traced socket calls where the kernel has BTF trampolines, else cgroup skb programs on the cgroup v2 root) to name flow destinations (dest_domains) from the answers', format: Boolean, default: true },
  dns_port: { doc: 'the DNS server port whose messages are captured (UDP and TCP)', format: 'port', min: 1, default: 53 },
  dns_cache_max_entries: { doc: 'addresses the DNS name cache remembers at most (least recently used go first; counted)', format: 'nat', min: 1, default: 10_000 },
  dns_names_per_address: { doc: 'names remembered per address at most', format: 'nat', min: 1, default: 16 },
  dns_min_ttl: { doc: 'an answer is remembered at least this long, however short its TTL', format: 'duration', default: 30_000 },
  dns_max_ttl: { doc: 'and at most this long, however long its TTL', format: 'duration', min: 1, default: 3_600_000 },
  dns_logs: { doc: 'write DNS logs (procflow-dns-*: one per interval for each client process, server, question, response code and answers, with a count and latencies); needs --dns', format: Boolean, default: true },
  dns_log_max_entries: { doc: 'DNS logs per interval at most; responses beyond are counted in procflow_agent_dns_unlogged_total', format: 'nat', min: 1, default: 10_000 },
  dns_pending_max: { doc: 'DNS queries waiting for their response at most (to measure latency); beyond, the oldest is forgotten (counted)', format: 'nat', min: 1, default: 10_000 },
  dns_query_timeout: { doc: 'a DNS query unanswered this long is forgotten (counted in procflow_agent_dns_queries_unanswered_total)', format: 'duration', min: 1, default: 10_000 },
  flow_domains_limit: { doc: 'domain names per flow log at most (dest_domains, as Calico: the queried name first, then its CNAME chain)', format: 'nat', default: 5 },
  ignore_own_traffic: { doc: 'leave the agent\'s own traffic (shipping to the indexer) out of the flow logs, so shipping does not feed itself', format: Boolean, default: true },
  ...KERNEL_SETTINGS,
  ...LOG_LEVEL_SETTING,
} satisfies SettingsTable;

/** The agent's configuration: derived from the table, one property per setting. */
export type AgentConfig = SettingsOf<typeof AGENT_SETTINGS>;

/** The --export-* settings as the event filter's options. */
export function exportFilterOptions(c: Pick<AgentConfig, 'export_namespaces' | 'export_pod_regex' | 'export_binary_regex' | 'export_deny_binary_regex'>): EventFilterOptions {
  return {
    namespaces: c.export_namespaces,
    podRegex: c.export_pod_regex || undefined,
    binaryRegex: c.export_binary_regex || undefined,
    denyBinaryRegex: c.export_deny_binary_regex || undefined,
  };
}

/** Every setting at its default, overridden by `partial` (tests, benchmarks, embedding). */
export function agentDefaults(partial: Partial<AgentConfig> = {}): AgentConfig {
  return { ...defaultsOf(AGENT_SETTINGS), ...partial };
}
