// A small field-spec language. Each document type is declared once as a table of FieldSpecs;
// the TypeScript document types, the Elasticsearch mapping, the validator and the field lists
// used by the Kibana checks are all derived from that one table.

/**
 * 'flattened' is a map of string keys to string values (pod labels): one mapped field however
 * many keys arrive, so no document can grow the mapping, yet `pod_labels.app: web` is a query.
 */
export type FieldType = 'keyword' | 'ip' | 'long' | 'double' | 'date' | 'boolean' | 'object' | 'flattened';

export interface FieldSpec {
  readonly type: FieldType;
  readonly description: string;
  /** The document is invalid without it. */
  readonly required?: boolean;
  /** The value is a list of `type` (Elasticsearch maps arrays by their element type); for 'object', a list of objects. */
  readonly array?: boolean;
  /** For type 'object': the nested fields. */
  readonly fields?: FieldTable;
  /**
   * ECS field name that is mapped as an alias of this field, e.g. 'source.ip'. A name several
   * fields give (one per event type, e.g. process_exec.process.x and process_exit.process.x)
   * becomes a field of its own that each of them copies its value to (copy_to).
   */
  readonly ecs?: string;
  /** Keyword values longer than this are kept in _source but not indexed. */
  readonly ignoreAbove?: number;
  /** Kept in _source only: neither indexed nor aggregatable. */
  readonly storedOnly?: boolean;
  /**
   * Doc values only, no inverted index or points: for values that are aggregated, sorted or
   * read back far more than filtered on, or nearly unique per document (a port, a hash, a
   * counter). A filter on it still works, by scanning the doc values of the documents the rest
   * of the query (a time range, a node) leaves, so it is slower than an indexed field's.
   */
  readonly docValuesOnly?: boolean;
  /** For 'long' and 'double': the smallest value accepted (0 for counters, ids and ports). */
  readonly min?: number;
  /** For 'long' and 'double': the largest value accepted (65535 for ports). */
  readonly max?: number;
  /** For 'keyword': values must match this, e.g. a pid or "*"; `patternText` says so in words. */
  readonly pattern?: RegExp;
  readonly patternText?: string;
}

export type FieldTable = { readonly [name: string]: FieldSpec };

/** A numeric field's bounds in words ("0 or more", "0 to 65535"), or undefined when it has none. */
export function rangeText(spec: FieldSpec): string | undefined {
  if (spec.min !== undefined && spec.max !== undefined) return `${spec.min} to ${spec.max}`;
  if (spec.min !== undefined) return `${spec.min} or more`;
  if (spec.max !== undefined) return `${spec.max} or less`;
  return undefined;
}


type ScalarOf<T> = T extends 'keyword' | 'ip' | 'date'
  ? string
  : T extends 'long' | 'double'
    ? number
    : T extends 'boolean'
      ? boolean
      : never;

type ValueOf<S> = S extends { type: 'object'; fields: infer F; array: true }
  ? DocOf<F>[]
  : S extends { type: 'object'; fields: infer F }
  ? DocOf<F>
  : S extends { type: 'flattened' }
  ? Record<string, string>
  : S extends { type: infer T; array: true }
    ? ScalarOf<T>[]
    : S extends { type: infer T }
      ? ScalarOf<T>
      : never;

type RequiredKeys<F> = { [K in keyof F]: F[K] extends { required: true } ? K : never }[keyof F];
type Flatten<T> = { [K in keyof T]: T[K] };

/** The document type a field table describes (required fields required, the rest optional). */
export type DocOf<F> = Flatten<
  { -readonly [K in RequiredKeys<F>]: ValueOf<F[K]> } & {
    -readonly [K in Exclude<keyof F, RequiredKeys<F>>]?: ValueOf<F[K]>;
  }
>;

export interface LeafField {
  /** Dotted path, e.g. 'process_exec.process.binary'. */
  path: string;
  spec: FieldSpec;
}

/** Every leaf field with its dotted path, depth first. */
export function leafFields(table: FieldTable, prefix = ''): LeafField[] {
  const out: LeafField[] = [];
  for (const [name, spec] of Object.entries(table)) {
    const path = prefix + name;
    if (spec.type === 'object') out.push(...leafFields(spec.fields ?? {}, `${path}.`));
    else out.push({ path, spec });
  }
  return out;
}

/** How deep a valid document of the table can nest objects and arrays (the document itself is 1). */
export function nestingDepth(table: FieldTable): number {
  let deepest = 0;
  for (const spec of Object.values(table)) {
    const own = spec.type === 'object' ? nestingDepth(spec.fields ?? {}) : spec.type === 'flattened' ? 1 : 0;
    deepest = Math.max(deepest, own + (spec.array ? 1 : 0));
  }
  return 1 + deepest;
}

type MappingProperty = Record<string, unknown>;

function leafMapping(spec: FieldSpec): MappingProperty {
  if (spec.storedOnly) return { type: spec.type, index: false, doc_values: false };
  const unindexed = spec.docValuesOnly ? { index: false } : {};
  switch (spec.type) {
    case 'keyword':
      return { type: 'keyword', ignore_above: spec.ignoreAbove ?? 1024, ...unindexed };
    case 'date':
      return { type: 'date', format: 'strict_date_optional_time||epoch_millis', ...unindexed };
    case 'flattened':
      return { type: 'flattened', ignore_above: spec.ignoreAbove ?? 1024 };
    default:
      return { type: spec.type, ...unindexed };
  }
}

/** Elasticsearch mapping `properties` for a table, ECS aliases included. */
export function mappingProperties(table: FieldTable): Record<string, MappingProperty> {
  const targets = ecsTargets(table);
  // ECS names given by several fields (one per event type) are fields of their own, filled by
  // copy_to from each: an alias has one target, and a runtime field needs painless, which not
  // every cluster has. The copy is indexed and aggregatable, not part of _source.
  const copyTo = new Map<string, string>();
  for (const [ecs, paths] of targets) if (paths.length > 1) for (const path of paths) copyTo.set(path, ecs);
  const props: Record<string, MappingProperty> = {};
  const build = (t: FieldTable, into: Record<string, MappingProperty>, prefix: string) => {
    for (const [name, spec] of Object.entries(t)) {
      if (spec.type === 'object') {
        const inner: Record<string, MappingProperty> = {};
        build(spec.fields ?? {}, inner, `${prefix}${name}.`);
        into[name] = { type: 'object', properties: inner };
      } else {
        const ecs = copyTo.get(prefix + name);
        into[name] = ecs ? { ...leafMapping(spec), copy_to: ecs } : leafMapping(spec);
      }
    }
  };
  build(table, props, '');
  const specs = new Map(leafFields(table).map((l) => [l.path, l.spec]));
  for (const [ecs, paths] of targets) {
    addAt(props, ecs, paths.length === 1 ? { type: 'alias', path: paths[0]! } : leafMapping(specs.get(paths[0]!)!));
  }
  return props;
}

/** ECS name -> the fields that give it, in table order. */
function ecsTargets(table: FieldTable): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { path, spec } of leafFields(table)) {
    if (!spec.ecs) continue;
    const list = out.get(spec.ecs);
    if (list) list.push(path);
    else out.set(spec.ecs, [path]);
  }
  return out;
}

/** The ECS names filled by copy_to (given by several fields), each with the fields it copies. */
export function ecsCopies(table: FieldTable): Map<string, string[]> {
  return new Map([...ecsTargets(table)].filter(([, paths]) => paths.length > 1));
}

function addAt(props: Record<string, MappingProperty>, aliasPath: string, mapping: MappingProperty): void {
  const parts = aliasPath.split('.');
  let level = props;
  for (const part of parts.slice(0, -1)) {
    const existing = level[part] as { properties?: Record<string, MappingProperty> } | undefined;
    if (existing && !existing.properties) {
      throw new Error(`schema: ECS alias ${aliasPath} collides with the field ${part}`);
    }
    const obj = existing ?? { type: 'object', properties: {} };
    level[part] = obj;
    level = obj.properties as Record<string, MappingProperty>;
  }
  level[parts[parts.length - 1]!] = mapping;
}

/** ECS name -> the field it aliases (the first it copies, for one filled by copy_to). */
export function ecsAliases(table: FieldTable): Map<string, string> {
  const out = new Map<string, string>();
  for (const [ecs, targets] of ecsTargets(table)) out.set(ecs, targets[0]!);
  return out;
}

/** The same table with no ECS names, for a second use of it (a parent's fields are not the process's). */
export function withoutEcs<T extends FieldTable>(table: T): T {
  const out: Record<string, FieldSpec> = {};
  for (const [name, spec] of Object.entries(table)) {
    const { ecs: _ecs, ...rest } = spec;
    out[name] = rest.type === 'object' && rest.fields ? { ...rest, fields: withoutEcs(rest.fields) } : rest;
  }
  return out as T;
}
