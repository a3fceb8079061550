// `node dist/kibana/generate.js [--check]`: writes kibana/procflow.ndjson from the TypeScript
// definitions, or (--check) exits 1 when the committed file differs from what they generate.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NDJSON_FILE, toNdjson } from './objects.js';

/** kibana/procflow.ndjson in the source tree (this file runs from dist/kibana/). */
export const ndjsonPath = (): string => fileURLToPath(new URL(`../../kibana/${NDJSON_FILE}`, import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const wanted = toNdjson();
  const path = ndjsonPath();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      /* missing counts as different */
    }
    if (current !== wanted) {
      process.stderr.write(`kibana: ${path} is out of date; run node dist/kibana/generate.js\n`);
      process.exitCode = 1;
    }
  } else {
    writeFileSync(path, wanted);
    process.stderr.write(`kibana: wrote ${path} (${wanted.split('\n').length - 1} saved objects)\n`);
  }
}
