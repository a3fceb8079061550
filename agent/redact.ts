// Argument redaction. Arguments leave the host in flow logs and process events, so secrets in
// them are masked first. Redaction runs once per process start (the result is cached with the
// process), never per flow.
//
// Three kinds of rule:
// - flag rules: the value of a named flag is masked, in both `--flag=value` and `--flag value`
//   forms, whatever the program;
// - program rules: short flags that take a password in some programs only (`mysql -pSECRET`,
//   `sshpass -p SECRET`, `redis-cli -a SECRET`, `curl -u user:SECRET`); elsewhere `-p` is a
//   port, a project or a package (`ssh -p 22`, `tsc -p .`, `go tool compile -p main`) and is left
//   alone. A program named later in the arguments (`sudo mysql ...`, `docker exec db mysql ...`)
//   switches to its rules;
// - pattern rules: a regular expression over each argument; capture group 1 (or the whole match
//   when the pattern has no group) is masked.
import { ConfigError } from '../common/errors.js';

export const MASK = '*****';

export const DEFAULT_SECRET_FLAGS = [
  '--password', '--passwd', '--pass', '--token', '--secret', '--api-key', '--apikey',
  '--access-key', '--secret-key', '--client-secret', '--auth-token', '--private-key',
  '--http-password', '--ftp-password', '--proxy-password',
];

/** How a program takes secrets on its command line. */
export interface ProgramSecrets {
  /** Flags whose next argument (or `=value`) is a secret: `sshpass -p SECRET`. */
  next?: readonly string[];
  /** Short flags with the secret glued on: `mysql -pSECRET`. */
  glued?: readonly string[];
  /** Flags whose value is user:password; what follows the first colon is masked: `curl -u bob:SECRET`. */
  userPassword?: readonly string[];
}

// mysql's -p takes the password glued on only: in `mysql -p name`, name is the database.
const MYSQL: ProgramSecrets = { glued: ['-p'] };
const MONGO: ProgramSecrets = { next: ['-p'] };
const REDIS: ProgramSecrets = { next: ['-a'] };

/** Programs (by executable base name) whose short flags carry secrets. */
export const PROGRAM_SECRETS: ReadonlyMap<string, ProgramSecrets> = new Map(Object.entries({
  ...Object.fromEntries(
    ['mysql', 'mysqladmin', 'mysqldump', 'mysqlimport', 'mysqlshow', 'mysqlcheck', 'mysqlpump', 'mysqlslap', 'mysqlbinlog',
      'mariadb', 'mariadb-admin', 'mariadb-dump', 'mariadb-import', 'mariadb-show', 'mariadb-check', 'mariadb-slap', 'mariadb-binlog'].map((p) => [p, MYSQL]),
  ),
  ...Object.fromEntries(['mongo', 'mongosh', 'mongodump', 'mongorestore', 'mongoexport', 'mongoimport', 'mongostat', 'mongotop', 'mongofiles'].map((p) => [p, MONGO])),
  ...Object.fromEntries(['redis-cli', 'valkey-cli', 'keydb-cli'].map((p) => [p, REDIS])),
  sshpass: { next: ['-p'], glued: ['-p'] },
  curl: { userPassword: ['-u', '--user', '-U', '--proxy-user'] },
}));

// When the caller cannot say which program runs, -p is masked as a flag of any program: a
// port or a project shown as ***** is the safe side of that trade.
const UNKNOWN_PROGRAM: ProgramSecrets = { next: ['-p'] };

// Query and fragment parameters whose value is a secret, in URLs passed as arguments
// (curl "https://h/x?token=...", presigned S3/GCS URLs, OAuth redirects): exact names, and names
// ending in a secret word after a separator (x-amz-security-token, client_secret, api_key).
const SECRET_PARAM = String.raw`(?:[a-z0-9_.-]*[_.-])?(?:token|secret|password|passwd|pwd|pass|key|apikey|auth|sig|signature|credentials?|jwt)|session(?:_?id)?`;

/** Sources of the default pattern rules (one regex each, case-insensitive, group 1 is masked). */
export const DEFAULT_SECRET_PATTERNS = [
  // credentials in URLs: scheme://user:password@host
  String.raw`[a-z][a-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@`,
  // secret query or fragment parameters: ?token=..., &X-Amz-Signature=..., #access_token=...
  String.raw`[?&;#](?:${SECRET_PARAM})=([^&#\s]+)`,
  // KEY=value pairs whose key names a secret: PASSWORD=, DB_PASSWORD=, AWS_SECRET=, GH_TOKEN=, API_KEY=, KEY=
  String.raw`^(?:[A-Za-z0-9_.-]*[_.-])?(?:PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY|APIKEY|CREDENTIALS?)=(.+)$`,
  // HTTP headers passed as arguments that carry credentials (curl -H "Authorization: Bearer ...",
  // "Cookie: ...", "X-Api-Key: ...", "X-Auth-Token: ...")
  String.raw`^\s*(?:(?:proxy-)?authorization|cookie|x-[a-z0-9-]*(?:token|key|secret|auth))\s*:\s*(.+)$`,
];

export interface RedactionOptions {
  /** Apply the default rules above (default true). */
  defaults?: boolean;
  /** Extra flags whose value is masked, e.g. ['--db-pass']. */
  flags?: string[];
  /** Extra regular expressions; group 1 (or the whole match) is masked. */
  patterns?: string[];
}

export interface Redacted {
  args: string[];
  /** At least one argument was masked. */
  changed: boolean;
}

const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

export class Redactor {
  private readonly flags: Set<string>;
  private readonly patterns: RegExp[];
  private readonly programs: ReadonlyMap<string, ProgramSecrets>;

  constructor(opts: RedactionOptions = {}) {
    const useDefaults = opts.defaults ?? true;
    this.flags = new Set([...(useDefaults ? DEFAULT_SECRET_FLAGS : []), ...(opts.flags ?? [])]);
    this.programs = useDefaults ? PROGRAM_SECRETS : new Map();
    const sources = [...(useDefaults ? DEFAULT_SECRET_PATTERNS : []), ...(opts.patterns ?? [])];
    this.patterns = sources.map((src) => {
      try {
        return new RegExp(src, 'gi');
      } catch (err) {
        throw new ConfigError(`redaction: invalid pattern ${JSON.stringify(src)}: ${(err as Error).message}`, 'fix or remove the entry in --redact-patterns');
      }
    });
  }

  /**
   * `args` are the arguments after argv[0]; `program` is argv[0] or the executable path. Without
   * a program, `-p` values are masked whatever the program is.
   */
  redact(args: readonly string[], program?: string): Redacted {
    const out = args.slice();
    let changed = false;
    const noProgram = this.programs.size > 0 ? UNKNOWN_PROGRAM : {};
    let rules: ProgramSecrets = program === undefined ? noProgram : (this.programs.get(baseName(program)) ?? {});
    for (let i = 0; i < out.length; i++) {
      const arg = out[i]!;
      const named = this.programs.get(baseName(arg));
      if (named) {
        rules = named;
        continue;
      }
      if (this.flags.has(arg) || rules.next?.includes(arg)) {
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
      const eq = arg.indexOf('=');
      if (eq > 0 && arg.startsWith('-')) {
        const flag = arg.slice(0, eq);
        if (this.flags.has(flag) || rules.next?.includes(flag)) {
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
      }
      const glued = rules.glued?.find((f) => arg.length > f.length && arg.startsWith(f));
      if (glued) {
        out[i] = `${glued}${MASK}`;
        changed = true;
        continue;
      }
      const masked = this.maskPatterns(arg);
      if (masked !== arg) {
        out[i] = masked;
        changed = true;
      }
    }
    return { args: out, changed };
  }

  private maskPatterns(arg: string): string {
    let s = arg;
    for (const re of this.patterns) {
      re.lastIndex = 0;
      s = s.replace(re, (match: string, ...rest: unknown[]) => {
        const group = typeof rest[0] === 'string' ? rest[0] : undefined;
        if (group === undefined) return MASK;
        const at = match.lastIndexOf(group);
        return `${match.slice(0, at)}${MASK}${match.slice(at + group.length)}`;
      });
    }
    return s;
  }
}

/** `bob:secret` -> `bob:*****`; a value without a password (`bob`) stays as it is. */
function maskAfterColon(value: string): string {
  const colon = value.indexOf(':');
  return colon < 0 || colon === value.length - 1 ? value : `${value.slice(0, colon + 1)}${MASK}`;
}
