// `procflow agent`: wires the kernel (or a given source), the agent, the spool and shipper (or
// stdout), the HTTP port and signal handling. Resolves to the exit code on SIGTERM/SIGINT.
import { unixSocketPath } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/log.js';
import { isLoopbackHost } from '../common/net.js';
import type { HookReport, KernelCollector } from '../native/types.js';
import { Agent, type AgentOptions } from './agent.js';
import type { AgentConfig } from './config.js';
import { dnsLocalSockets } from '../native/settings.js';
import { limitYoungGeneration } from './heap.js';
import { openKernel } from './kernel.js';
import { NO_PODS } from './identity/pod-lookup.js';
import { startPodWatcher } from './kubernetes/index.js';
import { AgentMetrics } from './metrics.js';
import { startAgentServer, type AgentServer } from './server.js';
import { checkTlsSettings } from './delivery/indexer-client.js';
import { Shipper } from './delivery/shipper.js';
import { FileSink } from './delivery/file-sink.js';
import { SpoolSink, StreamSink, type DocSink } from './delivery/sink.js';
import { Spool } from './delivery/spool.js';

export function validateAgentConfig(c: AgentConfig): void {
  if (c.flush_interval < 1000 || c.flush_interval > 3_600_000) {
    throw new ConfigError(`--flush-interval must be between 1s and 1h, got ${c.flush_interval} ms`);
  }
  if (c.output === 'indexer' && !c.indexer_url) {
    throw new ConfigError('--indexer-url is required (or --output ndjson to print documents, or --output file to write them for a log shipper)', 'e.g. procflow agent --indexer-url http://127.0.0.1:8080 --token T');
  }
  if (c.output === 'indexer' && !c.token && !c.token_file) {
    throw new ConfigError('--token-file or --token is required: the indexer refuses batches without its token (401)', 'pass the token the indexer was started with: --token-file FILE (PROCFLOW_TOKEN_FILE) or PROCFLOW_TOKEN');
  }
  if (c.output === 'indexer') checkTlsSettings(c);
  if (c.output === 'file' && !c.output_path) throw new ConfigError('--output file needs --output-path DIR', 'e.g. procflow agent --output file --output-path /var/log/procflow');
  if (c.process_limit < 1) throw new ConfigError('--process-limit must be at least 1');
  const host = c.listen.slice(0, c.listen.lastIndexOf(':'));
  if (!unixSocketPath(c.listen) && !c.api_token_file && !isLoopbackHost(host)) {
    throw new ConfigError(`--listen ${c.listen} is not a loopback address, and without --api-token-file anyone who reaches it could read /metrics and /v1/events (process arguments)`,
      'bind to loopback (--listen 127.0.0.1:9464, or unix:/path/to.sock), or set --api-token-file FILE (PROCFLOW_API_TOKEN_FILE) with the tokens callers must send');
  }
}

/** Settings that work but expose something: each is logged once at start. */
export function startupWarnings(c: AgentConfig, argv: string[]): { msg: string; fields?: Record<string, unknown> }[] {
  const out: { msg: string; fields?: Record<string, unknown> }[] = [];
  if (c.output !== 'indexer') return out;
  if (c.token_file && c.token) out.push({ msg: 'agent: both --token-file and --token (PROCFLOW_TOKEN) are set; the token file is used', fields: { tokenFile: c.token_file } });
  // Settings do not record where a value came from, so look for the flag itself.
  if (argv.some((a) => a === '--token' || a.startsWith('--token='))) {
    out.push({ msg: 'agent: the token was passed with --token, which every user of this host can read in the process list; pass it in PROCFLOW_TOKEN or --token-file FILE instead' });
  }
  const url = c.indexer_url ? new URL(c.indexer_url) : undefined;
  if (url?.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    out.push({
      msg: 'agent: --indexer-url is http:// to another host: process arguments in the documents and the token travel in cleartext; '
        + 'start the indexer with --tls-cert-file and --tls-key-file, ship to its https:// URL and pass its CA with --indexer-ca-file',
      fields: { indexerUrl: c.indexer_url },
    });
  }
  return out;
}

/**
 * Hooks without which documents would be wrong or missing: exec (names processes) and the
 * socket I/O hooks (bytes). A missing one is a warning naming the kernel's reason, and shows in
 * /healthz and procflow_agent_kernel_hook_attached.
 */
export const REQUIRED_HOOKS = ['exec', 'tcp_send', 'tcp_recv', 'udp_send', 'udp_recv'];

function reportHooks(hooks: HookReport[], log: Logger): void {
  for (const h of hooks) {
    const missing = h.via === 'none' && REQUIRED_HOOKS.includes(h.hook);
    if (!missing) {
      log.info({ hook: h.hook, via: h.via, target: h.target, reason: h.reason }, 'agent: kernel hook');
      continue;
    }
    const effect = h.hook === 'exec'
      ? 'processes that start from now on are named from /proc when their flows are flushed, or by task name once gone'
      : 'those bytes are not counted';
    log.warn({ hook: h.hook, via: h.via, reason: h.reason }, `agent: kernel hook ${h.hook} is not attached: ${effect}`);
  }
}

/** /healthz's view of the hooks: degraded (still 200: flows flow) when a required one is missing. */
function hookHealth(hooks: HookReport[]): { state: 'ok' | 'degraded'; missing?: { hook: string; reason: string }[] } {
  const missing = hooks.filter((h) => h.via === 'none' && REQUIRED_HOOKS.includes(h.hook)).map((h) => ({ hook: h.hook, reason: h.reason }));
  return missing.length ? { state: 'degraded', missing } : { state: 'ok' };
}

export interface RunningAgent {
  agent: Agent;
  server: AgentServer;
  spool: Spool | undefined;
  shipper: Shipper | undefined;
  /** The output files (--output file). */
  fileSink: FileSink | undefined;
  /** Flushes the interval, sends what it can within the shutdown timeout, closes everything. */
  shutdown(): Promise<void>;
}

/** Starts everything; `collector` overrides the kernel (tests, replays). */
export async function startAgent(c: AgentConfig, opts: { collector?: KernelCollector; log?: Logger } = {}): Promise<RunningAgent> {
  validateAgentConfig(c);
  const log = opts.log ?? createLogger('agent', c.log_level as never);
  for (const w of startupWarnings(c, process.argv)) log.warn(w.fields ?? {}, w.msg);
  const collector = opts.collector ?? openKernel({ flowMapEntries: c.flow_map_entries, socketMapEntries: c.socket_map_entries, maxArgsBytes: c.max_args_size, ringBufferBytes: c.ring_buffer_size, hookMode: c.hook_mode, ignorePid: c.ignore_own_traffic ? process.pid : undefined, namespaces: c.process_namespaces, dns: c.dns, dnsPort: c.dns_port, dnsLocal: c.dns_local, dnsLocalSockets: dnsLocalSockets(c.dns_local_sockets) });
  reportHooks(collector.hooks, log);
  try {
    return await assemble(c, collector, log);
  } catch (err) {
    collector.close();
    throw err;
  }
}

/** Everything after the kernel is open; `overrides` reach the Agent's options (tests). */
export async function assemble(c: AgentConfig, collector: KernelCollector, log: Logger, overrides: Partial<AgentOptions> = {}): Promise<RunningAgent> {
  const metrics = new AgentMetrics();
  let spool: Spool | undefined;
  let shipper: Shipper | undefined;
  let sink: DocSink;
  let fileSink: FileSink | undefined;
  if (c.output === 'ndjson') {
    sink = new StreamSink(process.stdout);
  } else if (c.output === 'file') {
    sink = fileSink = await openFileSink(c, log, metrics);
  } else {
    spool = new Spool(c);
    if (spool.resumed) log.info({ batches: spool.resumed, bytes: spool.stats.bytes }, 'agent: resuming the spool left by the previous run');
    shipper = new Shipper({
      ...c,
      spool,
      log,
      onAttempt: (a) => {
        metrics.shipLatency.observe({ kind: a.kind, outcome: a.outcome }, a.latencyMs / 1000);
        if (a.outcome === 'ok') metrics.docsShipped.inc({ kind: a.kind }, a.docs);
        else metrics.shipFailures.inc({ reason: a.reason });
      },
    });
    const s = spool;
    const sh = shipper;
    metrics.gauge('procflow_agent_spool_bytes', 'bytes of batches waiting in the spool', () => s.stats.bytes);
    metrics.gauge('procflow_agent_spool_batches', 'batches waiting in the spool', () => s.stats.batches);
    metrics.mirrorCounter('procflow_agent_spool_dropped_batches_total', 'batches dropped because the spool was full', () => s.stats.droppedBatches);
    metrics.mirrorCounter('procflow_agent_spool_dropped_docs_total', 'documents dropped because the spool was full', () => s.stats.droppedDocs);
    metrics.mirrorCounter('procflow_agent_spool_write_failed_batches_total', 'batches lost because writing them to the spool failed (disk full, directory gone)', () => s.stats.writeFailedBatches);
    metrics.mirrorCounter('procflow_agent_spool_write_failed_docs_total', 'documents in batches lost because writing them to the spool failed', () => s.stats.writeFailedDocs);
    metrics.mirrorCounter('procflow_agent_dead_letter_batches_total', 'batches set aside in the dead letter: invalid documents, batches the indexer refused as invalid or kept failing with server errors (--max-server-error-retries), unreadable spool files', () => s.stats.deadLetterBatches);
    metrics.mirrorCounter('procflow_agent_dead_letter_docs_total', 'documents in batches moved to the dead letter', () => s.stats.deadLetterDocs);
    metrics.mirrorSpoolRejects(s.stats);
    metrics.mirrorCounter('procflow_agent_dead_letter_dropped_batches_total', 'dead-letter batches removed because the dead letter was full', () => s.stats.deadLetterDroppedBatches);
    let writeFailures = 0;
    sink = new SpoolSink(spool, { ...c, log }, (spooled) => {
      if (!spooled && s.stats.writeFailedBatches > writeFailures) {
        writeFailures = s.stats.writeFailedBatches;
        log.error({ spoolDir: c.spool_dir, error: s.stats.lastWriteError, lostBatches: writeFailures, lostDocs: s.stats.writeFailedDocs },
          'agent: writing a batch to the spool failed, its documents are lost (procflow_agent_spool_write_failed_docs_total); free space in --spool-dir or point it at a writable disk');
      }
      sh.notify();
    });
  }
  const watcher = c.kubernetes
    ? startPodWatcher({ apiUrl: c.kubernetes_api_url, tokenFile: c.kubernetes_token_file, caFile: c.kubernetes_ca_file, scope: c.kubernetes_scope, nodeName: c.node_name, maxObjects: c.kubernetes_max_objects, services: c.kubernetes_services }, log)
    : undefined;
  if (watcher) {
    metrics.gauge('procflow_agent_kubernetes_pods', 'pods known from the Kubernetes API server', () => watcher.informer.index.size);
    metrics.gauge('procflow_agent_kubernetes_synced', '1 once the first pod list is complete', () => (watcher.informer.stats.synced ? 1 : 0));
    metrics.mirrorCounter('procflow_agent_kubernetes_lists_total', 'full pod lists (the first, then after the watch fell too far behind)', () => watcher.informer.stats.lists);
    metrics.mirrorCounter('procflow_agent_kubernetes_watch_events_total', 'pod changes received from the watch', () => watcher.informer.stats.watchEvents);
    metrics.mirrorCounter('procflow_agent_kubernetes_errors_total', 'failed pod lists and watches (retried with backoff)', () => watcher.informer.stats.errors);
    metrics.gauge('procflow_agent_kubernetes_services', 'Services known from the Kubernetes API server', () => watcher.stats().services?.entries ?? 0);
    metrics.gauge('procflow_agent_kubernetes_endpointslices', 'EndpointSlices known from the Kubernetes API server', () => watcher.stats().endpointSlices?.entries ?? 0);
    const byKind = (f: 'dropped' | 'errors' | 'lists') => () => {
      const s = watcher.stats();
      return { pods: s.pods[f], services: s.services?.[f] ?? 0, endpointslices: s.endpointSlices?.[f] ?? 0 };
    };
    metrics.mirrorLabelledCounter('procflow_agent_kubernetes_dropped_total', 'objects not kept because --kubernetes-max-objects was reached, by kind', 'kind', byKind('dropped'));
    metrics.mirrorLabelledCounter('procflow_agent_kubernetes_informer_errors_total', 'failed lists and watches by kind (retried with backoff)', 'kind', byKind('errors'));
    metrics.mirrorLabelledCounter('procflow_agent_kubernetes_informer_lists_total', 'full lists by kind', 'kind', byKind('lists'));
  }
  const pods = watcher ?? NO_PODS;
  const agent = new Agent({ collector, sink, log, metrics }, { ...c, pods, ...overrides });
  let server: AgentServer | undefined;
  try {
    server = await startAgentServer(agent, { ...c, log, extraHealth: () => ({
      ...(spool ? { spoolBatches: spool.size, spoolBytes: spool.stats.bytes } : {}),
      ...(fileSink ? { outputFiles: fileSink.paths(), outputWriteFailedDocs: fileSink.stats.writeFailedDocs } : {}),
      kernelHooks: hookHealth(collector.hooks),
      // Informational: flows are still logged while the API server is away, so it does not fail health.
      ...(watcher ? { kubernetes: { synced: watcher.informer.stats.synced, pods: watcher.informer.index.size, services: watcher.stats().services?.entries, lastError: watcher.informer.stats.lastError || undefined } } : {}),
    }) });
    agent.start();
  } catch (err) {
    // Nothing may keep the process alive after a failed start (a taken port, no /proc): the
    // caller prints the error and exits.
    pods.close();
    await server?.close();
    await shipper?.stop();
    throw err;
  }
  shipper?.start();
  log.info({ node: c.node_name, flushIntervalMs: c.flush_interval, output: c.output, listen: server.url, aggregation: c.aggregation }, 'agent: running');
  let closing: Promise<void> | undefined;
  const shutdown = () => (closing ??= (async () => {
    await agent.stop();
    if (shipper) {
      shipper.notify();
      const empty = await shipper.drained(c.shutdown_timeout);
      await shipper.stop();
      if (!empty) log.warn({ batches: spool!.size }, 'agent: exiting with batches still spooled; they are sent on the next start');
    }
    await fileSink?.close();
    pods.close();
    await server.close();
  })());
  return { agent, server, spool, shipper, fileSink, shutdown };
}

/** --output file: the files are opened (and a partial last line repaired) before the kernel's first interval. */
async function openFileSink(c: AgentConfig, log: Logger, metrics: AgentMetrics): Promise<FileSink> {
  const sink = new FileSink({ ...c, log });
  try {
    await sink.prepare();
  } catch (err) {
    throw new ConfigError(`--output-path ${c.output_path}: cannot write the output files there (${(err as Error).message})`, 'point --output-path at a writable directory (it is created if missing)');
  }
  const s = sink.stats;
  const files = (f: 'lines' | 'bytes' | 'rotations' | 'backupsRemoved' | 'repairedBytes' | 'compressFailures') => () => Object.fromEntries(Object.entries(s.files).map(([k, v]) => [k, v[f]]));
  metrics.mirrorLabelledCounter('procflow_agent_output_file_docs_total', 'documents written to the output files (--output file), by kind', 'kind', files('lines'));
  metrics.mirrorLabelledCounter('procflow_agent_output_file_bytes_total', 'bytes written to the output files, by kind', 'kind', files('bytes'));
  metrics.mirrorLabelledCounter('procflow_agent_output_file_rotations_total', 'output files rotated, by kind', 'kind', files('rotations'));
  metrics.mirrorLabelledCounter('procflow_agent_output_file_backups_removed_total', 'rotated output files removed beyond --output-file-backups, by kind', 'kind', files('backupsRemoved'));
  metrics.mirrorLabelledCounter('procflow_agent_output_file_repaired_bytes_total', 'bytes of a partial last line cut from an output file (left by a crash or a failed write), by kind', 'kind', files('repairedBytes'));
  metrics.mirrorLabelledCounter('procflow_agent_output_file_compress_failures_total', 'rotated output files that could not be compressed (left plain), by kind', 'kind', files('compressFailures'));
  metrics.mirrorLabelledCounter('procflow_agent_output_file_write_failed_docs_total', 'documents lost because writing them to the output file failed (disk full, directory gone), by kind', 'kind', () => s.writeFailedDocs);
  metrics.mirrorLabelledCounter('procflow_agent_documents_invalid_total', 'documents that failed validation against the contract and were not written, by kind', 'kind', () => s.invalidDocs);
  log.info({ files: sink.paths(), maxSize: c.output_file_max_size, maxAgeMs: c.output_file_max_age, backups: c.output_file_backups, compress: c.output_file_compress }, 'agent: writing documents to files');
  return sink;
}

/** The CLI entry: runs until SIGTERM/SIGINT, then shuts down cleanly. */
export async function runAgent(c: AgentConfig, opts: { collector?: KernelCollector } = {}): Promise<number> {
  limitYoungGeneration();
  const log = createLogger('agent', c.log_level as never);
  // --output ndjson into a pipe whose reader left (`| head`): EPIPE. Without a listener that is
  // an uncaught 'error' event; with nowhere left to write, the agent stops like on SIGTERM.
  let stdoutError: Error | undefined;
  const onStdoutError = (err: Error) => (stdoutError ??= err);
  if (c.output === 'ndjson') process.stdout.on('error', onStdoutError);
  const running = await startAgent(c, { log, collector: opts.collector });
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      log.info({ signal: sig }, 'agent: stopping; flushing the current interval');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    if (c.output === 'ndjson') {
      const onClosed = () => {
        log.warn({ err: stdoutError?.message }, 'agent: stdout was closed by its reader (--output ndjson); stopping');
        resolve();
      };
      if (stdoutError || process.stdout.destroyed) onClosed();
      else process.stdout.once('error', onClosed);
    }
  });
  await running.shutdown();
  log.info('agent: stopped');
  return 0;
}
