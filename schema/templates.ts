// Elasticsearch component and index templates (and the ILM policy where the cluster has ILM),
// generated from the field tables. Bump SCHEMA_VERSION whenever a mapping changes: setup
// compares it with what the cluster holds and `/readyz` refuses an out-of-date cluster.
import { DEAD_LETTER_FIELDS } from './dead-letter.js';
import { DNS_LOG_FIELDS } from './dns-log.js';
import { mappingProperties, type FieldTable } from './field-spec.js';
import { FLOW_LOG_FIELDS } from './flow-log.js';
import { INDEX_PATTERNS, INDEX_PREFIX, type DocKind } from './indices.js';
import { PROCESS_EVENT_FIELDS } from './process-event.js';

/**
 * 5: logsdb index mode where the cluster has it (schema/install.ts probes), explicit index sort
 * settings, doc-values-only counters, times and hashes (FieldSpec.docValuesOnly).
 * 6: flow logs sorted by node, process, destination, then newest first.
 */
export const SCHEMA_VERSION = 6;
export const ILM_POLICY_NAME = `${INDEX_PREFIX}-retention`;
export const SETTINGS_COMPONENT = `${INDEX_PREFIX}-settings`;

export interface ClusterCapabilities {
  /** Index lifecycle management (absent from the integ-test distribution). */
  ilm: boolean;
  /**
   * The cluster accepts `index.mode: logsdb` for procflow's sorted kinds, and which _source it
   * then keeps: 'synthetic' (rebuilt from doc values on read; not stored), or 'stored' where
   * the licence does not allow synthetic source (Elasticsearch falls back by itself). Null: no
   * logsdb (older than 8.17, or refused), the templates keep the standard index mode.
   */
  logsdb: { source: 'synthetic' | 'stored' } | null;
}

/** The index mode the sorted kinds' templates get with these capabilities, in words (setup's output). */
export function indexModeText(c: ClusterCapabilities): string {
  return c.logsdb ? `logsdb with ${c.logsdb.source} _source` : 'standard (no logsdb on this cluster)';
}

export interface TemplateOptions {
  capabilities: ClusterCapabilities;
  /** Days to keep daily indices (ILM delete phase); ignored without ILM. */
  retentionDays: number;
}

/**
 * Each kind's index is sorted by the node, then newest first: a node's documents repeat most of
 * their values (its name, its processes, their arguments), so side by side they compress far
 * better, and the common query (one node, recent) reads fewer blocks. Flow logs are sorted
 * further, within the node, by process and destination before time: one process's talks with one
 * peer, interval after interval, then sit together, and so do their arguments, exec ids, users,
 * pods, labels, ports and similar counters (measured with bench:indexer's agent flow logs: 123.4
 * → 97.4 B per flow log, 0.79). Queries sorted by time gain nothing from either sort, so none
 * loses by it. Dead letters are rare and have no node field.
 *
 * With logsdb the sort stays the one given here: logsdb's own default (host.name, @timestamp)
 * would map a host.name keyword where it is missing, which a flow or DNS log cannot take (its
 * `host` is a keyword, not an object), and the process events' host.name is an alias.
 */
/** `sortBy`: the keyword fields an index is sorted by (ascending, the node first), before @timestamp (newest first). */
const TEMPLATED: ReadonlyArray<{ name: DocKind | 'deadletter'; fields: FieldTable; sortBy?: readonly string[] }> = [
  { name: 'flows', fields: FLOW_LOG_FIELDS, sortBy: ['host', 'process_name', 'dest_name'] },
  { name: 'process', fields: PROCESS_EVENT_FIELDS, sortBy: ['node_name'] },
  { name: 'dns', fields: DNS_LOG_FIELDS, sortBy: ['host'] },
  { name: 'deadletter', fields: DEAD_LETTER_FIELDS },
];

export interface ComponentTemplate { name: string; body: { template: Record<string, unknown>; _meta: Record<string, unknown> } }
export interface IndexTemplate { name: string; body: Record<string, unknown> }

export interface TemplateSet {
  ilmPolicy: { name: string; body: Record<string, unknown> } | null;
  components: ComponentTemplate[];
  indexTemplates: IndexTemplate[];
}

const meta = { managed_by: 'procflow', schema_version: SCHEMA_VERSION };

/** The index settings of a sorted kind: the sort, and logsdb where the cluster has it. */
export function sortedSettings(sortBy: readonly string[], capabilities: ClusterCapabilities): Record<string, unknown> {
  const sort = { field: [...sortBy, '@timestamp'], order: [...sortBy.map(() => 'asc'), 'desc'] };
  return capabilities.logsdb ? { mode: 'logsdb', sort } : { sort };
}

/** Each sorted kind's sort fields (the node first). */
export const SORTED_KINDS: ReadonlyArray<{ name: DocKind; sortBy: readonly string[] }> = TEMPLATED.flatMap((t) => (t.sortBy && t.name !== 'deadletter' ? [{ name: t.name, sortBy: t.sortBy }] : []));

export function buildTemplates(opts: TemplateOptions): TemplateSet {
  const settings: Record<string, unknown> = {
    number_of_shards: 1,
    auto_expand_replicas: '0-1',
    refresh_interval: '5s',
    // Stored fields (the _source) with DEFLATE rather than LZ4: a little more CPU at merge time
    // for documents that are written once and kept for days.
    codec: 'best_compression',
    'mapping.total_fields.limit': 2000,
    // A value its field cannot take is refused (and dead-lettered with the reason), as in a
    // standard index: logsdb would keep it in _source, unsearchable, without a word.
    'mapping.ignore_malformed': false,
  };
  if (opts.capabilities.ilm) settings['lifecycle.name'] = ILM_POLICY_NAME;

  const components: ComponentTemplate[] = [
    { name: SETTINGS_COMPONENT, body: { template: { settings: { index: settings } }, _meta: meta } },
    ...TEMPLATED.map(({ name, fields }) => ({
      name: `${INDEX_PREFIX}-${name}-mappings`,
      body: {
        template: {
          mappings: {
            dynamic: 'strict',
            _meta: meta,
            properties: mappingProperties(fields),
          },
        },
        _meta: meta,
      },
    })),
  ];
  const indexTemplates: IndexTemplate[] = TEMPLATED.map(({ name, sortBy }) => ({
    name: `${INDEX_PREFIX}-${name}`,
    body: {
      index_patterns: [INDEX_PATTERNS[name]],
      composed_of: [SETTINGS_COMPONENT, `${INDEX_PREFIX}-${name}-mappings`],
      ...(sortBy ? { template: { settings: { index: sortedSettings(sortBy, opts.capabilities) } } } : {}),
      priority: 200,
      _meta: meta,
    },
  }));
  const ilmPolicy = opts.capabilities.ilm
    ? {
        name: ILM_POLICY_NAME,
        body: {
          policy: {
            _meta: meta,
            phases: {
              hot: { min_age: '0ms', actions: {} },
              delete: { min_age: `${opts.retentionDays}d`, actions: { delete: {} } },
            },
          },
        },
      }
    : null;
  return { ilmPolicy, components, indexTemplates };
}
