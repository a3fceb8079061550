// `procflow <command> [settings]`: one CLI for every part of procflow.
import { formatHelp, loadSettings } from '../common/config.js';
import { describeError } from '../common/errors.js';
import type { Command } from './command.js';

const COMMANDS: Record<string, () => Promise<{ default: Command<never> }>> = {
  setup: () => import('./commands/setup.js'),
  indexer: () => import('./commands/indexer.js'),
  agent: () => import('./commands/agent.js'),
  events: () => import('./commands/events.js'),
  flows: () => import('./commands/flows.js'),
  local: () => import('./commands/local.js'),
};

function topHelp(summaries: string[]): string {
  return ['usage: procflow <command> [settings]', '', 'commands:', ...summaries, '', 'procflow <command> --help lists every setting of a command.'].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const lines: string[] = [];
    for (const [n, load] of Object.entries(COMMANDS)) lines.push(`  ${n.padEnd(9)} ${(await load()).default.summary}`);
    process.stdout.write(`${topHelp(lines)}\n`);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`procflow: unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  const cmd = (await load()).default as Command<unknown>;
  try {
    const { config, help } = loadSettings<unknown>(cmd.settings, rest);
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
