// Validators compiled from a field table. They check what Elasticsearch would otherwise reject
// later (unknown fields, wrong types, missing required fields) and say which field and why.
import { isIP } from 'node:net';
import type { FieldSpec, FieldTable } from './field-spec.js';

/** Returns null when the value is a valid document, else a sentence naming the field. */
export type Validator = (doc: unknown) => string | null;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}` : `${typeof v} ${String(v)}`;
}

function scalarError(spec: FieldSpec, v: unknown): string | null {
  switch (spec.type) {
    case 'keyword':
      return typeof v === 'string' ? null : `must be a string, got ${describe(v)}`;
    case 'ip':
      return typeof v === 'string' && isIP(v) !== 0 ? null : `must be an IPv4 or IPv6 address, got ${describe(v)}`;
    case 'long':
      return Number.isSafeInteger(v) ? null : `must be an integer, got ${describe(v)}`;
    case 'double':
      return typeof v === 'number' && Number.isFinite(v) ? null : `must be a number, got ${describe(v)}`;
    case 'boolean':
      return typeof v === 'boolean' ? null : `must be true or false, got ${describe(v)}`;
    case 'date':
      if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(Date.parse(v))) return null;
      if (Number.isSafeInteger(v) && (v as number) >= 0) return null;
      return `must be an ISO-8601 date or epoch milliseconds, got ${describe(v)}`;
    case 'object':
      return null;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Object.entries allocates a fresh array per call; validators run per document, so each
// table's entries are computed once.
const entriesOf = new WeakMap<FieldTable, Array<[string, FieldSpec]>>();
function entries(table: FieldTable): Array<[string, FieldSpec]> {
  let e = entriesOf.get(table);
  if (!e) entriesOf.set(table, (e = Object.entries(table)));
  return e;
}

function checkObject(table: FieldTable, value: Record<string, unknown>, prefix: string): string | null {
  for (const key in value) {
    if (!Object.hasOwn(table, key)) return `unknown field "${prefix}${key}"`;
  }
  for (const [name, spec] of entries(table)) {
    const v = value[name];
    const path = prefix + name;
    if (v === undefined || v === null) {
      if (spec.required) return `missing required field "${path}"`;
      continue;
    }
    const err = checkField(spec, v, path);
    if (err) return err;
  }
  return null;
}

function checkField(spec: FieldSpec, v: unknown, path: string): string | null {
  if (spec.type === 'object') {
    if (!isPlainObject(v)) return `field "${path}" must be an object, got ${describe(v)}`;
    return checkObject(spec.fields ?? {}, v, `${path}.`);
  }
  if (spec.array) {
    if (!Array.isArray(v)) return `field "${path}" must be an array, got ${describe(v)}`;
    for (let i = 0; i < v.length; i++) {
      const err = scalarError(spec, v[i]);
      if (err) return `field "${path}[${i}]" ${err}`;
    }
    return null;
  }
  const err = scalarError(spec, v);
  return err ? `field "${path}" ${err}` : null;
}

export function compileValidator(table: FieldTable): Validator {
  return (doc) => (isPlainObject(doc) ? checkObject(table, doc, '') : `a document must be a JSON object, got ${describe(doc)}`);
}
