// The live terminal view of `procflow local`: polls Elasticsearch for the newest process events
// and flow logs and prints one line each, Tetragon-style:
//   🚀 node-a /usr/bin/curl -s https://example.com/
//   💥 node-a /usr/bin/curl -s https://example.com/ 0
//   ⇄  node-a /usr/bin/curl 10.0.0.5:40000 → 93.184.216.34:443 tcp  out 1.2 kB  in 5.0 kB
// It shows what was indexed (so it proves the whole path), reading at most `batch` new
// documents per kind per poll, and remembers only the ids at the newest timestamp.
import type { Client } from '@elastic/elasticsearch';
import { FLOWS_PATTERN, PROCESS_PATTERN, type FlowLog, type ProcessEventDoc } from '../../schema/index.js';

export type ViewKind = 'events' | 'flows';

const units = ['B', 'kB', 'MB', 'GB', 'TB'];
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) (v /= 1000, u++);
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

const endpoint = (ip: string | undefined, port: number | undefined, name: string) => `${ip ?? name}${port !== undefined ? `:${port}` : ''}`;

export function formatFlow(d: FlowLog): string {
  const args = d.process_args?.length ? ` ${d.process_args.join(' ')}` : '';
  return `⇄  ${d.host} ${endpoint(d.source_ip, d.source_port, d.source_name)} → ${endpoint(d.dest_ip, d.dest_port, d.dest_name)} ${d.proto} out ${formatBytes(d.bytes_out)} in ${formatBytes(d.bytes_in)}  ${d.process_name}${args}`;
}

/** Flows not to show: these process ids, and the Elasticsearch (java) side of `port`. */
export interface HiddenFlows {
  processIds: string[];
  port: number;
}

function hiddenFlowsQuery(h: HiddenFlows): Record<string, unknown>[] {
  return [
    { terms: { process_id: h.processIds } },
    {
      bool: {
        filter: [{ wildcard: { process_name: '*/java' } }],
        should: [{ term: { source_port: h.port } }, { term: { dest_port: h.port } }],
        minimum_should_match: 1,
      },
    },
  ];
}

export function formatProcessEvent(d: ProcessEventDoc): string {
  if (d.process_exec) {
    const p = d.process_exec.process;
    return `🚀 ${d.node_name} ${p.binary}${p.arguments ? ` ${p.arguments}` : ''}`;
  }
  const x = d.process_exit!;
  const p = x.process;
  return `💥 ${d.node_name} ${p.binary}${p.arguments ? ` ${p.arguments}` : ''} ${x.signal ?? x.status ?? ''}`.trimEnd();
}

export interface LiveView {
  stop(): Promise<void>;
}

export function startLiveView(client: Client, kinds: ViewKind[], write: (line: string) => void, opts: { intervalMs?: number; batch?: number; since?: Date; hideFlows?: HiddenFlows } = {}): LiveView {
  const cursors = new Map<ViewKind, { ts: string; ids: Set<string> }>();
  for (const k of kinds) cursors.set(k, { ts: (opts.since ?? new Date()).toISOString(), ids: new Set() });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const pollKind = async (kind: ViewKind) => {
    const cursor = cursors.get(kind)!;
    const res = await client.search<FlowLog | ProcessEventDoc>({
      index: kind === 'flows' ? FLOWS_PATTERN : PROCESS_PATTERN,
      ignore_unavailable: true,
      allow_no_indices: true,
      size: opts.batch ?? 50,
      query: {
        bool: {
          filter: [{ range: { '@timestamp': { gte: cursor.ts } } }],
          must_not: kind === 'flows' && opts.hideFlows ? hiddenFlowsQuery(opts.hideFlows) : [],
        },
      },
      sort: [{ '@timestamp': 'asc' }],
    });
    for (const hit of res.hits.hits) {
      const doc = hit._source!;
      if (cursor.ids.has(hit._id!)) continue;
      const ts = doc['@timestamp'];
      if (ts !== cursor.ts) (cursor.ts = ts, cursor.ids.clear());
      cursor.ids.add(hit._id!);
      write(kind === 'flows' ? formatFlow(doc as FlowLog) : formatProcessEvent(doc as ProcessEventDoc));
    }
  };
  const tick = () => {
    running = (async () => {
      for (const k of kinds) {
        if (stopped) return;
        await pollKind(k).catch(() => {}); // Elasticsearch busy or stopping: try again next tick
      }
    })().finally(() => {
      if (!stopped) timer = setTimeout(tick, opts.intervalMs ?? 2000);
    });
  };
  if (kinds.length) tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
