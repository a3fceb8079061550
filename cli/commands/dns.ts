// `procflow dns`: which process asked for which domain, from the DNS logs in Elasticsearch: the
// processes that asked most over a recent window, each with its top domains, failed answers and
// slowest latency, and optionally the newest DNS logs.
import { ES_SETTINGS, createEsClient } from '../../common/elasticsearch.js';
import { LOG_LEVEL_SETTING } from '../../common/log.js';
import { DNS_PATTERN, type DnsLog } from '../../schema/index.js';
import { defineCommand } from '../command.js';
import { searchRecent } from '../recent.js';
import { table } from '../table.js';

interface DomainCount {
  domain: string;
  queries: number;
  failed: number;
}

interface Asker {
  process: string;
  /** Responses (the logs' count), all domains. */
  queries: number;
  /** Responses other than NoError. */
  failed: number;
  /** The largest p99 latency of its logs (ns); null when none was measured. */
  p99Ns: number | null;
  domains: DomainCount[];
}

interface Sum {
  value: number;
}

interface DomainBucket {
  key: string;
  queries: Sum;
  failed: { queries: Sum };
}

interface ProcessBucket extends DomainBucket {
  p99: { value: number | null };
  domains: { buckets: DomainBucket[] };
}

/** A latency in nanoseconds as people read it: µs below a millisecond, ms below a second. */
export function humanLatency(ns: number | null): string {
  if (ns === null) return '-';
  if (ns < 1e6) return `${(ns / 1e3).toFixed(0)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

const counted = (inner: object) => ({ ...inner, aggs: { queries: { sum: { field: 'count' } } } });

export default defineCommand({
  name: 'dns',
  usage: 'procflow dns [--es-url URL] [--since 15m] [--top 10] [--domains 5] [--rcode NXDomain] [--domain NAME] [--host NODE] [--latest 0] [-o table|json]',
  summary: 'top domains by process (and the latest DNS logs) from Elasticsearch',
  settings: {
    ...ES_SETTINGS,
    since: { doc: 'how far back to look', format: 'duration', default: 15 * 60_000 },
    top: { doc: 'processes to list, those that asked most first', format: 'nat', min: 1, default: 10 },
    domains: { doc: 'domains listed per process, most asked first', format: 'nat', min: 1, default: 5 },
    rcode: { doc: 'only answers with this response code, as the logs spell it (NoError, NXDomain, ServFail, Refused, ...)', format: String, default: '' },
    domain: { doc: 'only this queried name (exact, lower case, no final dot)', format: String, default: '' },
    host: { doc: 'only DNS logs from this node', format: String, default: '' },
    latest: { doc: 'also print this many of the newest DNS logs', format: 'nat', default: 0 },
    output: { doc: 'table or json', format: ['table', 'json'] as const, default: 'table', short: 'o' },
    ...LOG_LEVEL_SETTING,
  },
  async run(c) {
    const client = createEsClient(c);
    try {
      const filter: object[] = [];
      if (c.host) filter.push({ term: { host: c.host } });
      if (c.rcode) filter.push({ term: { rcode: c.rcode } });
      if (c.domain) filter.push({ term: { qname: c.domain.toLowerCase().replace(/\.$/, '') } });
      const failed = counted({ filter: { bool: { must_not: [{ term: { rcode: 'NoError' } }] } } });
      const res = await searchRecent<DnsLog>(client, {
        es_url: c.es_url,
        index: DNS_PATTERN,
        since: c.since,
        filter,
        latest: c.latest,
        aggs: {
          by_process: {
            terms: { field: 'process_name', size: c.top, order: { queries: 'desc' } },
            aggs: {
              queries: { sum: { field: 'count' } },
              failed,
              p99: { max: { field: 'latency_p99' } },
              domains: {
                terms: { field: 'qname', size: c.domains, order: { queries: 'desc' } },
                aggs: { queries: { sum: { field: 'count' } }, failed },
              },
            },
          },
        },
      });
      const askers: Asker[] = res.buckets<ProcessBucket>('by_process').map((b) => ({
        process: b.key,
        queries: b.queries.value,
        failed: b.failed.queries.value,
        p99Ns: b.p99.value,
        domains: b.domains.buckets.map((d) => ({ domain: d.key, queries: d.queries.value, failed: d.failed.queries.value })),
      }));
      const latest = res.latest;
      if (c.output === 'json') {
        process.stdout.write(`${JSON.stringify({ since: `${c.since}ms`, processes: askers, latest })}\n`);
        return 0;
      }
      if (!askers.length) {
        process.stdout.write(`no DNS logs in ${DNS_PATTERN} in the last ${Math.round(c.since / 1000)} s${c.rcode || c.domain ? ' that match' : ''}\n`);
        return 0;
      }
      const rows = [['PROCESS', 'QUERIES', 'FAILED', 'P99', 'TOP DOMAINS']];
      for (const a of askers) {
        const domains = a.domains.map((d) => `${d.domain || '(no question)'} ${d.queries}${d.failed ? ` (${d.failed} failed)` : ''}`).join(', ');
        rows.push([a.process, String(a.queries), String(a.failed), humanLatency(a.p99Ns), domains]);
      }
      process.stdout.write(`${table(rows)}\n`);
      if (latest.length) {
        const lrows = [['END', 'PROTO', 'SERVER', 'NAME', 'TYPE', 'RCODE', 'COUNT', 'ANSWERS', 'PROCESS']];
        for (const d of latest) {
          const server = d.servers?.[0];
          const answers = (d.rrsets ?? []).map((r) => `${r.type} ${(r.rdata ?? []).join(' ')}`).join('; ');
          lrows.push([d.end_time, d.proto, server ? `${server.ip}:${server.port ?? 53}` : '-', d.qname, d.qtype, d.rcode, String(d.count), answers || '-',
            `${d.process_name} ${(d.process_args ?? []).join(' | ')}`.trim()]);
        }
        process.stdout.write(`\n${table(lrows)}\n`);
      }
      return 0;
    } finally {
      await client.close();
    }
  },
});
