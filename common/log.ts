// Structured logs (pino) on stderr, so stdout stays free for data (`--output ndjson`, views).
import { pino, type Logger, type Level } from 'pino';
import type { SettingsTable } from './config.js';

export type { Logger };

/** The log level setting every command has (`--log-level`, `PROCFLOW_LOG_LEVEL`). */
export const LOG_LEVEL_SETTING = {
  log_level: {
    doc: 'log level: trace, debug, info, warn, error, silent',
    format: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    default: 'info',
  },
} satisfies SettingsTable;

export function createLogger(name: string, level: Level | 'silent' = 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}
