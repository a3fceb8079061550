// A document's content in one form whatever Elasticsearch's _source gives back, compiled from a
// field table, so that the indexer can tell a stored copy of the same document from another
// one. A synthetic _source (logsdb) rebuilds documents from doc values: the keys in name order,
// dates in UTC with milliseconds ("2026-03-04T05:06:07.000Z" for "…07Z", "…09:06:07+02:00" or
// epoch milliseconds), addresses in their shortest form ("10.0.0.1" for "::ffff:10.0.0.1",
// "2001:db8::7" for "2001:0DB8:0::7"), fields sent as null left out, and without logsdb's
// default of keeping arrays as sent, a one-element array as its element and an empty one left
// out. Each of these is mapped to one form here; array order and content are compared as they are.
import { isIPv4, isIPv6 } from 'node:net';
import type { FieldSpec, FieldTable } from './field-spec.js';

export type Canonicalizer = (doc: unknown) => unknown;

/** An ISO date without a zone is UTC to Elasticsearch, but local time to Date.parse. */
const NO_ZONE = /T[\d:.,]+$/;

function canonicalDate(v: unknown): unknown {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return v;
  const ms = Date.parse(NO_ZONE.test(v) ? `${v}Z` : v);
  return Number.isNaN(ms) ? v : ms;
}

/** The address as 8 hex groups (an IPv4 address, or one mapped into IPv6, in dotted form). */
export function canonicalIp(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  if (isIPv4(v)) return v;
  if (!isIPv6(v)) return v;
  let text = v.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // A dotted IPv4 tail is two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const nums = groups.map((g) => parseInt(g, 16));
  if (nums.slice(0, 5).every((n) => n === 0) && nums[5] === 0xffff) {
    return `${nums[6]! >> 8}.${nums[6]! & 0xff}.${nums[7]! >> 8}.${nums[7]! & 0xff}`;
  }
  return nums.map((n) => n.toString(16)).join(':');
}

function compileValue(spec: FieldSpec): Canonicalizer {
  let one: Canonicalizer;
  switch (spec.type) {
    case 'date':
      one = canonicalDate;
      break;
    case 'ip':
      one = canonicalIp;
      break;
    case 'object': {
      const inner = compileCanonical(spec.fields ?? {});
      one = inner;
      break;
    }
    default:
      one = (v) => v;
  }
  if (!spec.array) return one;
  return (v) => (Array.isArray(v) ? v.map(one) : [one(v)]);
}

export function compileCanonical(table: FieldTable): Canonicalizer {
  const fields = new Map(Object.entries(table).map(([name, spec]) => [name, compileValue(spec)]));
  return (doc) => {
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return doc;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(doc)) {
      if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) continue;
      const field = fields.get(key);
      out[key] = field ? field(value) : value;
    }
    return out;
  };
}
