// `procflow flows`: the latest flows from Elasticsearch for people who live in the terminal:
// top talkers by process over a recent window, and optionally the newest flow logs.
import { ES_SETTINGS, createEsClient } from '../../common/elasticsearch.js';
import { FLOWS_PATTERN, type FlowLog } from '../../schema/index.js';
import { LOG_LEVEL_SETTING } from '../../common/log.js';
import { defineCommand } from '../command.js';
import { searchRecent } from '../recent.js';
import { table } from '../table.js';


interface Talker {
  process: string;
  bytesOut: number;
  bytesIn: number;
  flows: number;
  destinations: string[];
}

interface Bucket {
  key: string;
  out: { value: number };
  in: { value: number };
  flows: { value: number };
  dests: { buckets: { key: string; doc_count: number }[] };
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export default defineCommand({
  name: 'flows',
  usage: 'procflow flows [--es-url URL] [--since 15m] [--top 10] [--latest 0] [--host NODE] [-o table|json]',
  summary: 'top talkers by process (and the latest flow logs) from Elasticsearch',
  settings: {
    ...ES_SETTINGS,
    since: { doc: 'how far back to look', format: 'duration', default: 15 * 60_000 },
    top: { doc: 'processes to list, busiest first', format: 'nat', min: 1, default: 10 },
    latest: { doc: 'also print this many of the newest flow logs', format: 'nat', default: 0 },
    host: { doc: 'only flows reported by this node', format: String, default: '' },
    output: { doc: 'table or json', format: ['table', 'json'] as const, default: 'table', short: 'o' },
    ...LOG_LEVEL_SETTING,
  },
  async run(c) {
    const client = createEsClient(c);
    try {
      const res = await searchRecent<FlowLog>(client, {
        es_url: c.es_url,
        index: FLOWS_PATTERN,
        since: c.since,
        filter: c.host ? [{ term: { host: c.host } }] : [],
        latest: c.latest,
        aggs: {
          by_process: {
            terms: { field: 'process_name', size: 1000 },
            aggs: {
              out: { sum: { field: 'bytes_out' } },
              in: { sum: { field: 'bytes_in' } },
              flows: { sum: { field: 'num_flows' } },
              dests: { terms: { field: 'dest_ip', size: 3 } },
            },
          },
        },
      });
      const talkers: Talker[] = res.buckets<Bucket>('by_process')
        .map((b) => ({ process: b.key, bytesOut: b.out.value, bytesIn: b.in.value, flows: b.flows.value, destinations: b.dests.buckets.map((d) => d.key) }))
        .sort((a, b) => b.bytesOut + b.bytesIn - (a.bytesOut + a.bytesIn))
        .slice(0, c.top);
      const latest = res.latest;
      if (c.output === 'json') {
        process.stdout.write(`${JSON.stringify({ since: `${c.since}ms`, talkers, latest })}\n`);
        return 0;
      }
      if (!talkers.length) {
        process.stdout.write(`no flows in ${FLOWS_PATTERN} in the last ${Math.round(c.since / 1000)} s\n`);
        return 0;
      }
      const rows = [['PROCESS', 'BYTES OUT', 'BYTES IN', 'FLOWS', 'TOP DESTINATIONS']];
      for (const t of talkers) rows.push([t.process, humanBytes(t.bytesOut), humanBytes(t.bytesIn), String(t.flows), t.destinations.join(', ')]);
      process.stdout.write(`${table(rows)}\n`);
      if (latest.length) {
        const lrows = [['END', 'PROTO', 'SOURCE', 'DEST', 'OUT', 'IN', 'PROCESS']];
        for (const f of latest) {
          lrows.push([f.end_time, f.proto, `${f.source_ip ?? f.source_name_aggr}:${f.source_port ?? '*'}`, `${f.dest_ip ?? f.dest_name_aggr}:${f.dest_port ?? '*'}`,
            humanBytes(f.bytes_out), humanBytes(f.bytes_in), `${f.process_name} ${(f.process_args ?? []).join(' | ')}`.trim()]);
        }
        process.stdout.write(`\n${table(lrows)}\n`);
      }
      return 0;
    } finally {
      await client.close();
    }
  },
});
