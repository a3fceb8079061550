// Validators compiled from a field table. They check what Elasticsearch would otherwise reject
// later (unknown fields, wrong types, missing required fields), and what it would accept but no
// reader could trust (negative counters, ports above 65535), and say which field and why.
import { isIP } from 'node:net';
import { rangeText, type FieldSpec, type FieldTable } from './field-spec.js';
import { parseTime } from './time.js';
import { isShared } from '../common/doc-json.js';

/** Returns null when the value is a valid document, else a sentence naming the field. */
export type Validator = (doc: unknown) => string | null;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}` : `${typeof v} ${String(v)}`;
}

type ScalarCheck = (v: unknown) => string | null;

/** What a date field takes: an ISO-8601 string Date.parse reads, or non-negative epoch milliseconds. */
export const isDate = (v: unknown): boolean =>
  (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(parseTime(v))) || (Number.isSafeInteger(v) && (v as number) >= 0);

/**
 * A costly check (a pattern, an address, a date) that passes the string it passed last without
 * checking it again: the documents of one interval repeat most such values one after another
 * (the interval's times, a node's and its pods' addresses, a process's exec id), and an equal
 * string passes the same check.
 */
function passingRepeats(check: ScalarCheck): ScalarCheck {
  let passed: string | undefined;
  return (v) => {
    if (v === passed) return null;
    const err = check(v);
    if (err === null && typeof v === 'string') passed = v;
    return err;
  };
}

/**
 * The check for one value of a scalar field, specialised when the table is compiled: the type
 * test, then (only for fields that declare them) bounds or a pattern. Returns the reason, without
 * the field's name, or null.
 */
function compileScalar(spec: FieldSpec): ScalarCheck {
  switch (spec.type) {
    case 'keyword': {
      const { pattern, patternText } = spec;
      if (!pattern) return (v) => (typeof v === 'string' ? null : `must be a string, got ${describe(v)}`);
      return passingRepeats((v) => (typeof v !== 'string' ? `must be a string, got ${describe(v)}` : pattern.test(v) ? null : `must be ${patternText ?? `a string matching ${String(pattern)}`}, got ${describe(v)}`));
    }
    case 'ip':
      return passingRepeats((v) => (typeof v === 'string' && isIP(v) !== 0 ? null : `must be an IPv4 or IPv6 address, got ${describe(v)}`));
    case 'long': {
      const range = rangeText(spec);
      if (range === undefined) return (v) => (Number.isSafeInteger(v) ? null : `must be an integer, got ${describe(v)}`);
      const min = spec.min ?? -Infinity;
      const max = spec.max ?? Infinity;
      return (v) => (!Number.isSafeInteger(v) ? `must be an integer, got ${describe(v)}` : (v as number) >= min && (v as number) <= max ? null : `must be ${range}, got ${v as number}`);
    }
    case 'double': {
      const min = spec.min ?? -Infinity;
      const max = spec.max ?? Infinity;
      return (v) =>
        typeof v !== 'number' || !Number.isFinite(v) ? `must be a number, got ${describe(v)}` : v >= min && v <= max ? null : `must be ${rangeText(spec)!}, got ${v}`;
    }
    case 'boolean':
      return (v) => (typeof v === 'boolean' ? null : `must be true or false, got ${describe(v)}`);
    case 'date':
      return passingRepeats((v) => (isDate(v) ? null : `must be an ISO-8601 date or epoch milliseconds, got ${describe(v)}`));
    case 'object':
    case 'flattened':
      return () => null;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type Check = (value: Record<string, unknown>) => string | null;
type FieldCheck = (v: unknown) => string | null;

// Validators run for every document the indexer receives, so each table is compiled once:
// one pass over the document's own keys, a map lookup per key, dotted paths worked out ahead,
// and messages built only on failure. Required fields are counted, and only searched for by
// name when one is missing.
function compileObject(table: FieldTable, prefix: string): Check {
  const checks = new Map<string, { check: FieldCheck; required: boolean }>();
  const required: string[] = [];
  for (const [name, spec] of Object.entries(table)) {
    checks.set(name, { check: compileField(spec, prefix + name), required: spec.required === true });
    if (spec.required) required.push(name);
  }
  // The keys of the document before, in order, and their entries: documents of one kind come
  // with their keys in one order, so the next key is found by comparing it with the one expected
  // there instead of by a map lookup.
  const lastKeys: string[] = [];
  const lastEntries: { check: FieldCheck; required: boolean }[] = [];
  return (value) => {
    let requiredSeen = 0;
    let i = 0;
    for (const key in value) {
      let entry: { check: FieldCheck; required: boolean } | undefined;
      if (lastKeys[i] === key) entry = lastEntries[i]!;
      else {
        entry = checks.get(key);
        if (!entry) return `unknown field "${prefix}${key}"`;
        lastKeys[i] = key;
        lastEntries[i] = entry;
      }
      i++;
      const v = value[key];
      if (v === undefined || v === null) continue;
      const err = entry.check(v);
      if (err) return err;
      if (entry.required) requiredSeen++;
    }
    if (requiredSeen < required.length) {
      for (const name of required) {
        if (value[name] === undefined || value[name] === null) return `missing required field "${prefix}${name}"`;
      }
    }
    return null;
  };
}

/** Most keys a flattened map may carry (Kubernetes allows many labels; none needs this many). */
export const FLATTENED_MAX_KEYS = 256;

function compileFlattened(spec: FieldSpec, path: string): FieldCheck {
  const max = spec.ignoreAbove ?? 1024;
  return (v) => {
    if (!isPlainObject(v)) return `field "${path}" must be an object of strings, got ${describe(v)}`;
    let n = 0;
    for (const key in v) {
      if (++n > FLATTENED_MAX_KEYS) return `field "${path}" has more than ${FLATTENED_MAX_KEYS} keys`;
      const s = v[key];
      if (typeof s !== 'string') return `field "${path}.${key}" must be a string, got ${describe(s)}`;
      if (key.length > max) return `field "${path}" has a key longer than ${max} characters`;
    }
    return null;
  };
}

/**
 * A process's record is shared by many documents (its exec, its exit, and as the parent its
 * children's) and never changes once shared (common/doc-json.ts): found valid against a table
 * once, it is valid wherever that table applies, so it is walked once, not in every document.
 */
const VALID_SHARED = new WeakMap<FieldTable, WeakSet<object>>();

function validSharedOf(table: FieldTable): WeakSet<object> {
  let set = VALID_SHARED.get(table);
  if (!set) VALID_SHARED.set(table, (set = new WeakSet()));
  return set;
}

function compileField(spec: FieldSpec, path: string): FieldCheck {
  if (spec.type === 'flattened') return compileFlattened(spec, path);
  if (spec.type === 'object') {
    const inner = compileObject(spec.fields ?? {}, `${path}.`);
    const validShared = validSharedOf(spec.fields ?? {});
    const one: FieldCheck = (v) => {
      if (!isPlainObject(v)) return `field "${path}" must be an object, got ${describe(v)}`;
      if (validShared.has(v)) return null;
      const err = inner(v);
      if (!err && isShared(v)) validShared.add(v);
      return err;
    };
    if (!spec.array) return one;
    return (v) => {
      if (!Array.isArray(v)) return `field "${path}" must be an array of objects, got ${describe(v)}`;
      for (let i = 0; i < v.length; i++) {
        const err = one(v[i]);
        if (err) return err.replace(`field "${path}"`, `field "${path}[${i}]"`);
      }
      return null;
    };
  }
  const scalar = compileScalar(spec);
  if (spec.array) {
    return (v) => {
      if (!Array.isArray(v)) return `field "${path}" must be an array, got ${describe(v)}`;
      for (let i = 0; i < v.length; i++) {
        const err = scalar(v[i]);
        if (err) return `field "${path}[${i}]" ${err}`;
      }
      return null;
    };
  }
  return (v) => {
    const err = scalar(v);
    return err ? `field "${path}" ${err}` : null;
  };
}

export function compileValidator(table: FieldTable): Validator {
  const check = compileObject(table, '');
  return (doc) => (isPlainObject(doc) ? check(doc) : `a document must be a JSON object, got ${describe(doc)}`);
}
