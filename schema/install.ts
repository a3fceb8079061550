// Installs the templates (and the ILM policy where the cluster has ILM). Idempotent: PUTs
// overwrite with the same content, so setup is safe to run on every start.
import type { Client } from '@elastic/elasticsearch';
import { buildTemplates, SCHEMA_VERSION, type ClusterCapabilities, type TemplateSet } from './templates.js';
import { INDEX_PREFIX } from './indices.js';

export async function detectCapabilities(client: Client): Promise<ClusterCapabilities> {
  // The integ-test distribution has no ILM module: the endpoint is simply absent.
  const ilm = await client.transport
    .request({ method: 'GET', path: '/_ilm/status' })
    .then(() => true, () => false);
  return { ilm };
}

export interface InstallResult {
  capabilities: ClusterCapabilities;
  installed: string[];
}

export async function installTemplates(client: Client, opts: { retentionDays: number }): Promise<InstallResult> {
  const capabilities = await detectCapabilities(client);
  const set: TemplateSet = buildTemplates({ capabilities, retentionDays: opts.retentionDays });
  const installed: string[] = [];
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
  return { capabilities, installed };
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
