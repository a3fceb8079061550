// Structured logs (pino) on stderr, so stdout stays free for data (`--output ndjson`, views).
import { pino, type Logger, type Level } from 'pino';

export type { Logger };

export function createLogger(name: string, level: Level | 'silent' = 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}
