// `procflow <command> [settings]`: one CLI for every part of procflow.
import { formatHelp, loadSettings } from '../common/config.js';
import { describeError } from '../common/errors.js';
import type { Command } from './command.js';
import { COMMAND_NAMES, loadCommand } from './invocation.js';

function topHelp(summaries: string[]): string {
  return ['usage: procflow <command> [settings]', '', 'commands:', ...summaries, '', 'procflow <command> --help lists every setting of a command.'].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const lines: string[] = [];
    for (const n of COMMAND_NAMES) lines.push(`  ${n.padEnd(9)} ${(await loadCommand(n))!.summary}`);
    process.stdout.write(`${topHelp(lines)}\n`);
    return name ? 0 : 2;
  }
  const cmd: Command | undefined = await loadCommand(name);
  if (!cmd) {
    process.stderr.write(`procflow: unknown command ${JSON.stringify(name)}; commands: ${COMMAND_NAMES.join(', ')}\n`);
    return 2;
  }
  try {
    const { config, help } = loadSettings(cmd.settings, rest);
    if (help) {
      process.stdout.write(`${formatHelp(cmd.usage, cmd.summary, cmd.settings)}\n`);
      return 0;
    }
    return await cmd.run(config);
  } catch (err) {
    process.stderr.write(`procflow ${name}: ${describeError(err)}\n`);
    return 1;
  }
}
