// The scanners against the full path they stand in for: whatever line a scanner accepts,
// JSON.parse and the validator accept too, with the same id, index and time; the lines agents
// write are accepted. Lines are written many ways (spaces, escapes, number forms, duplicate and
// unknown keys, every field's value bent) and mutated at random bytes. Also: document times read
// by hand are Date.parse's, and ids are the ones documents always had.
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import {
  CONTRACTS,
  DNS_CONTRACT,
  FLOW_CONTRACT,
  PROCESS_CONTRACT,
  isPlainIPv6,
  nestingDepth,
  parseTime,
  type DocTypeContract,
  type ProcessEventDoc,
} from '../../schema/index.js';
import { sampleDnsLog, sampleFlowLog } from '../support/documents.js';
import { prng } from '../support/prng.js';


const execEvent = (over: Record<string, unknown> = {}): ProcessEventDoc =>
  ({
    '@timestamp': '2026-03-04T05:06:07.000Z',
    event_type: 'process_exec',
    node_name: 'node-a',
    time: '2026-03-04T05:06:07.000Z',
    process_exec: {
      process: {
        exec_id: 'bm9kZS1hOjE',
        pid: 10,
        uid: 1000,
        binary: '/usr/bin/whoami',
        arguments: '-a "b c"',
        start_time: '2026-03-04T05:06:06.500Z',
        user: { name: 'ana' },
        cap: { permitted: ['CAP_NET_ADMIN', 'CAP_SYS_PTRACE'] },
        ns: { net: { inum: 4026531840, is_host: true } },
        pod: { namespace: 'default', name: 'web-1', pod_labels: { app: 'web', 'app.kubernetes.io/name': 'shop' }, container: { id: 'abc', image: { name: 'nginx:1.27' } } },
      },
      parent: { exec_id: 'bm9kZS1hOjA', pid: 1, binary: '/sbin/init' },
      ancestors: [{ exec_id: 'bm9kZS1hOjB', pid: 0, binary: '/init' }],
    },
    ...over,
  }) as ProcessEventDoc;

const exit = (): ProcessEventDoc =>
  ({
    '@timestamp': '2026-03-04T05:06:08.000Z',
    event_type: 'process_exit',
    node_name: 'node-a',
    time: '2026-03-04T05:06:08.000Z',
    process_exit: { process: { exec_id: 'bm9kZS1hOjE', pid: 10, binary: '/usr/bin/whoami' }, status: 0, signal: 'SIGKILL', time: '2026-03-04T05:06:08.000Z' },
  }) as ProcessEventDoc;

const SAMPLES: Array<[DocTypeContract<never>, unknown]> = [
  [FLOW_CONTRACT as DocTypeContract<never>, sampleFlowLog({ process_exec_id: 'ZXhlYw', process_user_id: 0, community_id: '1:abc=', tcp_mean_mss: 1448 })],
  [FLOW_CONTRACT as DocTypeContract<never>, sampleFlowLog({ source_labels: ['app=web'], dest_domains: ['example.com'], process_args_truncated: false })],
  [PROCESS_CONTRACT as DocTypeContract<never>, execEvent()],
  [PROCESS_CONTRACT as DocTypeContract<never>, exit()],
  [DNS_CONTRACT as DocTypeContract<never>, sampleDnsLog()],
];

/** What the full path makes of a line: null when it refuses it. */
function fullPath(contract: DocTypeContract<never>, line: Buffer): { id: string; index: string; timestamp: string } | null {
  if (!isUtf8(line)) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(line.toString('utf8'));
  } catch {
    return null;
  }
  if (contract.validate(doc) !== null) return null;
  try {
    return { id: contract.id(doc as never), index: contract.index(doc as never), timestamp: contract.timestamp(doc as never) };
  } catch {
    return null;
  }
}

/** Asserts the scanner's answer for a line is the full path's (or a decline); true when it answered. */
function agrees(contract: DocTypeContract<never>, line: Buffer, what: string): boolean {
  // Lines that are not UTF-8 too: the scanner checks that itself.
  const scanned = contract.scan(line);
  if (scanned === null) return false;
  const full = fullPath(contract, line);
  assert.ok(full, `${what}: the scanner accepted a line the full path refuses: ${line.toString('utf8').slice(0, 300)}`);
  assert.equal(scanned.id, full.id, `${what}: id differs for ${line.toString('utf8').slice(0, 300)}`);
  assert.equal(contract.index(scanned.keys as never), full.index, `${what}: index differs`);
  assert.equal(contract.timestamp(scanned.keys as never), full.timestamp, `${what}: time differs`);
  return true;
}

// ---- writing one value many ways ----

const SPACES = [' ', '\t', '\n', '\r'];

interface Style {
  rnd: () => number;
  /** Chance of each kind of bend. */
  p: number;
}

function space(s: Style): string {
  return s.rnd() < s.p ? SPACES[Math.floor(s.rnd() * SPACES.length)]!.repeat(1 + Math.floor(s.rnd() * 2)) : '';
}

function writeString(v: string, s: Style): string {
  let out = '"';
  for (const ch of v) {
    const r = s.rnd();
    if (r < s.p / 2) for (let k = 0; k < ch.length; k++) out += `\\u${ch.charCodeAt(k).toString(16).padStart(4, '0')}`;
    else if (r < s.p && ch === '/') out += '\\/';
    else out += JSON.stringify(ch).slice(1, -1);
  }
  return `${out}"`;
}

function writeNumber(v: number, s: Style): string {
  const r = s.rnd();
  if (r >= s.p || !Number.isInteger(v)) return JSON.stringify(v);
  const forms = [`${v}.0`, `${v}e0`, `${v}E+0`, v === 0 ? '-0' : `${v / 10}e1`, `${v}.000`];
  return forms[Math.floor(s.rnd() * forms.length)]!;
}

function write(v: unknown, s: Style, extra: () => Array<[string, unknown]> = () => []): string {
  if (typeof v === 'string') return writeString(v, s);
  if (typeof v === 'number') return writeNumber(v, s);
  if (v === null || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${space(s)}${v.map((x) => write(x, s)).join(`${space(s)},${space(s)}`)}${space(s)}]`;
  const entries: Array<[string, unknown]> = [...Object.entries(v as object), ...extra()];
  if (s.rnd() < s.p) entries.reverse();
  if (entries.length && s.rnd() < s.p / 2) {
    // A duplicate key: the same value, or another (JSON.parse keeps the last).
    const [k, val] = entries[Math.floor(s.rnd() * entries.length)]!;
    entries.splice(Math.floor(s.rnd() * entries.length), 0, [k, s.rnd() < 0.5 ? val : typeof val === 'number' ? val + 1 : 'other']);
  }
  return `{${space(s)}${entries.map(([k, x]) => `${writeString(k, s)}${space(s)}:${space(s)}${write(x, s)}`).join(`${space(s)},${space(s)}`)}${space(s)}}`;
}

// ---- bending values: every field gets values of other types, bounds and forms ----

const BENT: unknown[] = [
  null, true, false, 0, -1, 1, 65_535, 65_536, 4_294_967_295, 4_294_967_296, 2 ** 53, 2 ** 53 + 2, 1.5, -0.5, 1e21,
  '', 'x', '-', '*', '42', '4a', '10.0.0.1', '010.0.0.1', '256.0.0.1', '2001:db8::1', 'fe80::1%eth0', '::ffff:10.0.0.1', '1.2.3',
  '2026-03-04T05:06:07.000Z', '2026-03-04T05:06:07Z', '2026-03-04', '2026-02-30T00:00:00Z', '2026-03-04T24:00:00Z', '2026-13-01T00:00:00Z',
  '2026-03-04 05:06:07', '2026-03-04T05:06:07+02:00', '1999', 'now', '\u0000', 'é', '😀', '\u2028', 'a"b', 'a\\b',
  [], ['x'], [1], [null], ['x', 2], {}, { a: 'b' }, { a: 1 }, { app: 'web' },
];

function bend(doc: unknown, rnd: () => number): unknown {
  const copy = structuredClone(doc) as Record<string, unknown>;
  const paths: Array<[Record<string, unknown>, string]> = [];
  const walk = (o: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(o)) {
      paths.push([o, k]);
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>);
    }
  };
  walk(copy);
  const [obj, key] = paths[Math.floor(rnd() * paths.length)]!;
  const r = rnd();
  if (r < 0.1) delete obj[key];
  else if (r < 0.15) obj[`${key}x`] = 'unknown';
  else obj[key] = BENT[Math.floor(rnd() * BENT.length)];
  return copy;
}

function mutateBytes(line: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(line);
  const at = Math.floor(rnd() * b.length);
  const r = rnd();
  const byte = [0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x39, 0x2d, 0x2e, 0x65, 0x20, 0x00, 0x0a, 0xc3, 0xff, 0x6e][Math.floor(rnd() * 19)]!;
  if (r < 0.4) b[at] = byte;
  else if (r < 0.7) return Buffer.concat([b.subarray(0, at), Buffer.from([byte]), b.subarray(at)]);
  else return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + Math.floor(rnd() * 4))]);
  return b;
}

describe('document scanners', () => {
  it('accept the documents agents write, with the ids and indices of the full path', () => {
    for (const [contract, doc] of SAMPLES) {
      const line = Buffer.from(JSON.stringify(doc));
      assert.ok(agrees(contract, line, 'plain'), `${contract.kind}: the scanner declined a plain document`);
    }
  });

  it('never accept what the full path refuses, nor answer otherwise, however the lines are written', () => {
    const rnd = prng(20_260_304);
    let answered = 0;
    let declined = 0;
    for (let n = 0; n < 9000; n++) {
      const [contract, doc] = SAMPLES[n % SAMPLES.length]!;
      const style: Style = { rnd, p: [0, 0.05, 0.3][n % 3]! };
      const value = n % 2 ? bend(doc, rnd) : doc;
      const line = Buffer.from(write(value, style, () => (rnd() < 0.05 ? [['__proto__', 'x']] : [])) + space(style));
      if (agrees(contract, line, `seed 20260304 case ${n}`)) answered++;
      else declined++;
      if (agrees(contract, mutateBytes(line, rnd), `seed 20260304 case ${n}, mutated`)) answered++;
      else declined++;
    }
    // Both outcomes happen often, or the cases test too little.
    assert.ok(answered > 1500 && declined > 1500, `answered ${answered}, declined ${declined}`);
  });

  it('decline deeply nested lines, long keys, many labels and odd numbers, leaving them to the full path', () => {
    const flowLine = (extra: string) => Buffer.from(JSON.stringify(sampleFlowLog()).replace(/}$/, `,${extra}}`));
    for (const extra of ['"x":' + '['.repeat(5000) + ']'.repeat(5000), '"source_port":1e2', '"source_port":-0', '"bytes_in":12345678901234567890']) {
      assert.equal(FLOW_CONTRACT.scan(flowLine(extra)), null, extra.slice(0, 40));
    }
    const labels = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, 'v']));
    const many = execEvent({ process_exec: { process: { exec_id: 'e', pid: 1, binary: '/b', pod: { pod_labels: labels } } } });
    assert.equal(PROCESS_CONTRACT.scan(Buffer.from(JSON.stringify(many))), null);
    assert.equal(nestingDepth(CONTRACTS.process.fields), 7);
    assert.equal(nestingDepth(CONTRACTS.flows.fields), 2);
  });
});

describe('strings read four bytes at a time', () => {
  it('end at the first quote, escape or control character wherever it falls in a word, up to the line\'s end', () => {
    // The value's length and where the stop falls shift it across every place in a word; the
    // line is a view at every offset of a larger buffer, and the string is the last value too.
    const stops = ['"', '\\"', '\\\\', '\\u0041', '\t', '\u0001', '\u001f', ' ', '~', 'é', '\u007f'];
    let answered = 0;
    for (let length = 0; length < 11; length++) {
      for (let at = 0; at <= length; at++) {
        for (const stop of stops) {
          const raw = `${'a'.repeat(at)}${stop}${'b'.repeat(length - at)}`;
          for (const [field, last] of [['source_name', false], ['community_id', true]] as const) {
            const rest: Record<string, unknown> = { ...sampleFlowLog() };
            delete rest[field];
            const json = JSON.stringify(rest);
            const line = Buffer.from(last ? `${json.slice(0, -1)},"${field}":"${raw}"}` : `{"${field}":"${raw}",${json.slice(1)}`);
            for (const offset of [0, 1, 2, 3]) {
              const buffer = Buffer.alloc(line.length + offset + 3, 0x22);
              line.copy(buffer, offset);
              if (agrees(FLOW_CONTRACT as DocTypeContract<never>, buffer.subarray(offset, offset + line.length), `${field} ${JSON.stringify(raw)} at offset ${offset}`)) answered++;
              else assert.ok(raw.includes('"') && !raw.includes('\\"') ? true : /[\u0000-\u001f]/.test(raw), `declined ${JSON.stringify(raw)} in ${field}`);
            }
          }
        }
      }
    }
    assert.ok(answered > 1000, `${answered} answered`);
  });
});

describe('long id parts', () => {
  it('give the full path\'s ids, the id text longer than the views kept of it and then short again', () => {
    for (const length of [10, 5000, 70_000, 12, 5000]) {
      const line = Buffer.from(JSON.stringify(sampleFlowLog({ process_name: `/${'p'.repeat(length)}`, process_exec_id: 'e'.repeat(length) })));
      assert.ok(agrees(FLOW_CONTRACT as DocTypeContract<never>, line, `parts of ${length} characters`), `declined parts of ${length} characters`);
    }
  });
});

describe('UTF-8 checked as strings are read', () => {
  it('accepts the sequences isUtf8 accepts, in strings only, and declines the rest', () => {
    const sequences = [
      [0xc3, 0xa9], [0xc2, 0x80], [0xdf, 0xbf], [0xe0, 0xa0, 0x80], [0xe2, 0x80, 0xa8], [0xed, 0x9f, 0xbf], [0xee, 0x80, 0x80], [0xef, 0xbf, 0xbf],
      [0xf0, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98, 0x80], [0xf3, 0xbf, 0xbf, 0xbf], [0xf4, 0x8f, 0xbf, 0xbf],
      // Overlong, surrogates, past U+10FFFF, stray continuations, cut off, bytes never in UTF-8.
      [0xc0, 0xaf], [0xc1, 0xbf], [0xe0, 0x9f, 0xbf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf0, 0x8f, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80],
      [0xf5, 0x80, 0x80, 0x80], [0x80], [0xbf], [0xc3], [0xe2, 0x80], [0xf0, 0x9f, 0x98], [0xc3, 0x41], [0xe2, 0x41, 0x80], [0xfe], [0xff],
      [0x5c, 0xc3, 0xa9], [0x5c, 0xff],
    ];
    let answered = 0;
    for (const sequence of sequences) {
      for (let at = 0; at < 6; at++) {
        for (const [field, last] of [['process_name', false], ['community_id', true]] as const) {
          const rest: Record<string, unknown> = { ...sampleFlowLog() };
          delete rest[field];
          const json = JSON.stringify(rest);
          const raw = Buffer.concat([Buffer.from('a'.repeat(at)), Buffer.from(sequence), Buffer.from('z')]);
          const line = last
            ? Buffer.concat([Buffer.from(`${json.slice(0, -1)},"${field}":"`), raw, Buffer.from('"}')])
            : Buffer.concat([Buffer.from(`{"${field}":"`), raw, Buffer.from(`",${json.slice(1)}`)]);
          if (agrees(FLOW_CONTRACT as DocTypeContract<never>, line, `${field} ${Buffer.from(sequence).toString('hex')} after ${at}`)) answered++;
          else assert.ok(!isUtf8(line) || sequence[0] === 0x5c, `declined valid UTF-8 ${Buffer.from(sequence).toString('hex')} in ${field}`);
          // Outside a string, not even a well-formed sequence is JSON.
          const outside = Buffer.concat([Buffer.from(`{"${field}":"a"`), Buffer.from(sequence), Buffer.from(`,${json.slice(1)}`)]);
          assert.equal(FLOW_CONTRACT.scan(outside), null);
        }
      }
    }
    assert.equal(answered, 12 * 6 * 2);
  });
});

describe('IPv6 addresses read in place', () => {
  it('are ones net.isIP takes', () => {
    const rnd = prng(6);
    const alphabet = '0123456789abcdefABCDEF:::::.%g';
    let plain = 0;
    for (let n = 0; n < 200_000; n++) {
      const text = n < 50_000
        ? Array.from({ length: Math.floor(rnd() * 40) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('')
        : (() => {
          // Mostly well-formed: groups of hex, one "::" sometimes.
          const groups = Array.from({ length: 1 + Math.floor(rnd() * 9) }, () => Math.floor(rnd() * 0x1ffff).toString(16).slice(0, 1 + Math.floor(rnd() * 5)));
          if (rnd() < 0.5) groups.splice(Math.floor(rnd() * (groups.length + 1)), 0, '');
          return groups.join(':').replace(/^:(?!:)/, '::').replace(/([^:]):$/, '$1::');
        })();
      const bytes = Buffer.from(text);
      if (isPlainIPv6(bytes, 0, bytes.length)) {
        plain++;
        assert.equal(isIP(text), 6, text);
      }
    }
    for (const text of ['::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', 'fe80::1', '2001:DB8::a']) assert.ok(isPlainIPv6(Buffer.from(text), 0, text.length), text);
    for (const text of [':::', '1:2:3:4:5:6:7:8:9', '1::2::3', ':1', '1:', '12345::', '1:2:3:4:5:6:7:8::', '::ffff:1.2.3.4', 'fe80::1%eth0', '']) assert.equal(isPlainIPv6(Buffer.from(text), 0, text.length), false, text);
    assert.ok(plain > 20_000, `${plain} plain`);
  });
});

describe('document times', () => {
  it('read the agents\' form as Date.parse does, and anything else through it', () => {
    const rnd = prng(7);
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    for (let n = 0; n < 20_000; n++) {
      const y = n < 100 ? n : Math.floor(rnd() * 10_000);
      const t = `${pad(y, 4)}-${pad(1 + Math.floor(rnd() * 12), 2)}-${pad(1 + Math.floor(rnd() * 31), 2)}T${pad(Math.floor(rnd() * 24), 2)}:${pad(Math.floor(rnd() * 60), 2)}:${pad(Math.floor(rnd() * 60), 2)}`;
      for (const text of [`${t}.${pad(Math.floor(rnd() * 1000), 3)}Z`, `${t}Z`]) assert.equal(parseTime(text), Date.parse(text), text);
    }
    for (const text of ['2026-02-29T00:00:00.000Z', '2026-02-30T23:59:59Z', '2026-04-31T00:00:00Z', '2024-02-29T12:00:00Z', '0000-01-01T00:00:00Z',
      '2026-03-04T24:00:00Z', '2026-03-04T23:60:00Z', '2026-03-04T23:59:60Z', '2026-00-04T00:00:00Z', '2026-03-00T00:00:00Z', '2026-03-32T00:00:00Z',
      '2026-03-04T05:06:07.1Z', '2026-03-04T05:06:07,000Z', '2026-03-04t05:06:07z', '2026-03-04T05:06:07+01:00', '2026-03-04', '+002026-03-04T00:00:00Z', 'x', '']) {
      assert.deepEqual(parseTime(text), Date.parse(text), text);
    }
  });
});

describe('ids', () => {
  it('stay what they are (a retry across an upgrade is stored once only while they do)', () => {
    // Fixed when ids began with the node and the second (before: 27 characters of hash alone).
    const e = { '@timestamp': '2026-03-04T05:06:07.000Z', event_type: 'process_exec', node_name: 'node-a', time: '2026-03-04T05:06:07.000Z', process_exec: { process: { exec_id: 'bm9kZS1hOjE', pid: 10, binary: '/usr/bin/whoami' } } };
    const x = { '@timestamp': '2026-03-04T05:06:08.000Z', event_type: 'process_exit', node_name: 'node-a', time: '2026-03-04T05:06:08.000Z', process_exit: { process: { exec_id: 'bm9kZS1hOjE', pid: 10, binary: '/usr/bin/whoami' }, status: 0 } };
    const golden: Array<[DocTypeContract<never>, unknown, string]> = [
      [FLOW_CONTRACT as DocTypeContract<never>, sampleFlowLog(), 'h19pp72wzN7cYcbe-G9_zCEL'],
      [FLOW_CONTRACT as DocTypeContract<never>, sampleFlowLog({ process_name: '/bin/\ud800 "q" é', process_exec_id: 'x' }), 'h19pp72wTHBQd5yBbx40bkvB'],
      [DNS_CONTRACT as DocTypeContract<never>, sampleDnsLog(), 'h19pp72wlQi0Rsv3UWT8z6nr'],
      [PROCESS_CONTRACT as DocTypeContract<never>, e, 'h19pp72_Zxjm0ekTY1nJR86U'],
      [PROCESS_CONTRACT as DocTypeContract<never>, x, 'h19pp73A2g_mdONkN3Fxt9XG'],
    ];
    for (const [contract, doc, id] of golden) {
      assert.equal(contract.id(doc as never), id);
      const scanned = contract.scan(Buffer.from(JSON.stringify(doc)));
      // A lone surrogate is escaped in the line (valid UTF-8 cannot hold it): the full path's.
      if (scanned) assert.equal(scanned.id, id);
    }
  });
});
