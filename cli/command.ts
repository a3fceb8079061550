// What a CLI command looks like: a settings table (flags, env, --help) and a run function whose
// configuration type is derived from that table.
import type { SettingsOf, SettingsTable } from '../common/config.js';

export interface Command<S extends SettingsTable = SettingsTable> {
  name: string;
  usage: string;
  summary: string;
  settings: S;
  /** Resolves to the process exit code. Long-running commands resolve on shutdown. */
  run(config: SettingsOf<S>): Promise<number>;
}

export function defineCommand<S extends SettingsTable>(c: Command<S>): Command<S> {
  return c;
}
