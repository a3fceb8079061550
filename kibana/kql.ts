// The small KQL subset the saved objects use, turned into Elasticsearch query DSL the way
// Kibana does, so the checks can run each panel's query. Anything outside the subset throws:
// a panel whose query cannot be checked must not ship unchecked.
//   expr    := or
//   or      := and ("or" and)*
//   and     := not ("and" not)*
//   not     := "not" not | primary
//   primary := "(" expr ")" | FIELD ":" ("*" | "quoted" | bare | bare with *) | FIELD (">"|">="|"<"|"<=") NUMBER

export type QueryDsl = Record<string, unknown>;

export interface KqlResult {
  query: QueryDsl;
  fields: string[];
}

const TOKEN = /\s*(\(|\)|>=|<=|>|<|:|"(?:[^"\\]|\\.)*"|[^\s()":<>]+)/y;

function tokenize(src: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < src.length) {
    if (/^\s*$/.test(src.slice(TOKEN.lastIndex))) break;
    const m = TOKEN.exec(src);
    if (!m) throw new Error(`kql: cannot read ${JSON.stringify(src.slice(TOKEN.lastIndex))}`);
    out.push(m[1]!);
  }
  return out;
}

export function kqlToDsl(src: string): KqlResult {
  const tokens = tokenize(src);
  const fields: string[] = [];
  let i = 0;
  const peek = () => tokens[i];
  const next = () => {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`kql: unexpected end of ${JSON.stringify(src)}`);
    return t;
  };
  const isWord = (t: string | undefined, w: string) => t?.toLowerCase() === w;

  const primary = (): QueryDsl => {
    const t = next();
    if (t === '(') {
      const q = or();
      if (next() !== ')') throw new Error(`kql: missing ) in ${JSON.stringify(src)}`);
      return q;
    }
    const field = t;
    fields.push(field);
    const op = next();
    const value = next();
    if (op === ':') {
      if (value === '*') return { exists: { field } };
      if (value.startsWith('"')) return { match_phrase: { [field]: JSON.parse(value) as string } };
      // A bare value with * is a wildcard, as KQL reads it (on keyword fields).
      if (value.includes('*')) return { wildcard: { [field]: { value } } };
      return { match: { [field]: value } };
    }
    const range = { '>': 'gt', '>=': 'gte', '<': 'lt', '<=': 'lte' }[op];
    if (!range || !Number.isFinite(Number(value))) throw new Error(`kql: unsupported ${field} ${op} ${value} in ${JSON.stringify(src)}`);
    return { range: { [field]: { [range]: Number(value) } } };
  };
  const not = (): QueryDsl => {
    if (isWord(peek(), 'not')) {
      next();
      return { bool: { must_not: [not()] } };
    }
    return primary();
  };
  const and = (): QueryDsl => {
    const parts = [not()];
    while (isWord(peek(), 'and')) (next(), parts.push(not()));
    return parts.length === 1 ? parts[0]! : { bool: { filter: parts } };
  };
  const or = (): QueryDsl => {
    const parts = [and()];
    while (isWord(peek(), 'or')) (next(), parts.push(and()));
    return parts.length === 1 ? parts[0]! : { bool: { should: parts, minimum_should_match: 1 } };
  };

  if (tokens.length === 0) return { query: { match_all: {} }, fields };
  const query = or();
  if (i !== tokens.length) throw new Error(`kql: unexpected ${JSON.stringify(tokens[i])} in ${JSON.stringify(src)}`);
  return { query, fields };
}
