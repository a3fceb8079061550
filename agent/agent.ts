// The node daemon's core: process events into the cache (and out as process documents), flow
// records into the aggregator, a flush every interval into a sink. Sources and sinks are
// injected, so the same code runs on the kernel, on synthetic streams, to the indexer or stdout.
import type { Logger } from '../common/log.js';
import type { KernelCollector, ProcessEvent } from '../native/types.js';
import type { ProcessEventDoc } from '../schema/index.js';
import { exportFilterOptions, type AgentConfig } from './config.js';
import { FlowAggregator, type AggregatorOptions } from './flows/aggregator.js';
import { Attributor, type AttributorOptions } from './flows/attribution.js';
import { CgroupResolver } from './process/cgroup.js';
import { BootClock } from './process/clock.js';
import { EndpointNamer } from './flows/endpoints.js';
import { EventHub } from './process/event-hub.js';
import { handleEvent, type HandlerContext } from './process/handlers.js';
import { NO_PODS, type PodLookup } from './identity/pod-lookup.js';
import { AgentMetrics } from './metrics.js';
import { ProcessCache, processName, type ProcessCacheOptions, type ProcessEntry } from './process/process-cache.js';
import { EventFilter, ProcessEventBuilder, RateLimiter, type ProcessEventOptions } from './process/process-events.js';
import { UserNames } from './process/user-names.js';
import { DnsAggregator, type DnsAggregatorOptions } from './dns/aggregate.js';
import { DnsCapture, type CapturedMessage } from './dns/capture.js';
import { dnsLogDocument, processKey, type DnsDocumentContext } from './dns/documents.js';
import { DnsNameCache, type NameCacheOptions } from './dns/name-cache.js';
import { hostNamespaces, readStat, scanProcesses } from './process/procfs.js';
import { Redactor, type RedactionOptions } from './process/redact.js';
import type { DocSink, HeldDocs } from './delivery/sink.js';

const PROCESS_EVENT_KINDS = ['exec', 'fork', 'exit', 'dns'] as const;

/** The keys of a component's options that are settings (it takes them under the settings' names). */
type SettingKeys<T> = Extract<keyof T, keyof AgentConfig>;

/**
 * The settings the agent core reads: its own, and those of the components it builds, which
 * take them under the same names (so the options pass through, and a setting a component adds
 * to its options reaches it from the table without another line here).
 */
export type AgentSettings = Pick<
  AgentConfig,
  | 'flush_interval' | 'attribution_delay' | 'procfs_scan' | 'process_events' | 'process_events_rate' | 'dns' | 'dns_logs'
  | SettingKeys<ProcessEventOptions> | SettingKeys<NameCacheOptions> | SettingKeys<DnsAggregatorOptions>
  | keyof Parameters<typeof exportFilterOptions>[0]
  | SettingKeys<ProcessCacheOptions> | SettingKeys<RedactionOptions> | SettingKeys<AttributorOptions> | SettingKeys<AggregatorOptions>
>;

/** The settings, plus what only tests and embedding change. */
export interface AgentOptions extends AgentSettings {
  /** Ask /proc on a cache miss (default true). */
  procfsFallback?: boolean;
  procRoot?: string;
  cgroupRoot?: string;
  /** Process documents buffered between flushes at most (beyond: dropped, counted). */
  maxPendingProcessEvents?: number;
  pods?: PodLookup;
  clock?: BootClock;
}

export interface AgentParts {
  collector: KernelCollector;
  sink: DocSink;
  log: Logger;
  metrics?: AgentMetrics;
}

export class Agent {
  readonly cache: ProcessCache;
  readonly aggregator: FlowAggregator;
  readonly hub = new EventHub();
  readonly metrics: AgentMetrics;
  readonly clock: BootClock;
  private readonly attributor: Attributor;
  private readonly builder: ProcessEventBuilder;
  private readonly filter: EventFilter;
  private readonly limiter: RateLimiter;
  private readonly endpoints: EndpointNamer;
  readonly userNames: UserNames;
  readonly dnsCapture = new DnsCapture();
  readonly dnsNames: DnsNameCache;
  readonly dnsLogs: DnsAggregator | undefined;
  private readonly dnsDocs: DnsDocumentContext;
  private dnsIntervalStartMs = Date.now();
  private readonly ctx: HandlerContext;
  private pendingProcess: ProcessEventDoc[] = [];
  /** The interval's process events, serialised as they come when the sink can hold them. */
  private readonly heldProcess: HeldDocs | undefined;
  private timers: NodeJS.Timeout[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private stopped = false;
  readonly stats = { processEventsFiltered: 0, processEventsRateLimited: 0, processEventsOverflow: 0, processEventsExported: 0, flushes: 0, lastFlushMs: 0, flushErrors: 0, scanned: 0, dnsUnlogged: 0 };

  constructor(private readonly parts: AgentParts, private readonly o: AgentOptions) {
    this.clock = o.clock ?? new BootClock();
    this.metrics = parts.metrics ?? new AgentMetrics();
    const cgroups = o.cgroupRoot === undefined ? new CgroupResolver() : new CgroupResolver(o.cgroupRoot);
    // Exited processes stay at least two intervals plus the delay (the setting's floor).
    const retention = Math.max(o.exit_retention, 2 * o.flush_interval + o.attribution_delay + 5000);
    const execSeen = parts.collector.hooks.find((h) => h.hook === 'exec')?.via !== 'none';
    this.cache = new ProcessCache({ ...o, redactor: new Redactor(o), exit_retention: retention, execSeen, cgroupPath: (id) => cgroups.resolve(id) });
    this.attributor = new Attributor(this.cache, { ...o, execSeen });
    this.endpoints = new EndpointNamer(o.node_name, o.pods);
    this.userNames = new UserNames({ procRoot: o.procRoot });
    this.dnsNames = new DnsNameCache({ ...o, now: Date.now });
    this.dnsLogs = o.dns && o.dns_logs ? new DnsAggregator(o) : undefined;
    const parentName = (e: ProcessEntry) => {
      const parent = this.cache.parentImage(e);
      return parent ? processName(parent) : undefined;
    };
    const userName = (e: ProcessEntry) => this.userNames.nameOf(e.uid, e.exited ? 0 : e.pid, e.containerId) || undefined;
    this.dnsDocs = {
      node_name: o.node_name,
      resolve: (pid, start, comm) => this.attributor.resolve(pid, start, comm),
      local: (ip) => this.endpoints.local(ip),
      peer: (ip) => this.endpoints.of(ip),
      userName,
      parentName,
    };
    this.aggregator = new FlowAggregator({
      ...o,
      endpoints: this.endpoints,
      resolve: (pid, start, comm) => this.attributor.resolve(pid, start, comm),
      parentName,
      userName,
      domains: (ip, limit) => this.dnsNames.domainsFor(ip, limit),
    });
    this.builder = new ProcessEventBuilder(o.node_name, this.cache, this.clock, o.pods ?? NO_PODS, {
      ...o,
      userNames: this.userNames,
      hostNamespaces: o.process_namespaces ? hostNamespaces(o.procRoot) : undefined,
    });
    this.heldProcess = parts.sink.hold?.('process');
    this.filter = new EventFilter(exportFilterOptions(o));
    this.limiter = new RateLimiter(o.process_events_rate);
    this.ctx = {
      cache: this.cache,
      events: this.builder,
      emit: (doc) => this.onProcessDoc(doc),
      exited: (pid, startNs) => this.aggregator.processExited(pid, startNs),
      // Answers name the addresses flows go to; the DNS logs come from the same messages later.
      dns: (ev) => {
        for (const m of this.dnsCapture.take(ev)) {
          if (m.event.direction === 'response') this.dnsNames.learn(m.message);
          this.dnsLogs?.observe(observation(m));
        }
      },
    };
    this.registerMetrics();
  }

  /** Starts the kernel source first, then scans /proc, so no process falls between the two. */
  start(): void {
    this.parts.collector.start((batch) => this.onEvents(batch));
    if (this.o.procfs_scan) this.scanProc();
    const every = (ms: number, fn: () => void) => this.timers.push(setInterval(fn, ms));
    every(this.o.flush_interval, () => void this.flush());
    every(Math.max(1000, Math.min(this.o.flush_interval, 10_000)), () => {
      this.cache.gc();
      this.dnsNames.sweep();
    });
    every(60_000, () => this.endpoints.refresh());
    this.stats.lastFlushMs = Date.now();
  }

  onEvents(batch: ProcessEvent[]): void {
    // Counted once per batch and kind: a labelled inc per event cost more than most handlers.
    const counts = { exec: 0, fork: 0, exit: 0, dns: 0 };
    try {
      for (const ev of batch) {
        counts[ev.kind]++;
        handleEvent(ev, this.ctx);
      }
    } finally {
      for (const kind of PROCESS_EVENT_KINDS) if (counts[kind]) this.metrics.processEvents.inc({ kind }, counts[kind]);
    }
  }

  /** Ends the current interval: drain, let late exec events land, attribute, write. */
  flush(endMs = Date.now(), final = false): Promise<void> {
    const run = async () => {
      // Everything inside the try: a throw here must fail this interval only, never reject the
      // chain (every later flush would be skipped) or surface as an unhandled rejection.
      try {
        const records = this.parts.collector.drainFlows();
        for (const r of records) this.aggregator.add(r);
        if (this.o.attribution_delay) await new Promise((r) => setTimeout(r, this.o.attribution_delay));
        await this.parts.sink.write('flows', this.aggregator.flushDocs(endMs, { final }));
        await this.writeProcessEvents();
        await this.writeDnsLogs(endMs);
        this.stats.flushes++;
        this.stats.lastFlushMs = Date.now();
      } catch (err) {
        this.stats.flushErrors++;
        this.parts.log.error({ err }, 'agent: writing the interval failed');
      }
    };
    // Serialised: a slow sink delays the next flush instead of running two at once.
    this.flushing = this.flushing.then(run);
    return this.flushing;
  }

  /** SIGTERM: flush the current interval, then stop the source. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.flush(Date.now(), true);
    this.parts.collector.close();
    this.hub.close();
  }

  /** Healthy while intervals keep being written. */
  healthy(): boolean {
    return Date.now() - this.stats.lastFlushMs < 3 * this.o.flush_interval + 10_000;
  }

  private scanProc(): void {
    const snaps = scanProcesses(this.o.max_args_size, this.o.procRoot);
    const self = process.pid;
    for (const s of snaps) {
      const e = this.cache.onProcfs(s);
      const parentStart = readStat(s.ppid, this.o.procRoot)?.startNs;
      if (parentStart !== undefined && !e.parentExecId) this.cache.setParentStart(e, parentStart);
      // Processes older than the agent get a process_exec (flag procFS), as Tetragon does, so
      // their exec_id joins flows to a process document; the agent itself is skipped.
      if (s.pid !== self && e.source !== 'kernel') this.onProcessDoc(this.builder.exec(e, s.startNs));
    }
    this.stats.scanned = snaps.length;
    this.parts.log.info({ processes: snaps.length }, 'agent: /proc scan done');
  }

  private onProcessDoc(doc: ProcessEventDoc): void {
    this.hub.publish(doc);
    if (!this.o.process_events) return;
    if (!this.filter.matches(doc)) {
      this.stats.processEventsFiltered++;
      return;
    }
    if (!this.limiter.take()) {
      this.stats.processEventsRateLimited++;
      return;
    }
    const held = this.heldProcess;
    if ((held ? held.count : this.pendingProcess.length) >= (this.o.maxPendingProcessEvents ?? 50_000)) {
      this.stats.processEventsOverflow++;
      return;
    }
    if (held) held.add(doc);
    else this.pendingProcess.push(doc);
  }

  private async writeProcessEvents(): Promise<void> {
    if (this.heldProcess) {
      if (this.heldProcess.count) this.stats.processEventsExported += await this.heldProcess.write();
      return;
    }
    const docs = this.pendingProcess;
    this.pendingProcess = [];
    if (docs.length) this.stats.processEventsExported += await this.parts.sink.write('process', docs);
  }

  /** The interval's DNS logs, named now (as flows are: a late exec event still counts). */
  private async writeDnsLogs(endMs: number): Promise<void> {
    if (!this.dnsLogs) return;
    const start = new Date(this.dnsIntervalStartMs).toISOString();
    const end = new Date(endMs).toISOString();
    this.dnsIntervalStartMs = endMs;
    const { entries, unlogged } = this.dnsLogs.flush(this.clock.nowNs());
    this.stats.dnsUnlogged += unlogged;
    if (entries.length) await this.parts.sink.write('dns', entries.map((e) => dnsLogDocument(e, start, end, this.dnsDocs)));
  }

  private registerMetrics(): void {
    const m = this.metrics;
    const k = () => this.parts.collector.counters();
    m.kernelHooks(this.parts.collector.hooks);
    m.mirrorCounter('procflow_agent_kernel_events_lost_total', 'events the kernel could not put in the ring buffer', () => k().eventsLost);
    m.mirrorCounter('procflow_agent_kernel_events_dropped_user_total', 'events dropped in user space because JavaScript did not keep up', () => k().eventsDroppedUser);
    m.mirrorCounter('procflow_agent_kernel_flow_map_full_total', 'flow map insertions the kernel refused (map full)', () => k().flowMapFull);
    m.mirrorCounter('procflow_agent_kernel_events_delivered_total', 'events delivered from the kernel to the agent', () => k().eventsDelivered);
    m.mirrorCounter('procflow_agent_flow_records_total', 'flow records added to the aggregator', () => this.aggregator.stats.recordsIn);
    m.mirrorCounter('procflow_agent_flow_records_dropped_total', 'flow records dropped because the aggregator held --max-flows flows', () => this.aggregator.stats.recordsDropped);
    m.mirrorCounter('procflow_agent_flows_emitted_total', 'flow log documents produced', () => this.aggregator.stats.flowsEmitted);
    m.gauge('procflow_agent_active_flows', 'flows held in the current interval', () => this.aggregator.activeSlots);
    const udp = this.aggregator.udp;
    if (udp) {
      m.gauge('procflow_agent_udp_flows_tracked', 'UDP flows remembered between intervals (to tell started from continuing)', () => udp.size);
      m.mirrorCounter('procflow_agent_udp_flows_started_total', 'UDP flows seen for the first time', () => udp.stats.started);
      m.mirrorLabelledCounter('procflow_agent_udp_flows_completed_total', 'UDP flows completed, by reason (idle, process_exit, shutdown, evicted: completed early because --udp-max-flows were remembered)', 'reason', () => udp.stats.completed);
      m.mirrorCounter('procflow_agent_udp_flows_evicted_total', 'UDP flows completed early to make room (--udp-max-flows)', () => udp.stats.completed.evicted);
    }
    m.gauge('procflow_agent_process_cache_size', 'processes in the cache', () => this.cache.size);
    m.mirrorCounter('procflow_agent_process_cache_misses_total', 'flow attributions the cache could not answer', () => this.cache.stats.misses);
    m.mirrorLabelledCounter('procflow_agent_process_cache_evictions_total', 'cache evictions, by reason', 'reason', () => this.cache.stats.evictions);
    m.mirrorCounter('procflow_agent_attribution_procfs_total', 'cache misses answered by /proc', () => this.attributor.procfsHits);
    m.mirrorCounter('procflow_agent_attribution_taskname_total', 'cache misses answered with the task name only', () => this.attributor.tasknameFallbacks);
    m.mirrorLabelledCounter('procflow_agent_process_events_dropped_total', 'process documents not exported, by reason', 'reason', () => ({
      filter: this.stats.processEventsFiltered,
      rate_limit: this.stats.processEventsRateLimited,
      overflow: this.stats.processEventsOverflow,
      stream_slow_reader: this.hub.dropped,
    }));
    m.mirrorCounter('procflow_agent_process_events_exported_total', 'process documents written to the sink', () => this.stats.processEventsExported);
    m.mirrorCounter('procflow_agent_dns_packets_captured_total', 'DNS packets the kernel captured (queries and responses)', () => k().dnsSeen ?? 0);
    m.mirrorCounter('procflow_agent_dns_packets_cut_total', 'DNS packets longer than the kernel copies (2 KiB): their tail is lost', () => k().dnsCut ?? 0);
    m.mirrorCounter('procflow_agent_dns_messages_total', 'DNS messages parsed', () => this.dnsCapture.stats.messages);
    m.mirrorLabelledCounter('procflow_agent_dns_malformed_total', 'DNS messages that could not be parsed, by reason', 'reason', () => this.dnsCapture.stats.malformed as Record<string, number>);
    m.mirrorCounter('procflow_agent_dns_tcp_streams_dropped_total', 'TCP DNS streams given up (over 64 KiB, a cut segment, or too many at once)', () => this.dnsCapture.stats.streamsDropped);
    m.mirrorCounter('procflow_agent_dns_local_requests_total', 'lookups seen going to a local resolver socket (nscd, systemd-resolved varlink)', () => this.dnsCapture.local.stats.queries);
    m.mirrorCounter('procflow_agent_dns_local_replies_total', 'replies of local resolvers paired with their lookup', () => this.dnsCapture.local.stats.responses);
    m.mirrorCounter('procflow_agent_dns_local_malformed_total', 'local resolver connections dropped: bytes that do not parse, or over the 16 KiB bound', () => this.dnsCapture.local.stats.malformed);
    m.mirrorCounter('procflow_agent_dns_local_cut_total', 'local resolver replies the kernel copy cut (decoded as far as they go)', () => this.dnsCapture.local.stats.cut);
    const logs = this.dnsLogs;
    if (logs) {
      m.mirrorCounter('procflow_agent_dns_logs_responses_total', 'DNS responses aggregated into DNS logs', () => logs.stats.responses);
      m.mirrorCounter('procflow_agent_dns_unlogged_total', 'DNS responses left out of the DNS logs because an interval already held --dns-log-max-entries logs (Calico\'s unlogged)', () => this.stats.dnsUnlogged);
      m.mirrorCounter('procflow_agent_dns_responses_unmatched_total', 'DNS responses whose query was not seen (no latency for them)', () => logs.stats.unmatched);
      m.mirrorLabelledCounter('procflow_agent_dns_queries_unanswered_total', 'DNS queries forgotten before their response, by reason (timeout: --dns-query-timeout, overflow: --dns-pending-max)', 'reason', () => ({ timeout: logs.stats.pendingExpired, overflow: logs.stats.pendingOverflowed }));
      m.gauge('procflow_agent_dns_queries_pending', 'DNS queries waiting for their response', () => logs.pendingCount);
    }
    m.gauge('procflow_agent_dns_cache_entries', 'addresses the DNS name cache remembers', () => this.dnsNames.size);
    m.mirrorLabelledCounter('procflow_agent_dns_cache_evictions_total', 'addresses the DNS name cache forgot, by reason (expired, capacity: --dns-cache-max-entries)', 'reason', () => this.dnsNames.stats.evictions);
    m.mirrorCounter('procflow_agent_flush_errors_total', 'intervals that could not be written (see the agent log)', () => this.stats.flushErrors);
    m.gauge('procflow_agent_last_flush_timestamp_seconds', 'when an interval was last written', () => this.stats.lastFlushMs / 1000);
  }
}

/** A captured message oriented for the DNS logs: the socket is the client's, the peer the server. */
function observation(m: CapturedMessage) {
  const ev = m.event;
  return {
    processKey: processKey(ev.pid, ev.startNs, ev.comm),
    proto: ev.proto,
    clientIp: ev.localIp,
    clientPort: ev.localPort,
    serverIp: ev.remoteIp,
    serverPort: ev.remotePort,
    ...(ev.channel !== 'net' ? { resolver: ev.channel, connection: ev.cookie } : {}),
    timeNs: ev.timeNs,
    message: m.message,
  };
}
