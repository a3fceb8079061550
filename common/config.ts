// Settings for every command: convict schemas where each key `foo_bar` is also the flag
// `--foo-bar` and the environment variable `PROCFLOW_FOO_BAR`; `--config FILE` loads JSON.
// Precedence (lowest to highest): defaults, config file, environment, flags.
import convict from 'convict';
import { ConfigError } from './errors.js';

export interface Setting<T = unknown> {
  doc: string;
  format: convict.SchemaObj['format'];
  default: T;
  /** Masked in help output and logs. */
  sensitive?: boolean;
  /** Single-letter alias, e.g. 'o' for -o. */
  short?: string;
  /** Smallest value a numeric setting accepts (0 would wedge a limit or a queue). */
  min?: number;
}

export type SettingsTable = Record<string, Setting>;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

function parseWithUnits(value: unknown, units: Record<string, number>, what: string): number {
  if (typeof value === 'number') return value;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(String(value));
  const unit = m?.[2]?.toLowerCase() || Object.keys(units)[0]!;
  const factor = units[unit];
  if (!m || factor === undefined) {
    throw new Error(`must be a ${what} like ${what === 'duration' ? '15s, 500ms, 2m' : '10mb, 512kb'}, got ${JSON.stringify(value)}`);
  }
  return Math.round(Number(m[1]) * factor);
}

convict.addFormat({
  name: 'duration',
  validate: (v: unknown) => {
    if (typeof v !== 'number' || v < 0) throw new Error('must be a positive duration');
  },
  coerce: (v: unknown) => parseWithUnits(v, DURATION_UNITS, 'duration'),
});
convict.addFormat({
  name: 'size',
  validate: (v: unknown) => {
    if (typeof v !== 'number' || v < 0) throw new Error('must be a positive size');
  },
  coerce: (v: unknown) => parseWithUnits(v, SIZE_UNITS, 'size'),
});
convict.addFormat({
  name: 'host-port',
  validate: (v: unknown) => {
    if (typeof v !== 'string' || !/^(\[[0-9a-f:.]+\]|[^:\s]+):\d{1,5}$/i.test(v)) throw new Error('must be HOST:PORT, e.g. 127.0.0.1:8080');
  },
});
convict.addFormat({
  name: 'url-or-empty',
  validate: (v: unknown) => {
    if (v === '') return;
    try {
      const u = new URL(String(v));
      if (!/^https?:$/.test(u.protocol)) throw new Error('bad scheme');
    } catch {
      throw new Error(`must be an http(s) URL, got ${JSON.stringify(v)}`);
    }
  },
});

export const flagOf = (key: string): string => `--${key.replaceAll('_', '-')}`;
export const envOf = (key: string): string => `PROCFLOW_${key.toUpperCase()}`;

/** Turns argv into { key: value } for known settings; rejects unknown flags. */
function parseFlags(table: SettingsTable, argv: string[]): { values: Record<string, string | boolean>; configFile?: string; help: boolean } {
  const byFlag = new Map<string, string>();
  for (const [key, s] of Object.entries(table)) {
    byFlag.set(flagOf(key), key);
    if (s.short) byFlag.set(`-${s.short}`, key);
  }
  const values: Record<string, string | boolean> = {};
  let configFile: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (name === '--config') {
      configFile = inline ?? argv[++i];
      if (!configFile) throw new ConfigError('--config needs a file path');
      continue;
    }
    const key = byFlag.get(name);
    if (!key) {
      throw new ConfigError(`unknown option ${JSON.stringify(arg)}`, 'run the command with --help to list every setting');
    }
    if (table[key]!.format === Boolean) {
      values[key] = inline === undefined ? true : inline !== 'false';
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined) throw new ConfigError(`${name} needs a value`);
    values[key] = v;
  }
  return { values, ...(configFile ? { configFile } : {}), help };
}

export interface Loaded<T> {
  config: T;
  help: boolean;
}

export function loadSettings<T>(table: SettingsTable, argv: string[], env: NodeJS.ProcessEnv = process.env): Loaded<T> {
  const { values, configFile, help } = parseFlags(table, argv);
  const schema: Record<string, convict.SchemaObj> = {};
  for (const [key, s] of Object.entries(table)) {
    schema[key] = { doc: s.doc, format: s.format, default: s.default, env: envOf(key), sensitive: s.sensitive ?? false };
  }
  try {
    const conf: convict.Config<Record<string, unknown>> = convict<Record<string, unknown>>(schema, { env: env as Record<string, string>, args: [] });
    if (configFile ?? env.PROCFLOW_CONFIG) conf.loadFile(configFile ?? env.PROCFLOW_CONFIG!);
    for (const [k, v] of Object.entries(values)) (conf as { set(k: string, v: unknown): void }).set(k, coerce(table[k]!, v));
    if (!help) conf.validate({ allowed: 'strict' });
    const config = conf.getProperties();
    if (!help) checkMinimums(table, config);
    return { config: config as T, help };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError((err as Error).message, 'run the command with --help to list every setting');
  }
}

function checkMinimums(table: SettingsTable, config: Record<string, unknown>): void {
  for (const [key, s] of Object.entries(table)) {
    const v = config[key];
    if (s.min !== undefined && typeof v === 'number' && v < s.min) {
      throw new ConfigError(`${flagOf(key)} (${envOf(key)}) must be at least ${s.min}, got ${v}`, `${s.doc}; the default is ${JSON.stringify(s.default)}`);
    }
  }
}

function coerce(s: Setting, v: string | boolean): unknown {
  if (typeof v === 'boolean') return v;
  if (s.format === 'int' || s.format === 'nat' || s.format === 'port' || s.format === Number) {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new ConfigError(`expected a number, got ${JSON.stringify(v)}`);
    return n;
  }
  if (s.format === 'duration') return parseWithUnits(v, DURATION_UNITS, 'duration');
  if (s.format === 'size') return parseWithUnits(v, SIZE_UNITS, 'size');
  if (Array.isArray(s.default) || s.format === Array) return v.split(',').map((x) => x.trim()).filter(Boolean);
  return v;
}

/** `--help` text: usage, then every setting with its flag, env variable and default. */
export function formatHelp(usage: string, summary: string, table: SettingsTable): string {
  const lines = [`usage: ${usage}`, '', summary, '', 'settings (flag, environment variable, default):'];
  for (const [key, s] of Object.entries(table)) {
    const flag = s.short ? `-${s.short}, ${flagOf(key)}` : flagOf(key);
    const def = s.sensitive ? (s.default ? '(set)' : '(none)') : JSON.stringify(s.default);
    lines.push(`  ${flag}  ${envOf(key)}`, `      ${s.doc} [default: ${def}]`);
  }
  lines.push('  --config FILE  PROCFLOW_CONFIG', '      JSON file with any of the settings above (flags and environment win)');
  return lines.join('\n');
}
