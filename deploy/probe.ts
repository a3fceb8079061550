// A container health check that can present a client certificate: GET the URL, exit 0 on a
// 2xx answer and 1 otherwise, saying why on stderr (Kubernetes records it in the pod's
// events). The compose health check and the Kubernetes exec probes of the indexer run it,
// because a listener that requires client certificates (--tls-client-ca-file) refuses the
// TLS handshake of kubelet's httpGet probes, which have none.
//
//   node dist/deploy/probe.js URL [--ca-file F] [--cert-file F --key-file F] [--timeout-ms N]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { requestText } from '../common/http-client.js';

/** The probe's verdict on `argv` (the arguments after the script). */
export async function probe(argv: string[]): Promise<{ ok: boolean; message: string }> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'ca-file': { type: 'string' }, 'cert-file': { type: 'string' }, 'key-file': { type: 'string' }, 'timeout-ms': { type: 'string', default: '3000' } },
  });
  const [url] = positionals;
  if (!url || positionals.length > 1) return { ok: false, message: 'probe: usage: probe.js URL [--ca-file F] [--cert-file F --key-file F] [--timeout-ms N]' };
  if (!values['cert-file'] !== !values['key-file']) return { ok: false, message: 'probe: --cert-file and --key-file go together' };
  const timeoutMs = Number(values['timeout-ms']);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) return { ok: false, message: `probe: --timeout-ms takes a whole number of milliseconds, not ${values['timeout-ms']}` };
  const file = (f: string | undefined) => (f ? readFileSync(f) : undefined);
  try {
    const { status, text } = await requestText(url, { timeoutMs, ca: file(values['ca-file']), cert: file(values['cert-file']), key: file(values['key-file']) });
    const message = `probe: ${url} answered ${status}${status >= 200 && status < 300 ? '' : `: ${text.slice(0, 200)}`}`;
    return { ok: status >= 200 && status < 300, message };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, message: `probe: ${url}: ${e.code ? `${e.code}: ` : ''}${e.message}` };
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { ok, message } = await probe(process.argv.slice(2));
  (ok ? process.stdout : process.stderr).write(`${message}\n`);
  process.exitCode = ok ? 0 : 1;
}
