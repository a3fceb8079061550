// The CLI's commands by name (main.ts, the README generator and the tests load them through
// here), and a check of a procflow invocation (the argv after `procflow`, and its PROCFLOW_*
// environment) against the command's real settings table: the compose file, the Kubernetes
// manifests and `procflow local` use it so they never pass a flag the CLI does not know.
import { envOf, flagOf, loadSettings } from '../common/config.js';
import type { Command } from './command.js';

export const COMMAND_NAMES = ['setup', 'indexer', 'agent', 'events', 'flows', 'dns', 'local'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export async function loadCommand(name: string): Promise<Command | undefined> {
  if (!(COMMAND_NAMES as readonly string[]).includes(name)) return undefined;
  const mod = (await import(`./commands/${name}.js`)) as { default: Command };
  return mod.default;
}

/** A command still shipped as a placeholder (its implementation has not landed). */
export const isPlaceholder = (cmd: Command): boolean => /not built yet/.test(cmd.summary);

/**
 * Problems with running `procflow <argv>` with `env`: unknown command, unknown flags,
 * unknown PROCFLOW_* variables, values the settings reject. Empty when it would start.
 * Values of `${VAR}` form (filled in by compose or Kubernetes) are replaced by `sample`.
 */
export async function invocationProblems(argv: string[], env: Record<string, string> = {}, sample: Record<string, string> = {}): Promise<string[]> {
  const [name, ...args] = argv;
  const cmd = name ? await loadCommand(name) : undefined;
  if (!cmd) return [`procflow has no command ${JSON.stringify(name)}`];
  const problems: string[] = [];
  const known = new Set(Object.keys(cmd.settings).map(flagOf));
  for (const a of args) {
    if (!a.startsWith('--')) continue;
    const flag = a.split('=')[0]!;
    if (!known.has(flag) && flag !== '--config') problems.push(`procflow ${name}: unknown flag ${flag}`);
  }
  const envs = new Set(Object.keys(cmd.settings).map(envOf));
  const concreteEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('PROCFLOW_')) continue;
    if (!envs.has(k) && k !== 'PROCFLOW_CONFIG') problems.push(`procflow ${name}: unknown environment variable ${k}`);
    else concreteEnv[k] = String(v).replace(/\$\{([A-Z0-9_]+)[^}]*\}/g, (_, n: string) => sample[n] ?? 'sample');
  }
  if (problems.length === 0) {
    try {
      loadSettings(cmd.settings, args, concreteEnv);
    } catch (err) {
      problems.push(`procflow ${name}: ${(err as Error).message}`);
    }
  }
  return problems;
}
