// Argument redaction. Arguments leave the host in flow logs and process events, so secrets in
// them are masked first. Redaction runs once per process start (the result is cached with the
// process), never per flow; still, it runs for every exec on every node, so the rules are
// compiled once, the costlier ones only run when a cheap substring test says they could match,
// and every built-in regular expression runs in linear time.
//
// Kinds of rule:
// - flag rules: the value of a named flag is masked, in both `--flag=value` and `--flag value`
//   forms, whatever the program; long flags match whatever their case and `-`/`_` spelling
//   (`--Password`, `--pass-word`, `--api_key`);
// - program rules: short flags that take a password in some programs only (`mysql -pSECRET`,
//   `sshpass -p SECRET`, `redis-cli -a SECRET`, `curl -u user:SECRET`, `docker login -p SECRET`);
//   elsewhere `-p` is a port, a project or a package (`ssh -p 22`, `tsc -p .`, `docker run -p
//   80:80`) and is left alone. A program (or subcommand) named later in the arguments
//   (`sudo mysql ...`, `docker exec db mysql ...`) switches to its rules. Shells are programs too:
//   the command line after `sh -c` is split into words and redacted with these same rules;
// - assignment rules: `NAME=value` whose name says secret (`PGPASSWORD=`, `MYSQL_PWD=`,
//   `DB_PASSWORD=`), also as a flag's value (`--env=GH_TOKEN=...`), and Java properties
//   (`-Djavax.net.ssl.keyStorePassword=...`);
// - pattern rules: a regular expression over each argument; capture group 1 (or the whole match
//   when the pattern has no group) is masked. Private keys in PEM form are masked between their
//   BEGIN and END lines (to the end of the argument when it was cut before END).
import { ConfigError } from '../../common/errors.js';
import { quoteWord, rewriteShell, splitShell, type ShellWord } from './redact-shell.js';

export const MASK = '*****';

export const DEFAULT_SECRET_FLAGS = [
  '--password', '--passwd', '--pass', '--token', '--secret', '--api-key', '--apikey',
  '--access-key', '--secret-key', '--client-secret', '--auth-token', '--private-key',
  '--http-password', '--ftp-password', '--proxy-password',
  '--secret-access-key', '--aws-secret-access-key', '--session-token',
];

/** How a program takes secrets on its command line. */
export interface ProgramSecrets {
  /** Flags whose next argument (or `=value`) is a secret: `sshpass -p SECRET`. */
  next?: readonly string[];
  /** Short flags with the secret glued on: `mysql -pSECRET`. */
  glued?: readonly string[];
  /** Flags whose value is user:password; what follows the first colon is masked: `curl -u bob:SECRET`. */
  userPassword?: readonly string[];
  /** Subcommands with rules of their own: `docker login -p SECRET`, while `docker run -p 80:80` is a port. */
  subcommands?: ReadonlyMap<string, ProgramSecrets>;
  /** A shell: the argument after `-c` (also `-ec`, `-lc`, ...) is a command line, redacted word by word. */
  shell?: boolean;
  /** Flags whose value is a shell command line: `su -c "..."`. */
  command?: readonly string[];
}

// mysql's -p takes the password glued on only: in `mysql -p name`, name is the database.
const MYSQL: ProgramSecrets = { glued: ['-p'] };
const MONGO: ProgramSecrets = { next: ['-p'] };
const REDIS: ProgramSecrets = { next: ['-a'] };
// Registry logins take the password with -p, and the container tools parse -pX and -p=X too.
// Like a program name, `login` switches wherever it is: `docker run --name login -p 80:80`
// shows `-p *****`, the safe side.
const REGISTRY_LOGIN: ProgramSecrets = { next: ['-p'], glued: ['-p'] };
const CONTAINER_TOOL: ProgramSecrets = { subcommands: new Map([['login', REGISTRY_LOGIN]]) };
const SHELL: ProgramSecrets = { shell: true };
const SU: ProgramSecrets = { command: ['-c', '--command'] };

/** Programs (by executable base name) whose arguments carry secrets in their own way. */
export const PROGRAM_SECRETS: ReadonlyMap<string, ProgramSecrets> = new Map(Object.entries({
  ...Object.fromEntries(
    ['mysql', 'mysqladmin', 'mysqldump', 'mysqlimport', 'mysqlshow', 'mysqlcheck', 'mysqlpump', 'mysqlslap', 'mysqlbinlog',
      'mariadb', 'mariadb-admin', 'mariadb-dump', 'mariadb-import', 'mariadb-show', 'mariadb-check', 'mariadb-slap', 'mariadb-binlog'].map((p) => [p, MYSQL]),
  ),
  ...Object.fromEntries(['mongo', 'mongosh', 'mongodump', 'mongorestore', 'mongoexport', 'mongoimport', 'mongostat', 'mongotop', 'mongofiles'].map((p) => [p, MONGO])),
  ...Object.fromEntries(['redis-cli', 'valkey-cli', 'keydb-cli'].map((p) => [p, REDIS])),
  ...Object.fromEntries(['docker', 'podman', 'nerdctl', 'buildah', 'skopeo'].map((p) => [p, CONTAINER_TOOL])),
  // `busybox sh -c ...` needs no entry: the `sh` argument switches to the shell's rules.
  ...Object.fromEntries(['sh', 'bash', 'dash', 'zsh', 'ash', 'ksh', 'mksh'].map((p) => [p, SHELL])),
  ...Object.fromEntries(['su', 'runuser'].map((p) => [p, SU])),
  sshpass: { next: ['-p'], glued: ['-p'] },
  curl: { userPassword: ['-u', '--user', '-U', '--proxy-user'] },
  helm: { subcommands: new Map([['registry', CONTAINER_TOOL]]) },
}));

// When the caller cannot say which program runs, -p is masked as a flag of any program: a
// port or a project shown as ***** is the safe side of that trade.
const UNKNOWN_PROGRAM: ProgramSecrets = { next: ['-p'] };
// Words of a command inside a shell line start with no program: the first word names it.
const NO_RULES: ProgramSecrets = {};
// sh -c "bash -c '...'" is followed this deep; a line nested deeper is masked whole (no one
// writes that by hand, and it bounds the work a hostile command line can ask for).
const MAX_SHELL_DEPTH = 4;

// Query and fragment parameters whose value is a secret, in URLs passed as arguments
// (curl "https://h/x?token=...", presigned S3/GCS URLs, OAuth redirects): exact names, and names
// ending in a secret word after a separator (x-amz-security-token, client_secret, api_key).
const SECRET_PARAM = String.raw`(?:[a-z0-9_.-]*[_.-])?(?:token|secret|password|passwd|pwd|pass|key|apikey|auth|sig|signature|credentials?|jwt)|session(?:_?id)?`;

/**
 * Sources of the default pattern rules (one regex each, case-insensitive, group 1 is masked).
 * Each starts matching only where its first token can begin (after a lookbehind, an anchor or a
 * delimiter), so a long argument is scanned once, not once per position.
 */
export const DEFAULT_SECRET_PATTERNS = [
  // credentials in URLs: scheme://user:password@host
  String.raw`(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@`,
  // secret query or fragment parameters: ?token=..., &X-Amz-Signature=..., #access_token=...
  String.raw`[?&;#](?:${SECRET_PARAM})=([^&#\s]+)`,
  // HTTP headers passed as arguments that carry credentials (curl -H "Authorization: Bearer ...",
  // "Cookie: ...", "X-Api-Key: ...", "X-Auth-Token: ..."), also with the flag in the same
  // argument (--header=Authorization: ..., -HCookie: ...)
  String.raw`^(?:-H|-[a-z0-9-]*header=)?\s*(?:(?:proxy-)?authorization|cookie|private-token|api-?key|x-[a-z0-9-]*(?:token|key|secret|auth))\s*:\s*([\s\S]+)$`,
  // AWS secret keys and session tokens inside a longer argument: "aws_access_key_id=...;aws_secret_access_key=..."
  String.raw`(?<![a-z0-9_])aws_(?:secret_access_key|session_token)["']?\s*[=:]\s*["']?([^\s"',;&]+)`,
];

// Cheap tests that rule a default pattern out before its regex runs (same order as above).
const PATTERN_HINTS: ReadonlyArray<(s: string) => boolean> = [
  (s) => s.includes('@'),
  (s) => s.includes('='),
  (s) => s.includes(':'),
  (s) => s.includes('_'),
];

interface Scan {
  re: RegExp;
  /** False when the regex cannot match; no hint means always run. */
  hint?: (s: string) => boolean;
}

// Secrets recognised by their shape wherever they are in an argument (case matters here).
const SHAPE_SCANS: readonly Scan[] = [
  // AWS access key ids: AKIA (long-term) or ASIA (temporary) and 16 more; the prefix is kept.
  { re: /(?:AKIA|ASIA)([A-Z0-9]{16})/g, hint: (s) => s.includes('AKIA') || s.includes('ASIA') },
];

// Names of NAME=value pairs. After a separator (or alone): DB_PASSWORD, db.pass, AWS_SECRET,
// GH_TOKEN, API_KEY, KEY. Flags (--db-password=) are held to these only, so that --monkey=1
// stays.
const WORDS_AFTER_SEPARATOR = ['password', 'passwd', 'pass', 'secret', 'token', 'key', 'apikey', 'credential', 'credentials'];
// Environment-style names ending in these need no separator: PGPASSWORD, MYSQL_PWD, VAULTTOKEN.
// KEYMAP or PASSAGE do not end in one; PWD and OLDPWD are the shell's working directories.
const ENV_NAME_ENDINGS = ['password', 'passwd', 'pwd', 'secret', 'token', 'key', 'credentials'];
const NOT_SECRET_NAMES = new Set(['pwd', 'oldpwd']);
// Java system properties (-Dname=value) whose last dotted segment contains one of these.
const PROPERTY_WORDS = ['password', 'passwd', 'pwd', 'secret', 'token', 'key', 'credential'];

// `aws configure set [profile.NAME.]aws_secret_access_key VALUE`: the next argument is the secret.
const AWS_SECRET_NAME = /(?:^|\.)aws_(?:secret_access_key|session_token)$/i;
// PEM private keys: RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP ... (BLOCK); certificates are public.
const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/y;
// A JWT (or a 5-part JWE) from its first `eyJ` (a base64url JSON object): base64url segments.
const JWT_AT = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?/y;

/** The settings among these carry their names in agent/config.ts, and no defaults here. */
export interface RedactionOptions {
  /** Apply the default rules above. */
  redact_defaults: boolean;
  /** Extra flags whose value is masked, e.g. ['--db-pass']. */
  redact_flags: readonly string[];
  /** Extra regular expressions; group 1 (or the whole match) is masked. */
  redact_patterns: readonly string[];
}

export interface Redacted {
  args: string[];
  /** At least one argument was masked. */
  changed: boolean;
}

const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

const SEPARATORS = /[-_]/g;
/** `--Pass_Word` -> `password`: the key long flags are compared by. */
function longFlagKey(flag: string): string {
  const name = flag.slice(2).toLowerCase();
  return name.includes('-') || name.includes('_') ? name.replace(SEPARATORS, '') : name;
}
const isLongFlag = (flag: string): boolean => flag.length > 3 && flag.startsWith('--');

export class Redactor {
  /** Flags as given (short ones, `-p`, are only ever matched exactly). */
  private readonly flags: Set<string>;
  private readonly longFlags: Set<string>;
  private readonly defaults: boolean;
  private readonly scans: Scan[];
  private readonly programs: ReadonlyMap<string, ProgramSecrets>;

  constructor(opts: RedactionOptions) {
    const useDefaults = opts.redact_defaults;
    this.defaults = useDefaults;
    this.flags = new Set([...(useDefaults ? DEFAULT_SECRET_FLAGS : []), ...opts.redact_flags]);
    this.longFlags = new Set([...this.flags].filter(isLongFlag).map(longFlagKey));
    this.programs = useDefaults ? PROGRAM_SECRETS : new Map();
    const compile = (src: string): RegExp => {
      try {
        return new RegExp(src, 'gi');
      } catch (err) {
        throw new ConfigError(`redaction: invalid pattern ${JSON.stringify(src)}: ${(err as Error).message}`, 'fix or remove the entry in --redact-patterns');
      }
    };
    this.scans = [
      ...(useDefaults ? DEFAULT_SECRET_PATTERNS.map((src, k): Scan => ({ re: compile(src), hint: PATTERN_HINTS[k] })) : []),
      ...(useDefaults ? SHAPE_SCANS : []),
      ...opts.redact_patterns.map((src): Scan => ({ re: compile(src) })),
    ];
  }

  /**
   * `args` are the arguments after argv[0]; `program` is argv[0] or the executable path. Without
   * a program, `-p` values are masked whatever the program is.
   */
  redact(args: readonly string[], program?: string): Redacted {
    const noProgram = this.defaults ? UNKNOWN_PROGRAM : NO_RULES;
    const rules = program === undefined ? noProgram : (this.programs.get(baseName(program)) ?? NO_RULES);
    return this.redactList(args, rules, 0);
  }

  private isSecretFlag(flag: string): boolean {
    return this.flags.has(flag) || (isLongFlag(flag) && this.longFlags.has(longFlagKey(flag)));
  }

  private redactList(args: readonly string[], initial: ProgramSecrets, depth: number): Redacted {
    const out = args.slice();
    let changed = false;
    let rules = initial;
    for (let i = 0; i < out.length; i++) {
      const arg = out[i]!;
      const named = this.programs.get(baseName(arg)) ?? rules.subcommands?.get(arg);
      if (named) {
        rules = named;
        continue;
      }
      if (this.isSecretFlag(arg) || rules.next?.includes(arg) || (this.defaults && isAwsSecretName(arg))) {
        if (i + 1 < out.length) {
          out[i + 1] = MASK;
          changed = true;
          i++;
        }
        continue;
      }
      if (rules.userPassword?.includes(arg)) {
        if (i + 1 < out.length) {
          const masked = maskAfterColon(out[i + 1]!);
          changed ||= masked !== out[i + 1];
          out[i + 1] = masked;
          i++;
        }
        continue;
      }
      const line = commandLineAt(out, i, rules);
      if (line >= 0) {
        const masked = this.redactShell(out[line]!, depth);
        changed ||= masked !== out[line];
        out[line] = masked;
        i = line;
        continue;
      }
      const eq = arg.indexOf('=');
      if (eq > 0 && arg.startsWith('-')) {
        const flag = arg.slice(0, eq);
        if (this.isSecretFlag(flag) || rules.next?.includes(flag)) {
          out[i] = `${arg.slice(0, eq + 1)}${MASK}`;
          changed = true;
          continue;
        }
        if (rules.userPassword?.includes(flag)) {
          const masked = `${arg.slice(0, eq + 1)}${maskAfterColon(arg.slice(eq + 1))}`;
          changed ||= masked !== arg;
          out[i] = masked;
          continue;
        }
        if (rules.command?.includes(flag)) {
          const masked = `${arg.slice(0, eq + 1)}${this.redactShell(arg.slice(eq + 1), depth)}`;
          changed ||= masked !== arg;
          out[i] = masked;
          continue;
        }
      }
      const glued = rules.glued?.find((f) => arg.length > f.length && arg.startsWith(f));
      if (glued) {
        out[i] = `${glued}${MASK}`;
        changed = true;
        continue;
      }
      const masked = this.maskArgument(arg);
      if (masked !== arg) {
        out[i] = masked;
        changed = true;
      }
    }
    return { args: out, changed };
  }

  /** The rules that look at one argument alone: assignments, PEM keys and the patterns. */
  private maskArgument(arg: string): string {
    let s = arg;
    if (this.defaults) {
      s = maskAssignment(s);
      if (s.includes('-----BEGIN')) s = maskPem(s);
      if (s.includes('eyJ')) s = maskJwt(s);
    }
    for (const scan of this.scans) {
      if (scan.hint && !scan.hint(s)) continue;
      s = applyPattern(scan.re, s);
    }
    return s;
  }

  /**
   * A shell command line: each command's words are redacted as an argument list of their own
   * (the first word names the program), and only the words that changed are rewritten.
   */
  private redactShell(line: string, depth: number): string {
    if (depth >= MAX_SHELL_DEPTH) return MASK;
    // A key the shell would split into several words is only whole in the line itself.
    const text = line.includes('-----BEGIN') ? maskPem(line) : line;
    const replaced: Array<[ShellWord, string]> = [];
    for (const words of splitShell(text)) {
      const values = words.map((w) => w.value);
      const red = this.redactList(values, NO_RULES, depth + 1);
      if (!red.changed) continue;
      for (let k = 0; k < words.length; k++) {
        if (red.args[k] !== values[k]) replaced.push([words[k]!, quoteWord(red.args[k]!, words[k]!)]);
      }
    }
    return replaced.length ? rewriteShell(text, replaced) : text;
  }
}

/**
 * Where the shell command line that `args[i]` introduces is (`sh -c LINE`, `bash -ec LINE`,
 * `su -c LINE`), or -1. Shell options between -c and the line are skipped, as the shell does.
 */
function commandLineAt(args: readonly string[], i: number, rules: ProgramSecrets): number {
  const arg = args[i]!;
  if (rules.command?.includes(arg)) return i + 1 < args.length ? i + 1 : -1;
  if (!rules.shell || !isShellCOption(arg)) return -1;
  let j = i + 1;
  while (j < args.length) {
    const a = args[j]!;
    if (a === '--') {
      j++;
      break;
    }
    if (a.length < 2 || (a[0] !== '-' && a[0] !== '+')) break;
    // -o pipefail, -O extglob: the option's value is not the line.
    j += a === '-o' || a === '+o' || a === '-O' || a === '+O' ? 2 : 1;
  }
  return j < args.length ? j : -1;
}

/** -c, or a cluster of single-letter shell options that holds it: -ec, -lc, -xec. */
function isShellCOption(arg: string): boolean {
  if (arg.length < 2 || arg[0] !== '-' || !arg.includes('c')) return false;
  for (let k = 1; k < arg.length; k++) {
    const c = arg.charCodeAt(k) | 0x20;
    if (c < 0x61 || c > 0x7a) return false;
  }
  return true;
}

function isAwsSecretName(arg: string): boolean {
  // Ends in ...key or ...token: anything else is out before the regex runs.
  const last = arg.charCodeAt(arg.length - 1) | 0x20;
  return arg.length >= 17 && (last === 0x79 || last === 0x6e) && AWS_SECRET_NAME.test(arg);
}

/** Only letters, digits, `_`, `.` and `-`: the names of variables, properties and flags. */
function isName(name: string): boolean {
  for (let k = 0; k < name.length; k++) {
    const c = name.charCodeAt(k);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2e || c === 0x2d;
    if (!ok) return false;
  }
  return name.length > 0;
}

/** Does NAME in NAME=value say the value is a secret? `flag` is true for `--name`. */
function isSecretName(name: string, flag: boolean): boolean {
  if (!isName(name)) return false;
  const lower = name.toLowerCase();
  for (const w of WORDS_AFTER_SEPARATOR) {
    if (!lower.endsWith(w)) continue;
    const before = lower.length - w.length - 1;
    if (before < 0 || lower[before] === '_' || lower[before] === '.' || lower[before] === '-') return true;
  }
  if (flag || NOT_SECRET_NAMES.has(lower) || !/^[a-z_]/.test(lower)) return false;
  return ENV_NAME_ENDINGS.some((w) => lower.endsWith(w));
}

/** `-Djavax.net.ssl.keyStorePassword`: a property whose last segment names a secret. */
function isSecretProperty(flag: string): boolean {
  if (flag.length < 3 || !flag.startsWith('-D')) return false;
  const last = flag.slice(flag.lastIndexOf('.') + 1).toLowerCase();
  return PROPERTY_WORDS.some((w) => last.includes(w));
}

/**
 * NAME=value pairs whose name says secret, as an argument (`env PGPASSWORD=x psql`), as a flag
 * (`--db-password=x`, `-Dpassword=x`) or as a flag's value (`--env=GH_TOKEN=x`,
 * `--build-arg=NPM_TOKEN=x`). The name is kept, the value masked.
 */
function maskAssignment(arg: string): string {
  const eq = arg.indexOf('=');
  if (eq <= 0 || eq === arg.length - 1) return arg;
  const name = arg.slice(0, eq);
  if (arg[0] !== '-') return isSecretName(name, false) ? `${name}=${MASK}` : arg;
  if (isSecretProperty(name) || isSecretName(name, true)) return `${name}=${MASK}`;
  const eq2 = arg.indexOf('=', eq + 1);
  if (eq2 > eq + 1 && eq2 < arg.length - 1 && isSecretName(arg.slice(eq + 1, eq2), false)) return `${arg.slice(0, eq2 + 1)}${MASK}`;
  return arg;
}

/**
 * Private keys in PEM form: what is between the BEGIN and END lines is masked, both lines kept
 * (they say what kind of key it was); a key cut short before its END line is masked to the end.
 */
function maskPem(s: string): string {
  let out = '';
  let kept = 0;
  let from = 0;
  for (;;) {
    const at = s.indexOf('-----BEGIN', from);
    if (at < 0) break;
    PEM_BEGIN.lastIndex = at;
    if (!PEM_BEGIN.test(s)) {
      from = at + 10;
      continue;
    }
    const body = PEM_BEGIN.lastIndex;
    const end = s.indexOf('-----END', body);
    out += `${s.slice(kept, body)}${MASK}`;
    if (end < 0) return out;
    kept = end;
    from = end + 8;
  }
  return out ? out + s.slice(kept) : s;
}

const isBase64Url = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d;

/**
 * JWTs anywhere in an argument, glued to a flag (-teyJ...) or not; `eyJ` is kept to say what it
 * was. When a candidate fails, every later `eyJ` in the same base64url run would fail the same
 * way, so the search goes on after the run: each character is looked at a bounded number of times.
 */
function maskJwt(s: string): string {
  let out = '';
  let kept = 0;
  let from = 0;
  for (;;) {
    const at = s.indexOf('eyJ', from);
    if (at < 0) break;
    JWT_AT.lastIndex = at;
    if (JWT_AT.test(s)) {
      out += `${s.slice(kept, at + 3)}${MASK}`;
      kept = from = JWT_AT.lastIndex;
      continue;
    }
    from = at + 3;
    while (from < s.length && isBase64Url(s.charCodeAt(from))) from++;
  }
  return out ? out + s.slice(kept) : s;
}

/** Masks group 1 of every match (the whole match when the pattern has no group). */
function applyPattern(re: RegExp, s: string): string {
  re.lastIndex = 0;
  return s.replace(re, (match: string, ...rest: unknown[]) => {
    const group = typeof rest[0] === 'string' ? rest[0] : undefined;
    if (group === undefined) return MASK;
    const at = match.lastIndexOf(group);
    return `${match.slice(0, at)}${MASK}${match.slice(at + group.length)}`;
  });
}

/** `bob:secret` -> `bob:*****`; a value without a password (`bob`) stays as it is. */
function maskAfterColon(value: string): string {
  const colon = value.indexOf(':');
  return colon < 0 || colon === value.length - 1 ? value : `${value.slice(0, colon + 1)}${MASK}`;
}
