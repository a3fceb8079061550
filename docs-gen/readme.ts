// Generates the README's reference sections from the code, so they cannot drift:
// every command's settings (flag, environment variable, default, meaning) and every document
// field (from schema/), and the table of supported kernels (from the kernel matrix's results). `node dist/docs-gen/readme.js` rewrites the sections in README.md
// between their markers; `--check` exits 1 when README.md differs.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { envOf, flagOf, formatDefault, VALUE_SYNTAX, type Setting } from '../common/config.js';
import { leafFields, rangeText, DNS_LOG_FIELDS, DNS_PATTERN, FLOW_LOG_FIELDS, PROCESS_EVENT_FIELDS, FLOWS_PATTERN, PROCESS_PATTERN, type FieldTable } from '../schema/index.js';
import { COMMAND_NAMES, loadCommand } from '../cli/invocation.js';
import { kernelsReference } from './kernels-table.js';
import { writeOrCheck } from './generated-file.js';

export const README_PATH = fileURLToPath(new URL('../../README.md', import.meta.url));

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

// The help text's formatter, except that a default taken from this machine (its hostname)
// is described, so the README does not change from host to host.
const readmeDefault = (s: Setting): string => (s.default === hostname() ? "this host's name" : formatDefault(s));

export async function settingsReference(): Promise<string> {
  const out: string[] = [];
  for (const name of COMMAND_NAMES) {
    const cmd = (await loadCommand(name))!;
    out.push(`### procflow ${name}`, '', `${cmd.summary}. Usage: \`${cmd.usage}\``, '', '| flag | environment | default | meaning |', '| --- | --- | --- | --- |');
    for (const [key, s] of Object.entries(cmd.settings)) {
      const flag = s.short ? `\`-${s.short}\`, \`${flagOf(key)}\`` : `\`${flagOf(key)}\``;
      out.push(`| ${flag} | \`${envOf(key)}\` | \`${cell(readmeDefault(s))}\` | ${cell(s.doc)} |`);
    }
    out.push('');
  }
  out.push('Every command also takes `--config FILE` (`PROCFLOW_CONFIG`): a JSON file with any of its settings; flags win over the environment, which wins over the file.');
  out.push('', VALUE_SYNTAX);
  return out.join('\n');
}

function fieldsTable(table: FieldTable): string {
  const rows = ['| field | type | ECS alias | required | meaning |', '| --- | --- | --- | --- | --- |'];
  for (const { path, spec } of leafFields(table)) {
    const range = rangeText(spec);
    const type = `${spec.type}${spec.array ? '[]' : ''}${range ? `, ${range}` : ''}${spec.storedOnly ? ' (stored only)' : ''}${spec.docValuesOnly ? ' (doc values only)' : ''}`;
    rows.push(`| \`${path}\` | ${type} | ${spec.ecs ? `\`${spec.ecs}\`` : ''} | ${spec.required ? 'yes' : ''} | ${cell(spec.description)} |`);
  }
  return rows.join('\n');
}

export function fieldsReference(): string {
  return [
    `### Flow logs (\`${FLOWS_PATTERN}\`)`,
    '',
    fieldsTable(FLOW_LOG_FIELDS),
    '',
    `### Process events (\`${PROCESS_PATTERN}\`)`,
    '',
    '`process_exec.parent.*`, `process_exec.ancestors[].*` (a list, nearest first), `process_exit.process.*`, `process_exit.parent.*` and `process_exit.ancestors[].*` have the same fields as `process_exec.process.*`; the ECS names belong to the event\'s own process (each is a field of its own that `process_exec` and `process_exit` copy their value to).',
    '',
    fieldsTable({
      ...PROCESS_EVENT_FIELDS,
      process_exec: { ...PROCESS_EVENT_FIELDS.process_exec, fields: { process: PROCESS_EVENT_FIELDS.process_exec.fields.process } },
      process_exit: { ...PROCESS_EVENT_FIELDS.process_exit, fields: { ...PROCESS_EVENT_FIELDS.process_exit.fields, process: { type: 'object', description: '', fields: {} }, parent: { type: 'object', description: '', fields: {} }, ancestors: { type: 'object', description: '', fields: {} } } },
    } as FieldTable),
    '',
    `### DNS logs (\`${DNS_PATTERN}\`)`,
    '',
    fieldsTable(DNS_LOG_FIELDS),
  ].join('\n');
}

/** README text with each generated section replaced between `<!-- name:begin -->` and `<!-- name:end -->`. */
export async function renderReadme(current: string): Promise<string> {
  const sections: Record<string, string> = { settings: await settingsReference(), fields: fieldsReference(), kernels: kernelsReference() };
  let text = current;
  for (const [name, body] of Object.entries(sections)) {
    const re = new RegExp(`(<!-- ${name}:begin[^>]*-->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (!re.test(text)) throw new Error(`readme: README.md has no <!-- ${name}:begin --> ... <!-- ${name}:end --> markers`);
    text = text.replace(re, (_m, begin: string, end: string) => `${begin}${body}\n${end}`);
  }
  return text;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const current = readFileSync(README_PATH, 'utf8');
  writeOrCheck(README_PATH, current, await renderReadme(current), 'readme: README.md reference sections', 'node dist/docs-gen/readme.js');
}
