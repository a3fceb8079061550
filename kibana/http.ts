// Kibana over https: which CA to trust, and what to say when the certificate is refused.
// Requests themselves go through common/http-client.ts.
import { readFileSync } from 'node:fs';
import { ConfigError, ProcflowError } from '../common/errors.js';

/** Which setting the CA came from, so errors name the flag to fix. */
export interface KibanaCa {
  pem: Buffer;
  flag: '--kibana-ca-file' | '--es-ca-file';
}

/** --kibana-ca-file, else --es-ca-file (Kibana and Elasticsearch certificates usually share a CA). */
export function readKibanaCa(c: { kibana_ca_file?: string; es_ca_file?: string }): KibanaCa | undefined {
  const [path, flag] = c.kibana_ca_file ? [c.kibana_ca_file, '--kibana-ca-file' as const] : c.es_ca_file ? [c.es_ca_file, '--es-ca-file' as const] : [];
  if (!path || !flag) return undefined;
  try {
    return { pem: readFileSync(path), flag };
  } catch (err) {
    const env = flag === '--kibana-ca-file' ? 'PROCFLOW_KIBANA_CA_FILE' : 'PROCFLOW_ES_CA_FILE';
    throw new ConfigError(
      `cannot read ${flag} ${path} (the CA for Kibana): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      `give the PEM file of the CA that signed the Kibana certificate (${flag} / ${env})`,
    );
  }
}

export function kibanaTlsError(base: string, err: Error, ca: KibanaCa | undefined): ProcflowError {
  const altname = (err as NodeJS.ErrnoException).code === 'ERR_TLS_CERT_ALTNAME_INVALID';
  const hint = altname
    ? 'the certificate does not name this host: use a --kibana-url whose host name the certificate carries'
    : ca
      ? `the CA from ${ca.flag} did not sign it: pass --kibana-ca-file (PROCFLOW_KIBANA_CA_FILE) with the PEM file of the CA that signed the Kibana certificate`
      : 'pass --kibana-ca-file (PROCFLOW_KIBANA_CA_FILE) with the PEM file of the CA that signed the Kibana certificate (when unset, --es-ca-file is used)';
  return new ProcflowError('KIBANA_TLS', `kibana: ${base} presented a certificate this host does not trust: ${err.message}`, hint, { cause: err });
}
