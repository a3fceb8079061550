// The shipped saved objects, checked without Kibana: the committed NDJSON is what the
// TypeScript definitions generate, every object has the envelope a Kibana 9 export carries,
// every reference resolves, and every field a panel, control or search reads exists in the
// schema's mapping with a type that supports what the panel does with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ndjsonPath } from '../../kibana/generate.js';
import { buildSavedObjects, toNdjson } from '../../kibana/objects.js';
import { TYPE_MIGRATION_VERSION, CORE_MIGRATION_VERSION, type SavedObject } from '../../kibana/format.js';
import { dashboardControls, fieldUses } from '../../kibana/es-query.js';
import { ecsAliases, leafFields, DNS_LOG_FIELDS, DNS_PATTERN, FLOW_LOG_FIELDS, PROCESS_EVENT_FIELDS, FLOWS_PATTERN, PROCESS_PATTERN, type FieldSpec, type FieldTable } from '../../schema/index.js';

const committed = readFileSync(ndjsonPath(), 'utf8');
const objects = committed.trim().split('\n').map((line, n) => {
  try {
    return JSON.parse(line) as SavedObject;
  } catch (err) {
    throw new Error(`kibana/procflow.ndjson line ${n + 1} is not JSON: ${(err as Error).message}`);
  }
});
const key = (type: string, id: string) => `${type}/${id}`;
const byKey = new Map(objects.map((o) => [key(o.type, o.id), o]));

test('the committed NDJSON is exactly what the definitions generate', () => {
  assert.equal(committed, toNdjson(buildSavedObjects()), 'kibana/procflow.ndjson is stale: run `node dist/kibana/generate.js` and commit it');
});

test('every object has the envelope of a Kibana 9 export', () => {
  assert.ok(objects.length >= 10);
  for (const o of objects) {
    assert.deepEqual(Object.keys(o), ['attributes', 'coreMigrationVersion', 'id', 'managed', 'references', 'type', 'typeMigrationVersion'], o.id);
    assert.equal(o.coreMigrationVersion, CORE_MIGRATION_VERSION);
    assert.equal(o.typeMigrationVersion, TYPE_MIGRATION_VERSION[o.type], `${o.type}/${o.id}`);
    assert.equal(o.managed, false);
    assert.equal(typeof o.attributes.title, 'string', `${o.id} has a title`);
  }
  assert.equal(byKey.size, objects.length, 'ids are unique per type');
  // JSON-in-string attributes must themselves parse, as Kibana parses them on load.
  for (const o of objects) {
    const strings = [o.attributes.panelsJSON, o.attributes.optionsJSON, o.attributes.fieldFormatMap, (o.attributes.kibanaSavedObjectMeta as { searchSourceJSON?: string } | undefined)?.searchSourceJSON, (o.attributes.controlGroupInput as { panelsJSON?: string } | undefined)?.panelsJSON];
    for (const s of strings) if (s !== undefined) assert.doesNotThrow(() => JSON.parse(String(s)), o.id);
  }
});

test('the data views cover the flow, process and DNS indices by @timestamp', () => {
  const views = objects.filter((o) => o.type === 'index-pattern');
  assert.deepEqual(views.map((v) => [v.attributes.title, v.attributes.timeFieldName]).sort(), [[DNS_PATTERN, '@timestamp'], [FLOWS_PATTERN, '@timestamp'], [PROCESS_PATTERN, '@timestamp']].sort());
  const dns = byKey.get('index-pattern/procflow-dns')!;
  const formats = JSON.parse(String(dns.attributes.fieldFormatMap)) as Record<string, { id: string; params?: { inputFormat?: string } }>;
  assert.deepEqual(formats.latency_p99, { id: 'duration', params: { inputFormat: 'nanoseconds', outputFormat: 'humanizePrecise', outputPrecision: 1 } }, 'DNS latencies are nanoseconds');
});

test('the five dashboards exist with panels and controls', () => {
  const titles = objects.filter((o) => o.type === 'dashboard').map((o) => o.attributes.title);
  assert.deepEqual(titles, ['procflow: Flow overview', 'procflow: Process network activity', 'procflow: Workloads and Services', 'procflow: Process lifecycle', 'procflow: DNS']);
  const lifecycle = byKey.get('dashboard/procflow-process-lifecycle')!;
  assert.deepEqual(dashboardControls(lifecycle).map((c) => c.field), ['node_name', 'process.executable'], 'the Binary control filters exec and exit events alike');
  assert.deepEqual(dashboardControls(byKey.get('dashboard/procflow-workloads')!).map((c) => c.field), ['source_namespace', 'source_workload', 'dest_service_name']);
  const network = byKey.get('dashboard/procflow-process-network')!;
  assert.deepEqual(dashboardControls(network).map((c) => c.field), ['host', 'container_id', 'process_name']);
  const search = byKey.get('search/procflow-procnet-flows-search')!;
  for (const col of ['process_name', 'process_args']) assert.ok((search.attributes.columns as string[]).includes(col));
  const dns = byKey.get('dashboard/procflow-dns-dashboard')!;
  assert.deepEqual(dashboardControls(dns).map((c) => [c.field, c.dataViewId]), [['host', 'procflow-dns'], ['process_name', 'procflow-dns'], ['qname', 'procflow-dns'], ['rcode', 'procflow-dns']]);
  const dnsPanels = (JSON.parse(String(dns.attributes.panelsJSON)) as Array<{ panelIndex: string }>).map((p) => dns.references.find((r) => r.name.startsWith(`${p.panelIndex}:`))!.id);
  assert.deepEqual(dnsPanels, ['procflow-dns-rcodes-over-time', 'procflow-dns-top-domains', 'procflow-dns-failures-by-process', 'procflow-dns-latency', 'procflow-dns-domain-processes', 'procflow-dns-logs-search']);
  for (const id of dnsPanels) {
    const o = objects.find((x) => x.id === id)!;
    assert.ok(o.references.every((r) => r.type === 'index-pattern' && r.id === 'procflow-dns'), `${id} reads the DNS data view`);
  }
  const failures = byKey.get('lens/procflow-dns-failures-by-process')!;
  assert.equal((failures.attributes.state as { query: { query: string } }).query.query, 'rcode : "NXDomain" or rcode : "ServFail"', 'rcodes as the logs spell them');
});

test('every reference resolves, and every panel, layer and control has its reference', () => {
  for (const o of objects) {
    for (const r of o.references) assert.ok(byKey.has(key(r.type, r.id)), `${o.type}/${o.id} references missing ${r.type}/${r.id} (${r.name})`);
    const names = new Set(o.references.map((r) => r.name));
    assert.equal(names.size, o.references.length, `${o.id}: reference names are unique`);
    if (o.type === 'dashboard') {
      const panels = JSON.parse(String(o.attributes.panelsJSON)) as Array<{ panelIndex: string; panelRefName: string; type: string; gridData: { i: string; x: number; w: number } }>;
      for (const p of panels) {
        const ref = o.references.find((r) => r.name === `${p.panelIndex}:${p.panelRefName}`);
        assert.ok(ref, `${o.id} panel ${p.panelIndex} has no reference`);
        assert.equal(ref.type, p.type);
        assert.equal(p.gridData.i, p.panelIndex);
        assert.ok(p.gridData.x + p.gridData.w <= 48, `${o.id} panel ${p.panelIndex} fits the grid`);
      }
      dashboardControls(o); // throws on a control without its data view reference
    }
    if (o.type === 'lens') {
      const layers = (o.attributes.state as { datasourceStates: { formBased: { layers: Record<string, unknown> } } }).datasourceStates.formBased.layers;
      for (const layerId of Object.keys(layers)) assert.ok(names.has(`indexpattern-datasource-layer-${layerId}`), `${o.id} layer ${layerId}`);
    }
    if (o.type === 'search') {
      const source = JSON.parse((o.attributes.kibanaSavedObjectMeta as { searchSourceJSON: string }).searchSourceJSON) as { indexRefName: string };
      assert.ok(names.has(source.indexRefName), `${o.id} index reference`);
    }
  }
});

test('every field the objects read exists in the mapping with a type that fits its use', () => {
  const tables: Record<string, FieldTable> = { [FLOWS_PATTERN]: FLOW_LOG_FIELDS, [PROCESS_PATTERN]: PROCESS_EVENT_FIELDS, [DNS_PATTERN]: DNS_LOG_FIELDS };
  const viewOf = new Map(objects.filter((o) => o.type === 'index-pattern').map((o) => [o.id, String(o.attributes.title)]));
  const dataViewFor = (objectId: string, field: string): string[] => {
    const o = objects.find((x) => x.id === objectId)!;
    if (o.type === 'index-pattern') return [String(o.attributes.title)];
    if (o.type === 'dashboard') return dashboardControls(o).filter((c) => c.field === field).map((c) => viewOf.get(c.dataViewId)!);
    return o.references.filter((r) => r.type === 'index-pattern').map((r) => viewOf.get(r.id)!);
  };
  const uses = fieldUses(objects);
  assert.ok(uses.length > 40);
  for (const u of uses) {
    for (const pattern of dataViewFor(u.object, u.field)) {
      const table = tables[pattern]!;
      const leaves = new Map<string, FieldSpec>(leafFields(table).map((l) => [l.path, l.spec]));
      const target = leaves.has(u.field) ? u.field : ecsAliases(table).get(u.field);
      const spec = target ? leaves.get(target) : undefined;
      assert.ok(spec, `${u.object} reads ${u.field}, which ${pattern} does not map`);
      const where = `${u.object}: ${u.field} (${spec.type}) used as ${u.use}`;
      if (u.use !== 'column' && u.use !== 'format') assert.ok(!spec.storedOnly, `${where}: not indexed`);
      if (u.use === 'numeric') assert.ok(['long', 'double'].includes(spec.type), `${where}: needs a number`);
      if (u.use === 'date_histogram' || u.use === 'time') assert.equal(spec.type, 'date', where);
      if (u.use === 'format' && /bytes|rtt|latency/.test(u.field)) assert.equal(spec.type, 'long', where);
    }
  }
});
