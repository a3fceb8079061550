// The import graph of the TypeScript sources (the folders tsconfig.json compiles), read with a
// regex over `from '...'` / `import('...')` specifiers, type-only imports included: it keeps the
// folder layout of ARCHITECTURE.md true. No cycles; cli/ is the top, so only what drives or
// documents the CLI imports it; inside agent/, dependencies point from the daemon shell down
// (flows -> process -> identity; delivery stands alone) and only the shell wires kubernetes/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SKIP = ['node_modules/', 'dist/', 'native/build/', 'native/vendor/'];

/** Outside cli/, the modules that may import from cli/, and why. */
const CLI_IMPORTERS: Record<string, string> = {
  'test/': 'the tests drive the commands',
  'docs-gen/readme.ts': "the README's settings reference is generated from the commands' tables",
  'docs-gen/helm-schema.ts': "the Helm chart's settings schema is generated from the commands' tables",
};

/** In agent/ outside kubernetes/, the modules that may import agent/kubernetes/: the shell that wires it. */
const KUBERNETES_IMPORTERS = ['agent/run.ts'];

/** agent/'s folders below the shell, and the agent/ folders each may import from. */
const AGENT_ALLOWED: Record<string, string[]> = {
  flows: ['process', 'identity'],
  process: ['identity'],
  delivery: [],
  dns: ['process', 'identity'],
  identity: [],
  kubernetes: ['identity'],
};

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm;

function importGraph(): Map<string, Set<string>> {
  const { include } = JSON.parse(readFileSync(posix.join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
  const files: string[] = [];
  for (const dir of include) {
    for (const entry of readdirSync(posix.join(ROOT, dir), { recursive: true }) as string[]) {
      const file = posix.join(dir, entry.split('\\').join('/'));
      if (file.endsWith('.ts') && !SKIP.some((s) => file.startsWith(s) || file.includes(`/${s}`))) files.push(file);
    }
  }
  const graph = new Map<string, Set<string>>();
  for (const file of files) {
    const deps = new Set<string>();
    for (const m of readFileSync(posix.join(ROOT, file), 'utf8').matchAll(SPECIFIER)) {
      const target = posix.normalize(posix.join(posix.dirname(file), m[2]!)).replace(/\.js$/, '.ts');
      if (target.endsWith('.ts') && existsSync(posix.join(ROOT, target))) deps.add(target);
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || graph.get(v)?.has(v)) found.push(scc.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = importGraph();
const edges = [...graph].flatMap(([from, deps]) => [...deps].map((to) => ({ from, to })));
const agentFolder = (file: string): string | undefined => /^agent\/([^/]+)\//.exec(file)?.[1];

test('the import graph is read: every source folder, hundreds of imports', () => {
  assert.ok(graph.size > 150, `${graph.size} modules`);
  assert.ok(edges.length > 400, `${edges.length} imports`);
  assert.ok(graph.get('agent/run.ts')?.has('agent/kubernetes/index.ts'), 'the regex sees the shell wiring kubernetes/');
});

test('no module imports itself through others: the import graph has no cycles', () => {
  assert.deepEqual(cycles(graph).map((c) => c.join(' -> ')), []);
});

test('cli/ is the top: nothing outside it imports from it but the tests and the README generator', () => {
  const allowed = (file: string) => Object.keys(CLI_IMPORTERS).some((a) => (a.endsWith('/') ? file.startsWith(a) : file === a));
  const upward = edges.filter((e) => e.to.startsWith('cli/') && !e.from.startsWith('cli/') && !allowed(e.from));
  assert.deepEqual(upward.map((e) => `${e.from} imports ${e.to}`), []);
  for (const a of Object.keys(CLI_IMPORTERS)) assert.ok(edges.some((e) => e.to.startsWith('cli/') && (a.endsWith('/') ? e.from.startsWith(a) : e.from === a)), `${a} is still needed in CLI_IMPORTERS`);
});

test('inside agent/, only the shell that wires it imports kubernetes/; the agent owns the pod lookup port', () => {
  const wrong = edges.filter((e) => e.to.startsWith('agent/kubernetes/') && e.from.startsWith('agent/') && !e.from.startsWith('agent/kubernetes/') && !KUBERNETES_IMPORTERS.includes(e.from));
  assert.deepEqual(wrong.map((e) => `${e.from} imports ${e.to}`), []);
  for (const a of KUBERNETES_IMPORTERS) assert.ok(edges.some((e) => e.from === a && e.to.startsWith('agent/kubernetes/')), `${a} is still needed in KUBERNETES_IMPORTERS`);
});

test("agent/'s folders depend downwards only: never on the shell, and on each other as declared", () => {
  const wrong: string[] = [];
  for (const { from, to } of edges) {
    const a = agentFolder(from);
    if (!a || !to.startsWith('agent/')) continue;
    const b = agentFolder(to);
    if (b === a) continue;
    if (!(a in AGENT_ALLOWED)) wrong.push(`${from}: agent/${a}/ is not a declared folder of agent/`);
    else if (b === undefined) wrong.push(`${from} imports the daemon shell (${to})`);
    else if (!AGENT_ALLOWED[a]!.includes(b)) wrong.push(`${from} imports ${to} (agent/${a}/ may import ${AGENT_ALLOWED[a]!.map((f) => `agent/${f}/`).join(', ') || 'no other agent/ folder'})`);
  }
  assert.deepEqual(wrong, []);
});

test("ARCHITECTURE.md names each agent/ folder's files, every one of them, and only files that exist", () => {
  const doc = readFileSync(posix.join(ROOT, 'ARCHITECTURE.md'), 'utf8');
  const rows = [...doc.matchAll(/^\| `(agent\/[^`]*)`[^|]*\|([^|]*)\|/gm)];
  assert.ok(rows.length >= 6, 'the table of agent/ folders');
  for (const [, folder, owns] of rows) {
    const dir = folder!.replace(/\*\.ts$/, '');
    const named = [...owns!.matchAll(/`([a-z-]+\.ts)`/g)].map((m) => m[1]!).sort();
    if (!named.length) continue;
    const actual = [...graph.keys()].filter((f) => posix.dirname(f) === dir.replace(/\/$/, '')).map((f) => posix.basename(f)).sort();
    assert.deepEqual(named, actual, `ARCHITECTURE.md's row for ${folder}`);
  }
  for (const [, path] of doc.matchAll(/`((?:agent|common|cli|indexer|schema|kibana|native|bpf|local-services|docs-gen)\/[^`*\s]*)`/g)) {
    assert.ok(existsSync(posix.join(ROOT, path!)), `ARCHITECTURE.md names ${path}`);
  }
});
