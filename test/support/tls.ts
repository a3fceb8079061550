// A throwaway certificate authority for tests, made with the openssl CLI: a CA, server
// certificates for localhost/127.0.0.1/::1 and client certificates with a chosen common name.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IssuedCert {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface TestCa {
  dir: string;
  caFile: string;
  ca: Buffer;
  /** A server certificate valid for localhost, 127.0.0.1 and ::1 (plus `names`). */
  server(name?: string, names?: string[]): IssuedCert;
  /** A client certificate (extendedKeyUsage clientAuth) whose subject CN is `commonName`. */
  client(commonName: string): IssuedCert;
  remove(): void;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** Makes a new CA in a fresh temporary directory; call remove() when done. */
export function createTestCa(label = 'procflow test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-ca-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${label}`, '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  let serial = 0;
  const issue = (name: string, cn: string, ext: string): IssuedCert => {
    const base = `${name}-${++serial}`;
    writeFileSync(join(dir, `${base}.ext`), ext);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${base}.key`, '-out', `${base}.csr`], dir);
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${base}.ext`, '-out', `${base}.crt`], dir);
    const certFile = join(dir, `${base}.crt`);
    const keyFile = join(dir, `${base}.key`);
    return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
  };
  const caFile = join(dir, 'ca.crt');
  return {
    dir,
    caFile,
    ca: readFileSync(caFile),
    server: (name = 'localhost', names = []) =>
      issue('server', name, `subjectAltName=${['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', ...names.map((n) => (/^[\d.:]+$/.test(n) ? `IP:${n}` : `DNS:${n}`))].join(',')}\nextendedKeyUsage=serverAuth\n`),
    client: (commonName) => issue('client', commonName, 'extendedKeyUsage=clientAuth\n'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
