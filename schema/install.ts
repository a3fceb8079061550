// Installs the templates (and the ILM policy where the cluster has ILM). Idempotent: PUTs
// overwrite with the same content, so setup is safe to run on every start.
import { errors, type Client } from '@elastic/elasticsearch';
import { ProcflowError } from '../common/errors.js';
import { buildTemplates, SCHEMA_VERSION, type ClusterCapabilities, type TemplateSet } from './templates.js';
import { INDEX_PREFIX } from './indices.js';

export async function detectCapabilities(client: Client): Promise<ClusterCapabilities> {
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
  return { ilm };
}

const isAuthError = (err: unknown): boolean => err instanceof errors.ResponseError && (err.statusCode === 401 || err.statusCode === 403);

/** A 401/403 names the privileges setup needs; anything else passes through unchanged. */
function privilegeError(err: unknown, what: string): unknown {
  if (!isAuthError(err)) return err;
  const status = (err as errors.ResponseError).statusCode;
  return new ProcflowError(
    'ES_AUTH',
    `elasticsearch: the user may not ${what} (HTTP ${status}: ${(err as Error).message})`,
    'give the user (--es-username or --es-api-key) the cluster privileges manage_index_templates and manage_ilm, or run setup as a more privileged user',
    { cause: err },
  );
}

export interface InstallResult {
  capabilities: ClusterCapabilities;
  installed: string[];
}

export async function installTemplates(client: Client, opts: { retentionDays: number }): Promise<InstallResult> {
  const capabilities = await detectCapabilities(client);
  const set: TemplateSet = buildTemplates({ capabilities, retentionDays: opts.retentionDays });
  const installed: string[] = [];
  try {
    await putAll(client, set, installed);
  } catch (err) {
    throw privilegeError(err, 'install procflow templates and ILM policies');
  }
  return { capabilities, installed };
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
  const expected = buildTemplates({ capabilities: { ilm: false }, retentionDays: 1 }).indexTemplates.map((t) => t.name);
  const res = await client.indices.getIndexTemplate({ name: `${INDEX_PREFIX}-*` }, { ignore: [404] });
  const found = new Map((res.index_templates ?? []).map((t) => [t.name, t.index_template._meta?.schema_version]));
  for (const name of expected) {
    if (!found.has(name)) return `index template ${name} is not installed; run procflow setup`;
    if (found.get(name) !== SCHEMA_VERSION) return `index template ${name} has schema version ${String(found.get(name))}, expected ${SCHEMA_VERSION}; run procflow setup`;
  }
  return null;
}
