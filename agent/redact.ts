// Argument redaction. Arguments leave the host in flow logs and process events, so secrets in
// them are masked first. Redaction runs once per process start (the result is cached with the
// process), never per flow.
//
// Two kinds of rule:
// - flag rules: the value of a named flag is masked, in both `--flag=value` and `--flag value`
//   forms (`-p x` too: it also masks ports of tools like `ssh -p 22`, the safe side of the trade);
// - pattern rules: a regular expression over each argument; capture group 1 (or the whole match
//   when the pattern has no group) is masked.
import { ConfigError } from '../common/errors.js';

export const MASK = '*****';

export const DEFAULT_SECRET_FLAGS = [
  '--password', '--passwd', '--pass', '--token', '--secret', '--api-key', '--apikey',
  '--access-key', '--secret-key', '--client-secret', '--auth-token', '--private-key', '-p',
];

/** Sources of the default pattern rules (one regex each, group 1 is masked). */
export const DEFAULT_SECRET_PATTERNS = [
  // credentials in URLs: scheme://user:password@host
  String.raw`[a-z][a-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@`,
  // KEY=value pairs whose key names a secret: PASSWORD=, DB_PASSWORD=, AWS_SECRET=, GH_TOKEN=, API_KEY=, KEY=
  String.raw`^(?:[A-Za-z0-9_.-]*[_.-])?(?:PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY|APIKEY|CREDENTIALS?)=(.+)$`,
  // HTTP authorization headers passed as arguments (curl -H "Authorization: Bearer ...")
  String.raw`^\s*(?:proxy-)?authorization\s*:\s*(.+)$`,
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

export class Redactor {
  private readonly flags: Set<string>;
  private readonly patterns: RegExp[];

  constructor(opts: RedactionOptions = {}) {
    const useDefaults = opts.defaults ?? true;
    this.flags = new Set([...(useDefaults ? DEFAULT_SECRET_FLAGS : []), ...(opts.flags ?? [])]);
    const sources = [...(useDefaults ? DEFAULT_SECRET_PATTERNS : []), ...(opts.patterns ?? [])];
    this.patterns = sources.map((src) => {
      try {
        return new RegExp(src, 'gi');
      } catch (err) {
        throw new ConfigError(`redaction: invalid pattern ${JSON.stringify(src)}: ${(err as Error).message}`, 'fix or remove the entry in --redact-patterns');
      }
    });
  }

  redact(args: readonly string[]): Redacted {
    const out = args.slice();
    let changed = false;
    for (let i = 0; i < out.length; i++) {
      const arg = out[i]!;
      if (this.flags.has(arg)) {
        if (i + 1 < out.length) {
          out[i + 1] = MASK;
          changed = true;
          i++;
        }
        continue;
      }
      const eq = arg.indexOf('=');
      if (eq > 0 && arg.startsWith('-') && this.flags.has(arg.slice(0, eq))) {
        out[i] = `${arg.slice(0, eq + 1)}${MASK}`;
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
