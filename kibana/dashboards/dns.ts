// "procflow: DNS": which names are asked, how the answers went, which processes asked for names
// that failed, and how long the answers took (procflow-dns-*).
import type { DashboardSpec } from '../dashboard.js';
import type { LensSpec } from '../lens.js';
import type { SearchSpec } from '../search.js';

const TIME = { op: 'date_histogram', field: '@timestamp' } as const;
// One DNS log aggregates `count` responses, so answers are summed, not counted as documents.
const responses = { op: 'sum', field: 'count', label: 'Responses', format: 'number' } as const;

export const DNS_LENS: LensSpec<'dns'>[] = [
  {
    id: 'procflow-dns-top-domains',
    title: 'Top queried domains',
    description: 'Queried names by responses',
    dataView: 'dns',
    columns: {
      qname: { op: 'terms', field: 'qname', size: 15, orderBy: 'responses', label: 'Domain' },
      responses,
    },
    chart: { type: 'xy', seriesType: 'bar_horizontal', x: 'qname', y: ['responses'] },
  },
  {
    id: 'procflow-dns-rcodes-over-time',
    title: 'Response codes over time',
    description: 'Responses per interval, split by response code (NoError, NXDomain, ServFail, ...)',
    dataView: 'dns',
    columns: {
      time: TIME,
      rcode: { op: 'terms', field: 'rcode', size: 6, orderBy: 'responses', label: 'Response code' },
      responses,
    },
    chart: { type: 'xy', seriesType: 'bar_stacked', x: 'time', y: ['responses'], split: 'rcode' },
  },
  {
    id: 'procflow-dns-failures-by-process',
    title: 'NXDOMAIN and SERVFAIL by process',
    description: 'Executables whose queries got NXDomain or ServFail, with the code and the names they asked for',
    dataView: 'dns',
    query: 'rcode : "NXDomain" or rcode : "ServFail"',
    columns: {
      process: { op: 'terms', field: 'process_name', size: 15, orderBy: 'responses', label: 'Executable' },
      rcode: { op: 'terms', field: 'rcode', size: 2, orderBy: 'responses', label: 'Response code' },
      qname: { op: 'terms', field: 'qname', size: 5, orderBy: 'responses', label: 'Domain' },
      responses,
    },
    chart: { type: 'table' },
  },
  {
    // Each log carries percentiles of its own responses only; percentiles cannot be merged, so
    // these are summaries of them, and the description says which.
    id: 'procflow-dns-latency',
    title: 'DNS latency percentiles',
    description:
      'Per interval: the average over DNS logs of each log\'s p50 and p90, and the largest p99 of any log (query to response; logs are not weighted by their responses)',
    dataView: 'dns',
    query: 'latency_count > 0',
    columns: {
      time: TIME,
      p50: { op: 'average', field: 'latency_p50', label: 'p50 (average of logs)' },
      p90: { op: 'average', field: 'latency_p90', label: 'p90 (average of logs)' },
      p99: { op: 'max', field: 'latency_p99', label: 'p99 (worst log)' },
    },
    chart: { type: 'xy', seriesType: 'line', x: 'time', y: ['p50', 'p90', 'p99'] },
  },
  {
    id: 'procflow-dns-domain-processes',
    title: 'Processes per domain',
    description: 'Which executables asked for each name, by responses',
    dataView: 'dns',
    columns: {
      qname: { op: 'terms', field: 'qname', size: 15, orderBy: 'responses', label: 'Domain' },
      process: { op: 'terms', field: 'process_name', size: 5, orderBy: 'responses', label: 'Executable' },
      responses,
    },
    chart: { type: 'table' },
  },
];

export const DNS_SEARCHES: SearchSpec<'dns'>[] = [
  {
    id: 'procflow-dns-logs-search',
    title: 'procflow: DNS logs',
    description: 'DNS logs with the asking process, the question, the answer and its latency',
    dataView: 'dns',
    columns: ['host', 'process_name', 'process_id', 'client_name', 'qname', 'qtype', 'rcode', 'servers.ip', 'dns_resolved_ip', 'count', 'latency_max'],
  },
];

const lens = (id: string) => ({ type: 'lens' as const, id });

export const DNS: DashboardSpec = {
  // 'procflow-dns' is the data view's id, and the checks find objects by id alone.
  id: 'procflow-dns-dashboard',
  title: 'procflow: DNS',
  description: 'Queried domains, response codes, failed lookups by process, latency (procflow-dns-*)',
  controls: [
    { id: 'procflow-dns-dashboard-host', title: 'Host', dataView: 'dns', field: 'host' },
    { id: 'procflow-dns-dashboard-process', title: 'Executable', dataView: 'dns', field: 'process_name' },
    { id: 'procflow-dns-dashboard-qname', title: 'Domain', dataView: 'dns', field: 'qname' },
    { id: 'procflow-dns-dashboard-rcode', title: 'Response code', dataView: 'dns', field: 'rcode' },
  ],
  panels: [
    { ref: lens('procflow-dns-rcodes-over-time'), w: 48, h: 12 },
    { ref: lens('procflow-dns-top-domains'), w: 24, h: 14 },
    { ref: lens('procflow-dns-failures-by-process'), w: 24, h: 14 },
    { ref: lens('procflow-dns-latency'), w: 24, h: 14 },
    { ref: lens('procflow-dns-domain-processes'), w: 24, h: 14 },
    { ref: { type: 'search', id: 'procflow-dns-logs-search' }, w: 48, h: 18 },
  ],
};
