// Installs the templates (and the ILM policy where the cluster has ILM). Idempotent: PUTs
// overwrite with the same content, so setup is safe to run on every start.
import { errors, type Client } from '@elastic/elasticsearch';
import { ProcflowError } from '../common/errors.js';
import { buildTemplates, indexModeText, SCHEMA_VERSION, SORTED_KINDS, sortedSettings, type ClusterCapabilities, type TemplateSet } from './templates.js';
import { INDEX_PREFIX } from './indices.js';

/** The first release where logsdb is generally available (and synthetic _source keeps array order by default in it). */
export const LOGSDB_MIN_VERSION = [8, 17] as const;

export interface DetectedCapabilities {
  capabilities: ClusterCapabilities;
  /** Why the templates keep the standard index mode; null when they get logsdb. */
  noLogsdb: string | null;
}

export async function detectCapabilities(client: Client): Promise<ClusterCapabilities> {
  return (await detectCapabilitiesWithReasons(client)).capabilities;
}

export async function detectCapabilitiesWithReasons(client: Client): Promise<DetectedCapabilities> {
  // The integ-test distribution has no ILM module: the endpoint is simply absent.
  // A secured cluster answers 401/403 to a user without the privilege: that is not "no ILM",
  // and installing without a lifecycle would silently keep every index forever.
  const ilm = await client.transport
    .request({ method: 'GET', path: '/_ilm/status' })
    .then(
      () => true,
      (err: unknown) => {
        if (!(err instanceof errors.ResponseError) || isAuthError(err)) throw privilegeError(err, 'read the ILM status (GET /_ilm/status)');
        return false;
      },
    );
  const { logsdb, noLogsdb } = await probeLogsdb(client);
  return { capabilities: { ilm, logsdb }, noLogsdb };
}

/** The lowest version among the cluster's nodes, e.g. "8.17.1", from the nodes info API. */
async function minNodeVersion(client: Client): Promise<string> {
  const res = await client.transport
    .request<{ nodes?: Record<string, { version?: string }> }>({ method: 'GET', path: '/_nodes', querystring: { filter_path: 'nodes.*.version' } })
    .catch((err: unknown) => {
      throw privilegeError(err, 'read the node versions (GET /_nodes, cluster privilege monitor)');
    });
  const versions = Object.values(res.nodes ?? {}).flatMap((n) => (n.version ? [n.version] : []));
  if (versions.length === 0) throw new ProcflowError('ES_VERSION', 'elasticsearch: GET /_nodes named no node versions', 'check that --es-url points at Elasticsearch itself, not a proxy that filters its answers');
  return versions.sort((a, b) => compareVersions(parseVersion(a), parseVersion(b)))[0]!;
}

function parseVersion(v: string): number[] {
  return (/^(\d+)\.(\d+)\.(\d+)/.exec(v) ?? []).slice(1).map(Number);
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

interface SimulatedSettings {
  index?: { mode?: string; mapping?: { source?: { mode?: string } } };
  'index.mode'?: string;
  'index.mapping.source.mode'?: string;
}

/**
 * Whether the cluster takes `index.mode: logsdb` with procflow's sort and mappings, asked for
 * real: each sorted kind's template is simulated with logsdb (nothing is created), so the
 * cluster's own checks run (the index mode, its licence, the mappings merged in that mode), and
 * the settings it answers say which _source it would keep: a licence without synthetic source
 * makes Elasticsearch add `index.mapping.source.mode: stored`.
 */
async function probeLogsdb(client: Client): Promise<{ logsdb: ClusterCapabilities['logsdb']; noLogsdb: string | null }> {
  const version = await minNodeVersion(client);
  if (compareVersions(parseVersion(version), LOGSDB_MIN_VERSION) < 0) {
    return { logsdb: null, noLogsdb: `Elasticsearch ${version} is older than ${LOGSDB_MIN_VERSION.join('.')}, where logsdb became generally available` };
  }
  const mappings = buildTemplates({ capabilities: { ilm: false, logsdb: null }, retentionDays: 1 }).components;
  const sources = new Set<string>();
  for (const { name, sortBy } of SORTED_KINDS) {
    const component = mappings.find((c) => c.name === `${INDEX_PREFIX}-${name}-mappings`)!;
    let res: { template?: { settings?: SimulatedSettings } };
    try {
      res = await client.transport.request({
        method: 'POST',
        path: '/_index_template/_simulate',
        body: {
          // A pattern no index has and a priority no other template is likely to share (a
          // simulated template overlapping another of the same priority is refused).
          index_patterns: [`${INDEX_PREFIX}-logsdb-probe-${name}-*`],
          priority: 987_654_321,
          template: { settings: { index: sortedSettings(sortBy, { ilm: false, logsdb: { source: 'synthetic' } }) }, mappings: component.body.template.mappings },
        },
      });
    } catch (err) {
      if (err instanceof errors.ResponseError && err.statusCode === 400) {
        return { logsdb: null, noLogsdb: `the cluster refused index.mode logsdb for ${name}: ${err.message}` };
      }
      throw privilegeError(err, 'simulate an index template (POST /_index_template/_simulate)');
    }
    const settings = res.template?.settings ?? {};
    const mode = settings.index?.mode ?? settings['index.mode'];
    if (mode !== 'logsdb') return { logsdb: null, noLogsdb: `the cluster answered index.mode ${String(mode)} for a logsdb template of ${name}` };
    sources.add(settings.index?.mapping?.source?.mode ?? settings['index.mapping.source.mode'] ?? 'synthetic');
  }
  // The mode comes in capitals or lower case depending on which part of Elasticsearch set it.
  const stored = [...sources].some((m) => m.toLowerCase() === 'stored');
  return { logsdb: { source: stored ? 'stored' : 'synthetic' }, noLogsdb: null };
}

const isAuthError = (err: unknown): boolean => err instanceof errors.ResponseError && (err.statusCode === 401 || err.statusCode === 403);

/** A 401/403 names the privileges setup needs; anything else passes through unchanged. */
function privilegeError(err: unknown, what: string): unknown {
  if (!isAuthError(err)) return err;
  const status = (err as errors.ResponseError).statusCode;
  return new ProcflowError(
    'ES_AUTH',
    `elasticsearch: the user may not ${what} (HTTP ${status}: ${(err as Error).message})`,
    'give the user (--es-username or --es-api-key) the cluster privileges monitor, manage_index_templates and manage_ilm, or run setup as a more privileged user',
    { cause: err },
  );
}

export interface InstallResult {
  capabilities: ClusterCapabilities;
  installed: string[];
  /** The index mode the sorted kinds got, in words, with the reason when it is not logsdb. */
  indexMode: string;
}

export async function installTemplates(client: Client, opts: { retentionDays: number }): Promise<InstallResult> {
  const { capabilities, noLogsdb } = await detectCapabilitiesWithReasons(client);
  const set: TemplateSet = buildTemplates({ capabilities, retentionDays: opts.retentionDays });
  const installed: string[] = [];
  try {
    await putAll(client, set, installed);
  } catch (err) {
    throw privilegeError(err, 'install procflow templates and ILM policies');
  }
  return { capabilities, installed, indexMode: noLogsdb ? `${indexModeText(capabilities)}: ${noLogsdb}` : indexModeText(capabilities) };
}

async function putAll(client: Client, set: TemplateSet, installed: string[]): Promise<void> {
  if (set.ilmPolicy) {
    await client.transport.request({ method: 'PUT', path: `/_ilm/policy/${set.ilmPolicy.name}`, body: set.ilmPolicy.body });
    installed.push(`ilm policy ${set.ilmPolicy.name}`);
  }
  for (const c of set.components) {
    await client.cluster.putComponentTemplate({ name: c.name, ...c.body } as never);
    installed.push(`component template ${c.name}`);
  }
  for (const t of set.indexTemplates) {
    await client.indices.putIndexTemplate({ name: t.name, ...t.body } as never);
    installed.push(`index template ${t.name}`);
  }
}

/** Null when the current templates are installed, else what is missing or stale. */
export async function checkTemplates(client: Client): Promise<string | null> {
  const expected = buildTemplates({ capabilities: { ilm: false, logsdb: null }, retentionDays: 1 }).indexTemplates.map((t) => t.name);
  const res = await client.indices.getIndexTemplate({ name: `${INDEX_PREFIX}-*` }, { ignore: [404] });
  const found = new Map((res.index_templates ?? []).map((t) => [t.name, t.index_template._meta?.schema_version]));
  for (const name of expected) {
    if (!found.has(name)) return `index template ${name} is not installed; run procflow setup`;
    if (found.get(name) !== SCHEMA_VERSION) return `index template ${name} has schema version ${String(found.get(name))}, expected ${SCHEMA_VERSION}; run procflow setup`;
  }
  return null;
}
