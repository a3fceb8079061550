// The query both terminal views over Elasticsearch make (procflow flows, procflow dns): one
// search over a recent window of an index pattern, its newest documents and one aggregation.
import type { Client } from '@elastic/elasticsearch';
import { esUnreachable } from '../common/elasticsearch.js';

export interface RecentQuery {
  es_url: string;
  index: string;
  /** How far back, ms. */
  since: number;
  /** Filters beside the time window. */
  filter: object[];
  /** Newest documents to return. */
  latest: number;
  aggs: Record<string, object>;
}

export async function searchRecent<D>(client: Client, q: RecentQuery): Promise<{ buckets<B>(name: string): B[]; latest: D[] }> {
  const window = { range: { '@timestamp': { gte: `now-${Math.max(1, Math.round(q.since / 1000))}s` } } };
  let res;
  try {
    res = await client.search({
      index: q.index,
      ignore_unavailable: true,
      allow_no_indices: true,
      size: q.latest,
      sort: [{ '@timestamp': 'desc' }],
      query: { bool: { filter: [window, ...q.filter] } },
      aggs: q.aggs,
    });
  } catch (err) {
    throw esUnreachable(q.es_url, err);
  }
  const aggs = res.aggregations as Record<string, { buckets?: unknown[] }> | undefined;
  return { buckets: <B>(name: string) => (aggs?.[name]?.buckets ?? []) as B[], latest: res.hits.hits.map((h) => h._source as D) };
}
