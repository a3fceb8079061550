// Settings for every command, declared once per command in a table: each key `foo_bar` is the
// flag `--foo-bar`, the environment variable `PROCFLOW_FOO_BAR` and a `--config FILE` JSON key,
// and the TypeScript type of a command's configuration is derived from its table (SettingsOf),
// so no interface repeats the keys. One parser per format reads flags, variables and files alike.
// Precedence (lowest to highest): defaults, config file, environment, flags.
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

/** How a setting's value is written and what type it has once parsed. */
export type SettingFormat =
  | BooleanConstructor
  | StringConstructor
  | NumberConstructor
  | ArrayConstructor
  | readonly string[]
  | 'duration'
  | 'size'
  | 'int'
  | 'nat'
  | 'port'
  | 'host-port'
  | 'listen-address'
  | 'url-or-empty'
  | 'url-list'
  | 'url-or-unix';

export interface Setting<T = unknown> {
  doc: string;
  format: SettingFormat;
  default: T;
  /** Masked in help output and logs. */
  sensitive?: boolean;
  /** Single-letter alias, e.g. 'o' for -o. */
  short?: string;
  /** Smallest value a numeric setting accepts (0 would wedge a limit or a queue). */
  min?: number;
  /** Largest value a numeric setting accepts. */
  max?: number;
}

export type SettingsTable = Record<string, Setting>;

/** The parsed type of one setting, from its format. */
type ValueOf<S> = S extends { format: BooleanConstructor }
  ? boolean
  : S extends { format: ArrayConstructor }
    ? string[]
    : S extends { format: readonly (infer U extends string)[] }
      ? U
      : S extends { format: StringConstructor | 'host-port' | 'listen-address' | 'url-or-empty' | 'url-list' | 'url-or-unix' }
        ? string
        : number;

/** A command's configuration: one typed property per row of its settings table. */
export type SettingsOf<T extends SettingsTable> = { -readonly [K in keyof T]: ValueOf<T[K]> };

/** Every setting of `table` at its default. */
export function defaultsOf<T extends SettingsTable>(table: T): SettingsOf<T> {
  return Object.fromEntries(Object.entries(table).map(([k, s]) => [k, Array.isArray(s.default) ? [...s.default] : s.default])) as SettingsOf<T>;
}

export const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1024, k: 1024, kib: 1024,
  mb: 1024 ** 2, m: 1024 ** 2, mib: 1024 ** 2,
  gb: 1024 ** 3, g: 1024 ** 3, gib: 1024 ** 3,
};
const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** true/false for a boolean literal (true/false, 1/0, yes/no, on/off, any case), else undefined. */
export function parseBooleanLiteral(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value !== 'string') return undefined;
  const word = value.trim().toLowerCase();
  return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : undefined;
}

/**
 * A value a setting cannot take. The message is what the value should look like
 * ("a duration like 15s"); loadSettings names the flag and variable around it.
 */
class ValueRejected extends Error {}

const EXPECT = {
  boolean: 'true or false (or 1/0, yes/no, on/off)',
  duration: 'a duration like 15s, 500ms, 2m, 1d',
  size: 'a size like 512kb, 10mb, 16 MiB, 1gb',
  hostPort: 'HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:8080',
  url: 'an http(s) URL like http://127.0.0.1:9200',
  listen: 'HOST:PORT with a port from 0 to 65535 (e.g. 127.0.0.1:9464), or unix:/path/to.sock',
  urlOrSocket: 'an http(s) URL like http://127.0.0.1:9464, or unix:/path/to.sock',
  urlList: 'one or more http(s) URLs, comma separated, like https://es-1:9200,https://es-2:9200',
};

function parseWithUnits(value: unknown, units: Record<string, number>, expectation: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value) : null;
  const unit = m?.[2]?.toLowerCase() || Object.keys(units)[0]!;
  const factor = units[unit];
  if (!m || factor === undefined) throw new ValueRejected(expectation);
  return Math.round(Number(m[1]) * factor);
}

function parseHostPort(value: unknown): string {
  const m = typeof value === 'string' ? /^(\[[0-9a-f:.]+\]|[^:\s]+):(\d{1,5})$/i.exec(value) : null;
  if (!m || Number(m[2]) > 65_535) throw new ValueRejected(EXPECT.hostPort);
  return value as string;
}

function parseUrlOrEmpty(value: unknown): string {
  if (value === '') return '';
  try {
    if (typeof value === 'string' && /^https?:$/.test(new URL(value).protocol)) return value;
  } catch {
    // falls through to the rejection below
  }
  throw new ValueRejected(EXPECT.url);
}

/** Comma separated URLs (the nodes of one cluster); kept as the string, split where used. */
function parseUrlList(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new ValueRejected(EXPECT.urlList);
  for (const part of splitUrlList(value)) {
    try {
      if (/^https?:$/.test(new URL(part).protocol)) continue;
    } catch {
      // falls through to the rejection below
    }
    throw new ValueRejected(EXPECT.urlList);
  }
  return value;
}

export const splitUrlList = (value: string): string[] => value.split(',').map((u) => u.trim()).filter(Boolean);

/** `unix:PATH`: a Unix socket instead of a TCP address. */
export const unixSocketPath = (value: string): string | undefined => (/^unix:./.test(value) ? value.slice('unix:'.length) : undefined);

/** A parser that also takes unix:PATH, and says `expectation` when the value is neither. */
const orUnixSocket = (parse: (v: unknown) => string, expectation: string) => (value: unknown): string => {
  if (typeof value === 'string' && unixSocketPath(value)) return value;
  try {
    return parse(value);
  } catch {
    throw new ValueRejected(expectation);
  }
};
const parseListenAddress = orUnixSocket(parseHostPort, EXPECT.listen);
const parseUrlOrSocket = orUnixSocket(parseUrlOrEmpty, EXPECT.urlOrSocket);

function parseNumber(value: unknown, kind: 'int' | 'nat' | 'port' | 'number', min: number | undefined): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  const ok = kind === 'number' ? Number.isFinite(n) : Number.isInteger(n) && (kind === 'int' || (n >= 0 && (kind === 'nat' || n <= 65_535)));
  if (!ok) throw new ValueRejected({ int: 'a whole number', nat: `a whole number, ${min ?? 0} or more`, port: 'a port number from 0 to 65535', number: 'a number' }[kind]);
  return n;
}

/** The value `raw` (a flag, variable or config file value) means for setting `s`. */
function parseValue(s: Setting, raw: unknown): unknown {
  const f = s.format;
  if (f === Boolean) {
    const b = parseBooleanLiteral(raw);
    if (b === undefined) throw new ValueRejected(EXPECT.boolean);
    return b;
  }
  if (f === 'duration') return parseWithUnits(raw, DURATION_UNITS, EXPECT.duration);
  if (f === 'size') return parseWithUnits(raw, SIZE_UNITS, EXPECT.size);
  if (f === 'host-port') return parseHostPort(raw);
  if (f === 'url-or-empty') return parseUrlOrEmpty(raw);
  if (f === 'listen-address') return parseListenAddress(raw);
  if (f === 'url-or-unix') return parseUrlOrSocket(raw);
  if (f === 'url-list') return parseUrlList(raw);
  if (f === 'int' || f === 'nat' || f === 'port') return parseNumber(raw, f as 'int' | 'nat' | 'port', s.min);
  if (f === Number) return parseNumber(raw, 'number', s.min);
  if (Array.isArray(f)) {
    if (!f.includes(raw)) throw new ValueRejected(`one of ${f.join(', ')}`);
    return raw;
  }
  if (f === Array || Array.isArray(s.default)) {
    if (typeof raw === 'string') return raw.split(',').map((x) => x.trim()).filter(Boolean);
    if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return raw;
    throw new ValueRejected('a comma separated list (or, in a config file, a JSON array of strings)');
  }
  if (f === String) {
    if (typeof raw === 'string') return raw;
    if (typeof raw === 'number') return String(raw);
    throw new ValueRejected('a string');
  }
  return raw;
}

export const flagOf = (key: string): string => `--${key.replaceAll('_', '-')}`;
export const envOf = (key: string): string => `PROCFLOW_${key.toUpperCase()}`;
const settingName = (key: string): string => `${flagOf(key)} (${envOf(key)})`;

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
      // A bare flag means true; `--flag false` takes the next word only when it is a boolean
      // literal (no command has positional arguments, so nothing else could be meant).
      if (inline !== undefined) values[key] = inline;
      else if (parseBooleanLiteral(argv[i + 1]) !== undefined) values[key] = argv[++i]!;
      else values[key] = true;
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined) throw new ConfigError(`${name} needs a value`);
    values[key] = v;
  }
  return { values, ...(configFile ? { configFile } : {}), help };
}

/** The settings in a --config / PROCFLOW_CONFIG JSON file, with errors that name the file. */
function readConfigFile(table: SettingsTable, path: string): Record<string, unknown> {
  const what = `config file ${JSON.stringify(path)} (--config / PROCFLOW_CONFIG)`;
  const shape = 'it holds one JSON object whose keys are setting names with underscores, e.g. {"flush_interval": "15s"}';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`${what} does not exist`, 'pass the path of an existing JSON file, or leave --config and PROCFLOW_CONFIG unset');
    throw new ConfigError(`${what} cannot be read (${code ?? (err as Error).message})`, 'check that the path is a file this user may read');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${what} is not valid JSON: ${(err as Error).message}`, shape);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`${what} does not hold a JSON object`, shape);
  }
  for (const key of Object.keys(parsed)) {
    if (!Object.hasOwn(table, key)) throw new ConfigError(`${what} has an unknown setting ${JSON.stringify(key)}`, `${shape}; run the command with --help to list every setting`);
  }
  return parsed as Record<string, unknown>;
}

export interface Loaded<T> {
  config: T;
  help: boolean;
}

/**
 * Settings from defaults, then the config file, then the environment, then flags. Every value
 * goes through one parser per format, and a value it refuses is a ConfigError naming the flag,
 * the variable and what the value should look like.
 */
export function loadSettings<T extends SettingsTable>(table: T, argv: string[], env: NodeJS.ProcessEnv = process.env): Loaded<SettingsOf<T>> {
  const { values, configFile, help } = parseFlags(table, argv);
  const config: Record<string, unknown> = defaultsOf(table);
  if (help) return { config: config as SettingsOf<T>, help };
  const set = (key: string, raw: unknown, source: string) => {
    const s = table[key]!;
    try {
      config[key] = parseValue(s, raw);
    } catch (err) {
      if (!(err instanceof ValueRejected)) throw err;
      const got = s.sensitive ? '(hidden)' : JSON.stringify(raw);
      throw new ConfigError(`${settingName(key)} must be ${err.message}; got ${got}`, `set ${source}; the default is ${formatDefault(s)}`);
    }
  };
  const file = configFile ?? env.PROCFLOW_CONFIG;
  if (file) for (const [k, v] of Object.entries(readConfigFile(table, file))) set(k, v, `in ${file}`);
  for (const key of Object.keys(table)) {
    const v = env[envOf(key)];
    if (v !== undefined) set(key, v, `in the environment (${envOf(key)})`);
  }
  for (const [k, v] of Object.entries(values)) set(k, v, `by ${flagOf(k)}`);
  checkMinimums(table, config);
  return { config: config as SettingsOf<T>, help };
}

function checkMinimums(table: SettingsTable, config: Record<string, unknown>): void {
  for (const [key, s] of Object.entries(table)) {
    const v = config[key];
    if (s.min !== undefined && typeof v === 'number' && v < s.min) {
      throw new ConfigError(`${settingName(key)} must be at least ${s.min}, got ${v}`, `${s.doc}; the default is ${formatDefault(s)}`);
    }
    if (s.max !== undefined && typeof v === 'number' && v > s.max) {
      throw new ConfigError(`${settingName(key)} must be at most ${s.max}, got ${v}`, `${s.doc}; the default is ${formatDefault(s)}`);
    }
  }
}

/** A duration in the largest unit that divides it: 60000 -> "1m", 1500 -> "1500ms". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % n === 0) return `${ms / n}${unit}`;
  return `${ms}ms`;
}

/** A size in the largest binary unit that divides it: 16777216 -> "16 MiB" (flags accept it back). */
export function formatSize(bytes: number): string {
  for (const [unit, n] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) if (bytes >= n && bytes % n === 0) return `${bytes / n} ${unit}`;
  return `${bytes} B`;
}

/** A setting's default as people read (and could type) it; secrets show only whether one is set. */
export function formatDefault(s: Setting): string {
  if (s.sensitive) return s.default ? '(set)' : '(none)';
  const d = s.default;
  if (d === '' || (Array.isArray(d) && d.length === 0)) return '(empty)';
  if (typeof d === 'number' && s.format === 'duration') return formatDuration(d);
  if (typeof d === 'number' && s.format === 'size') return formatSize(d);
  return Array.isArray(d) ? d.join(',') : String(d);
}

/** What the units and booleans of the settings look like, for help and the README. */
export const VALUE_SYNTAX =
  `Durations take ${Object.keys(DURATION_UNITS).join(', ')} (15s, 1d); sizes take b, kb, mb, gb or KiB, MiB, GiB (all powers of 1024, any case); ` +
  'booleans take true/false, 1/0, yes/no, on/off (any case) as --flag=false or --flag false, and a bare --flag means true.';

/** `--help` text: usage, then every setting with its flag, env variable and default. */
export function formatHelp(usage: string, summary: string, table: SettingsTable): string {
  const lines = [`usage: ${usage}`, '', summary, '', 'settings (flag, environment variable, default):'];
  for (const [key, s] of Object.entries(table)) {
    const flag = s.short ? `-${s.short}, ${flagOf(key)}` : flagOf(key);
    lines.push(`  ${flag}  ${envOf(key)}`, `      ${s.doc} [default: ${formatDefault(s)}]`);
  }
  lines.push('  --config FILE  PROCFLOW_CONFIG', '      JSON file with any of the settings above (flags and environment win)', '', VALUE_SYNTAX);
  return lines.join('\n');
}
