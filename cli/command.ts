// What a CLI command looks like: a settings table (flags, env, --help) and a run function.
import type { SettingsTable } from '../common/config.js';

export interface Command<C = Record<string, unknown>> {
  name: string;
  usage: string;
  summary: string;
  settings: SettingsTable;
  /** Resolves to the process exit code. Long-running commands resolve on shutdown. */
  run(config: C): Promise<number>;
}

export const LOG_LEVEL_SETTING = {
  log_level: {
    doc: 'log level: trace, debug, info, warn, error, silent',
    format: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    default: 'info',
  },
} satisfies SettingsTable;

export function defineCommand<C>(c: Command<C>): Command<C> {
  return c;
}
