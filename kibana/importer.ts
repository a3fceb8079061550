// Imports procflow's saved objects into Kibana through the saved objects API
// (POST /api/saved_objects/_import?overwrite=true, multipart), after waiting for Kibana's
// /api/status to report "available". Overwriting makes it idempotent: run it on every start.
// An https Kibana is verified against --kibana-ca-file, else --es-ca-file, else the system CAs.
import type { SettingsOf, SettingsTable } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { ProcflowError } from '../common/errors.js';
import { isCertificateError, requestText } from '../common/http-client.js';
import { kibanaTlsError, readKibanaCa, type KibanaCa } from './http.js';
import { NDJSON_FILE, toNdjson } from './objects.js';

export const KIBANA_SETTINGS = {
  kibana_url: { doc: 'Kibana URL; when set, setup imports the dashboards', format: 'url-or-empty', default: '' },
  kibana_username: { doc: 'Kibana user (basic auth); defaults to the Elasticsearch user', format: String, default: '' },
  kibana_password: { doc: 'Kibana password (basic auth)', format: String, default: '', sensitive: true },
  kibana_ca_file: { doc: 'PEM file of the CA that signed the Kibana certificate; defaults to --es-ca-file', format: String, default: '' },
} satisfies SettingsTable;

export type KibanaConnection = SettingsOf<typeof KIBANA_SETTINGS>;

/** The Elasticsearch user stands in when no Kibana user is given (setup passes its whole config). */
type WithEsUser = Omit<KibanaConnection, 'kibana_ca_file'> & { kibana_ca_file?: string; es_username?: string; es_password?: string; es_api_key?: string; es_ca_file?: string };

export interface ImportOptions {
  timeoutMs: number;
  log: Logger;
  /** Poll interval while Kibana starts (ms). */
  pollMs?: number;
  /** The NDJSON to import; procflow's saved objects by default. */
  ndjson?: string;
}

interface ImportError {
  id: string;
  type: string;
  meta?: { title?: string };
  title?: string;
  error: { type: string; message?: string; references?: Array<{ type: string; id: string }> };
}

function headers(c: WithEsUser): Record<string, string> {
  const user = c.kibana_username || c.es_username || '';
  const password = c.kibana_username ? c.kibana_password : c.kibana_password || c.es_password || '';
  // Setup with an Elasticsearch API key (as createEsClient prefers it): Kibana takes it as well.
  const apiKey = !c.kibana_username && c.es_api_key ? c.es_api_key : '';
  const authorization = apiKey ? `ApiKey ${apiKey}` : user ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : '';
  return { 'kbn-xsrf': 'procflow', ...(authorization ? { authorization } : {}) };
}

function authError(url: string, status: number): ProcflowError {
  return new ProcflowError(
    'KIBANA_AUTH',
    `kibana: ${url} refused the credentials (HTTP ${status})`,
    'set --kibana-username/--kibana-password (or the Elasticsearch user, which Kibana accepts when it is a Kibana user too)',
  );
}

/** Polls GET /api/status until Kibana reports overall level "available". */
export async function waitForKibana(c: WithEsUser, o: ImportOptions, ca = readKibanaCa(c)): Promise<void> {
  const base = c.kibana_url.replace(/\/+$/, '');
  const deadline = Date.now() + o.timeoutMs;
  const started = Date.now();
  let lastReport = 0;
  let state = 'no answer';
  for (;;) {
    try {
      const res = await requestText(`${base}/api/status`, { headers: headers(c), timeoutMs: 10_000, ca: ca?.pem });
      if (res.status === 401 || res.status === 403) throw authError(base, res.status);
      const body = parseJson(res.text) as { status?: { overall?: { level?: string; summary?: string } } };
      const level = body.status?.overall?.level;
      if (res.status >= 200 && res.status < 300 && level === 'available') return;
      state = level ? `status ${level}${body.status?.overall?.summary ? `: ${body.status.overall.summary}` : ''}` : `HTTP ${res.status}`;
    } catch (err) {
      if (err instanceof ProcflowError) throw err;
      // An untrusted certificate stays untrusted: say which flag fixes it instead of waiting.
      if (isCertificateError(err)) throw kibanaTlsError(base, err as Error, ca);
      state = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
    if (Date.now() >= deadline) {
      throw new ProcflowError(
        'KIBANA_UNREACHABLE',
        `kibana: ${base} was not available within ${Math.round(o.timeoutMs / 1000)}s (last: ${state})`,
        'check that Kibana is running and reachable at --kibana-url; a first Kibana start can take minutes (raise --wait-timeout)',
      );
    }
    if (Date.now() - lastReport >= 10_000) {
      lastReport = Date.now();
      o.log.info({ kibana: base, state, waitedSeconds: Math.round((Date.now() - started) / 1000) }, 'waiting for Kibana');
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 2000));
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function describeImportError(e: ImportError): string {
  const title = e.meta?.title ?? e.title;
  const refs = e.error.references?.map((r) => `${r.type}/${r.id}`).join(', ');
  return `${e.type}/${e.id}${title ? ` (${title})` : ''}: ${e.error.type}${e.error.message ? ` ${e.error.message}` : ''}${refs ? ` [missing: ${refs}]` : ''}`;
}

/** The NDJSON as the multipart/form-data file part Kibana's import API reads (encoded by the platform's FormData). */
async function multipartFile(ndjson: string): Promise<{ body: Buffer; contentType: string }> {
  const form = new FormData();
  form.append('file', new Blob([ndjson], { type: 'application/ndjson' }), NDJSON_FILE);
  const encoded = new Response(form);
  return { body: Buffer.from(await encoded.arrayBuffer()), contentType: encoded.headers.get('content-type')! };
}

/** Waits for Kibana, imports the saved objects (overwriting), returns how many were imported. */
export async function importKibanaObjects(c: WithEsUser, o: ImportOptions): Promise<number> {
  const base = c.kibana_url.replace(/\/+$/, '');
  const ca: KibanaCa | undefined = readKibanaCa(c);
  await waitForKibana(c, o, ca);
  const multipart = await multipartFile(o.ndjson ?? toNdjson());
  let res: { status: number; text: string };
  try {
    res = await requestText(`${base}/api/saved_objects/_import?overwrite=true`, {
      method: 'POST',
      headers: { ...headers(c), 'content-type': multipart.contentType },
      body: multipart.body,
      timeoutMs: 120_000,
      ca: ca?.pem,
    });
  } catch (err) {
    if (isCertificateError(err)) throw kibanaTlsError(base, err as Error, ca);
    throw new ProcflowError('KIBANA_UNREACHABLE', `kibana: import request to ${base} failed: ${(err as Error).message}`, 'check that Kibana is reachable', { cause: err });
  }
  if (res.status === 401 || res.status === 403) throw authError(base, res.status);
  const text = res.text;
  if (res.status < 200 || res.status >= 300) {
    throw new ProcflowError('KIBANA_IMPORT', `kibana: import refused with HTTP ${res.status}: ${text.slice(0, 500)}`, 'a Kibana older than 9.0 cannot read these objects; use Kibana 9');
  }
  const body = parseJson(text) as { success?: boolean; successCount?: number; errors?: ImportError[] };
  if (typeof body.success !== 'boolean' || typeof body.successCount !== 'number') {
    // A proxy page or another service on that port: the objects were not imported.
    throw new ProcflowError('KIBANA_IMPORT', `kibana: ${base} answered the import with HTTP ${res.status} but not with an import result: ${text.slice(0, 200)}`,
      'check that --kibana-url points at Kibana itself (with its base path, if it has one)');
  }
  if (!body.success || body.errors?.length) {
    const errors = body.errors ?? [];
    throw new ProcflowError(
      'KIBANA_IMPORT',
      `kibana: ${errors.length} of ${body.successCount + errors.length} saved objects failed to import:\n${errors.map((e) => `  - ${describeImportError(e)}`).join('\n')}`,
      'the rest were imported; fix the objects listed (or report them) and run setup again',
    );
  }
  o.log.info({ kibana: base, imported: body.successCount }, 'Kibana saved objects imported');
  return body.successCount;
}
