// The document contract: validators, deterministic ids, daily index names, and the mapping and
// templates generated from the field tables.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONTRACTS,
  DEAD_LETTER_FIELDS,
  DNS_CONTRACT,
  DNS_LOG_ID_FIELDS,
  DOC_KINDS,
  FLOW_CONTRACT,
  FLOW_LOG_FIELDS,
  FLOW_LOG_ID_FIELDS,
  PROCESS_CONTRACT,
  PROCESS_EVENT_FIELDS,
  SCHEMA_VERSION,
  buildTemplates,
  canonicalIp,
  compileValidator,
  dailyIndex,
  ecsAliases,
  leafFields,
  mappingProperties,
  type DnsLog,
  type FlowLog,
  type ProcessEventDoc,
} from '../../schema/index.js';
import { sampleDnsLog, sampleFlowLog } from '../support/documents.js';
import { shareJson } from '../../common/doc-json.js';

const flow = (over: Record<string, unknown> = {}): FlowLog => sampleFlowLog(over as Partial<FlowLog>);

const exec = (over: Record<string, unknown> = {}): ProcessEventDoc =>
  ({
    '@timestamp': '2026-03-04T05:06:07.000Z',
    event_type: 'process_exec',
    node_name: 'node-a',
    time: '2026-03-04T05:06:07.000Z',
    process_exec: {
      process: { exec_id: 'bm9kZS1hOjE', pid: 10, binary: '/usr/bin/whoami', pod: { namespace: 'default', container: { id: 'abc' } } },
      parent: { exec_id: 'bm9kZS1hOjA', pid: 1, binary: '/sbin/init' },
    },
    ...over,
  }) as ProcessEventDoc;

describe('flow log validator', () => {
  const v = FLOW_CONTRACT.validate;

  it('accepts a complete flow log, with or without the optional fields', () => {
    assert.equal(v(flow()), null);
    const { source_ip: _a, source_port: _b, process_args: _c, ...aggregated } = flow();
    assert.equal(v(aggregated), null, 'source ip/port and args may be aggregated away');
    assert.equal(v(flow({ start_time: 1772600752000 })), null, 'epoch milliseconds are dates');
    assert.equal(v(flow({ community_id: null })), null, 'null counts as absent for optional fields');
  });

  it('checks a value again after a different one: a repeated valid value passes, a bad one fails every time', () => {
    const ip = (dest_ip: string) => v(flow({ dest_ip }));
    const when = (t: string) => v(flow({ start_time: t }));
    for (let round = 0; round < 2; round++) {
      assert.equal(ip('10.0.0.9'), null);
      assert.equal(ip('10.0.0.9'), null);
      assert.match(String(ip('10.0.0.999')), /dest_ip/);
      assert.match(String(ip('10.0.0.999')), /dest_ip/);
      assert.equal(when('2026-03-04T05:06:07.000Z'), null);
      assert.match(String(when('2026-13-04T05:06:07.000Z')), /start_time/);
      assert.equal(when('2026-03-04T05:06:07.000Z'), null);
    }
  });

  it('names the missing required field', () => {
    for (const f of ['host', '@timestamp', 'process_name', 'bytes_out', 'reporter']) {
      const d: Record<string, unknown> = flow();
      delete d[f];
      assert.equal(v(d), `missing required field "${f}"`);
    }
  });

  it('names the field with the wrong type and says what it got', () => {
    assert.match(v(flow({ bytes_in: '12' }))!, /^field "bytes_in" must be an integer, got the string "12"/);
    assert.match(v(flow({ bytes_in: 1.5 }))!, /^field "bytes_in" must be an integer/);
    assert.match(v(flow({ source_ip: '10.0.0.256' }))!, /^field "source_ip" must be an IPv4 or IPv6 address/);
    assert.match(v(flow({ host: 7 }))!, /^field "host" must be a string, got number 7/);
    assert.match(v(flow({ end_time: 'yesterday' }))!, /^field "end_time" must be an ISO-8601 date/);
    assert.match(v(flow({ process_args: '-s' }))!, /^field "process_args" must be an array/);
    assert.match(v(flow({ process_args: ['-s', 3] }))!, /^field "process_args\[1\]" must be a string/);
    assert.match(v(flow({ process_args_truncated: 'yes' }))!, /must be true or false/);
  });

  it('judges each key by its own field whatever order the documents before it came in', () => {
    // The validator expects the keys of the document before, in its order: documents in other
    // orders, with a key missing, an unknown key or a bad value where a good one stood must still
    // be judged field by field.
    const good = flow();
    const reversed = Object.fromEntries(Object.entries(good).reverse());
    const { bytes_out: _b, ...without } = good;
    for (let round = 0; round < 3; round++) {
      assert.equal(v(good), null);
      assert.equal(v(reversed), null);
      assert.equal(v(without), 'missing required field "bytes_out"');
      assert.equal(v({ ...good, bytes_in: -1 }), v({ ...reversed, bytes_in: -1 }));
      assert.match(String(v({ ...good, bytes_in: -1 })), /bytes_in/);
      assert.equal(v(Object.fromEntries(Object.entries(good).map(([k, x]) => (k === 'host' ? ['hots', x] : [k, x])))), 'unknown field "hots"');
      // Same position, another key: the source port where the destination's stood.
      const swapped = Object.fromEntries(Object.entries(good).map(([k, x]) => (k === 'dest_port' ? ['source_port', 70_000] : k === 'source_port' ? ['dest_port', x] : [k, x])));
      assert.match(String(v(swapped)), /^field "source_port"/);
    }
  });

  it('refuses unknown fields and non-objects', () => {
    assert.equal(v(flow({ bytes: 1 })), 'unknown field "bytes"');
    assert.match(v([flow()])!, /must be a JSON object, got an array/);
    assert.match(v('x')!, /must be a JSON object/);
    assert.match(v(null)!, /must be a JSON object, got null/);
  });
});

describe('counters, ids and ports', () => {
  const v = FLOW_CONTRACT.validate;

  it('refuses a negative value in every numeric flow log field, naming the field', () => {
    const longs = leafFields(FLOW_LOG_FIELDS).filter((l) => l.spec.type === 'long').map((l) => l.path);
    for (const f of ['bytes_in', 'bytes_out', 'packets_in', 'packets_out', 'num_flows', 'num_flows_started', 'num_flows_completed', 'num_process_names', 'num_process_ids', 'num_process_args', 'source_port', 'dest_port', 'tcp_mean_smooth_rtt', 'tcp_total_retransmissions', 'process_user_id']) {
      assert.ok(longs.includes(f), `${f} is a long`);
    }
    for (const f of longs) {
      assert.match(v(flow({ [f]: -5 })) ?? 'accepted', new RegExp(`^field "${f}" must be 0 (or more|to \\d+), got -5$`), f);
      assert.equal(v(flow({ [f]: 0 })), null, `${f}: 0 is valid`);
    }
  });

  it('keeps ports within 0 to 65535 and process ids to digits, "*" or "-"', () => {
    assert.equal(v(flow({ dest_port: 65_536 })), 'field "dest_port" must be 0 to 65535, got 65536');
    assert.equal(v(flow({ source_port: 70_000 })), 'field "source_port" must be 0 to 65535, got 70000');
    assert.equal(v(flow({ dest_port: 65_535, source_port: 0 })), null);
    assert.equal(v(flow({ process_id: '-5' })), 'field "process_id" must be a process id (digits), "*" or "-", got the string "-5"');
    assert.match(v(flow({ process_id: '12 ' }))!, /^field "process_id" must be a process id/);
    for (const id of ['1', '4242', '*', '-']) assert.equal(v(flow({ process_id: id })), null, id);
  });

  it('walks a shared process record once: found valid, it stays valid; one found invalid is named every time', () => {
    const p = PROCESS_CONTRACT.validate;
    let reads = 0;
    const counted = (over: Record<string, unknown>) => {
      const r: Record<string, unknown> = { exec_id: 'x', binary: '/b', ...over };
      Object.defineProperty(r, 'pid', { enumerable: true, get: () => (reads++, over.pid ?? 10) });
      return r;
    };
    const shared = counted({});
    shareJson(shared);
    for (let i = 0; i < 3; i++) assert.equal(p(exec({ process_exec: { process: shared, parent: shared } })), null);
    assert.equal(reads, 2, 'the shared record was checked once as a process, once as a parent (its own table)');
    const own = counted({});
    for (let i = 0; i < 3; i++) assert.equal(p(exec({ process_exec: { process: own } })), null);
    assert.equal(reads, 5, 'a record nobody shares is checked each time');
    const bad = counted({ pid: -1 });
    shareJson(bad);
    for (let i = 0; i < 2; i++) assert.equal(p(exec({ process_exec: { process: bad } })), 'field "process_exec.process.pid" must be 0 or more, got -1');
  });

  it('refuses negative pids and uids and exit statuses outside 0-255 in process events', () => {
    const p = PROCESS_CONTRACT.validate;
    const proc = (over: Record<string, unknown>) => ({ exec_id: 'x', pid: 10, binary: '/b', ...over });
    assert.equal(p(exec({ process_exec: { process: proc({ pid: -1 }) } })), 'field "process_exec.process.pid" must be 0 or more, got -1');
    assert.equal(p(exec({ process_exec: { process: proc({}), parent: proc({ uid: -3 }) } })), 'field "process_exec.parent.uid" must be 0 to 4294967295, got -3');
    const exit = (status: number) => ({ '@timestamp': '2026-03-04T05:06:08Z', event_type: 'process_exit', node_name: 'n', time: '2026-03-04T05:06:08Z', process_exit: { process: proc({}), status } });
    assert.equal(p(exit(256)), 'field "process_exit.status" must be 0 to 255, got 256');
    assert.equal(p(exit(-1)), 'field "process_exit.status" must be 0 to 255, got -1');
    assert.equal(p(exit(255)), null);
  });

  it('compiles min and max on any numeric field, arrays included', () => {
    const check = compileValidator({
      ratio: { type: 'double', min: 0, max: 1, description: 'a share' },
      sizes: { type: 'long', array: true, min: 1, description: 'sizes' },
      offset: { type: 'long', max: 10, description: 'an offset' },
    });
    assert.equal(check({ ratio: 0.5, sizes: [1, 2], offset: -100 }), null);
    assert.equal(check({ ratio: 1.5 }), 'field "ratio" must be 0 to 1, got 1.5');
    assert.equal(check({ sizes: [3, 0] }), 'field "sizes[1]" must be 1 or more, got 0');
    assert.equal(check({ offset: 11 }), 'field "offset" must be 10 or less, got 11');
  });
});

describe('process event validator', () => {
  const v = PROCESS_CONTRACT.validate;

  it('accepts exec and exit events in the Tetragon shape', () => {
    assert.equal(v(exec()), null);
    const exit = { '@timestamp': '2026-03-04T05:06:08Z', event_type: 'process_exit', node_name: 'node-a', time: '2026-03-04T05:06:08Z', process_exit: { process: { exec_id: 'x', pid: 10, binary: '/bin/true' }, status: 0, signal: 'SIGKILL' } };
    assert.equal(v(exit), null);
  });

  it('names nested fields by their dotted path', () => {
    const d = exec();
    delete (d.process_exec!.process as Record<string, unknown>).binary;
    assert.equal(v(d), 'missing required field "process_exec.process.binary"');
    assert.match(v(exec({ process_exec: { process: { exec_id: 'x', pid: 'ten', binary: '/b' } } }))!, /^field "process_exec.process.pid" must be an integer/);
    assert.equal(v(exec({ process_exec: { process: { exec_id: 'x', pid: 1, binary: '/b', pod: { zone: 'a' } } } })), 'unknown field "process_exec.process.pod.zone"');
  });

  it('requires the body that matches event_type', () => {
    assert.match(v(exec({ event_type: 'process_exit' }))!, /process_exit event needs "process_exit"/);
    assert.match(v(exec({ event_type: 'process_kprobe' }))!, /must be process_exec or process_exit/);
  });
});

describe('DNS log validator', () => {
  const v = DNS_CONTRACT.validate;
  const dns = (over: Record<string, unknown> = {}): DnsLog => sampleDnsLog(over as Partial<DnsLog>);

  it('accepts a sample DNS log, and one without answers or latency', () => {
    assert.equal(v(dns()), null);
    const { latency_mean: _m, latency_max: _x, latency_min: _n, latency_p50: _a, latency_p90: _b, latency_p99: _c, dns_resolved_ip: _r, ...bare } = dns({ rrsets: [], rcode: 'NXDomain', latency_count: 0 });
    assert.equal(v(bare), null);
  });

  it('refuses what a DNS log cannot hold: a count of 0, a server that is not an address, answers that are not objects, an unknown field', () => {
    assert.match(v(dns({ count: 0 })) ?? '', /count/);
    assert.match(v(dns({ servers: [{ ip: 'not-an-ip' }] })) ?? '', /servers/);
    assert.match(v(dns({ rrsets: ['example.com A 1.2.3.4'] })) ?? '', /rrsets/);
    assert.match(v(dns({ process_id: '12a' })) ?? '', /process_id/);
    assert.match(v({ ...dns(), colour: 'blue' }) ?? '', /colour/);
    const { qname: _q, ...noName } = dns();
    assert.match(v(noName) ?? '', /qname/);
  });

  it('has an id that changes with every identifying field (answers and server included) and not with the count or latency', () => {
    const base = DNS_CONTRACT.id(dns());
    for (const f of DNS_LOG_ID_FIELDS) {
      const value = f === 'servers' ? [{ ip: '192.0.2.9', port: 53 }] : f === 'rrsets' ? [] : f === 'client_ip' ? '192.0.2.9' : f.endsWith('time') ? '2027-01-01T00:00:00Z' : `${String(dns()[f] ?? '')}x`;
      assert.notEqual(DNS_CONTRACT.id(dns({ [f]: value })), base, `${f} is part of the id`);
    }
    assert.equal(DNS_CONTRACT.id(dns({ count: 9, latency_max: 1 })), base);
    assert.equal(DNS_CONTRACT.index(dns()), 'procflow-dns-2026.03.04');
  });

  it('every kind has a contract, and each its own route', () => {
    assert.deepEqual(Object.keys(CONTRACTS).sort(), [...DOC_KINDS].sort());
    assert.equal(new Set(Object.values(CONTRACTS).map((c) => c.route)).size, DOC_KINDS.length);
    for (const k of DOC_KINDS) assert.equal(CONTRACTS[k].kind, k);
  });
});

describe('deterministic ids', () => {
  it('gives the same flow the same id, whatever the key order', () => {
    const a = flow();
    const b = Object.fromEntries(Object.entries(flow()).reverse()) as FlowLog;
    assert.equal(FLOW_CONTRACT.id(a), FLOW_CONTRACT.id(b));
    assert.match(FLOW_CONTRACT.id(a), /^[A-Za-z0-9_-]{24}$/);
  });

  it('changes with every identifying field and not with the counters', () => {
    const base = FLOW_CONTRACT.id(flow());
    for (const f of FLOW_LOG_ID_FIELDS) {
      const changed = flow({ [f]: f.endsWith('_ip') ? '192.0.2.9' : f.endsWith('_port') ? 1 : f.endsWith('time') ? '2027-01-01T00:00:00Z' : `${String(flow()[f] ?? '')}x` });
      assert.notEqual(FLOW_CONTRACT.id(changed), base, `${f} is part of the id`);
    }
    assert.equal(FLOW_CONTRACT.id(flow({ bytes_in: 99, packets_out: 7 })), base, 'a re-sent flow with other counters overwrites');
  });

  it('tells an absent field from an empty one', () => {
    const { process_exec_id: _x, ...absent } = flow({ process_exec_id: 'e' });
    assert.notEqual(FLOW_CONTRACT.id(absent as FlowLog), FLOW_CONTRACT.id(flow({ process_exec_id: '' })));
  });

  it('cannot be made to collide by values that contain a separator or an absent-field marker', () => {
    // Under the old encoding (fields joined with \u001f, absent as \u0000) each pair hashed the
    // same bytes: a hostile agent could overwrite another host's flow or process event.
    const a = flow({ source_name_aggr: 'web\u001fprod', source_namespace: 'x' });
    const b = flow({ source_name_aggr: 'web', source_namespace: 'prod\u001fx' });
    assert.notEqual(FLOW_CONTRACT.id(a), FLOW_CONTRACT.id(b));
    const { process_exec_id: _x, ...absent } = flow();
    assert.notEqual(FLOW_CONTRACT.id(absent as FlowLog), FLOW_CONTRACT.id(flow({ process_exec_id: '\u0000' })));
    const e1 = exec({ node_name: 'node-a\u001fbm9kZS1hOjE' });
    const e2 = exec({ node_name: 'node-a', process_exec: { process: { exec_id: 'bm9kZS1hOjE\u001fbm9kZS1hOjE', pid: 10, binary: '/usr/bin/whoami' } } });
    assert.notEqual(PROCESS_CONTRACT.id(e1), PROCESS_CONTRACT.id(e2));
    // A lone surrogate and U+FFFD encode to the same UTF-8 bytes; the ids must still differ.
    assert.notEqual(FLOW_CONTRACT.id(flow({ process_name: '/bin/\ud800' })), FLOW_CONTRACT.id(flow({ process_name: '/bin/\ufffd' })));
  });

  it('begin with the node and the second, so neighbours in an index share a prefix', () => {
    const bytes = (d: FlowLog) => Buffer.from(FLOW_CONTRACT.id(d), 'base64url');
    const a = bytes(flow());
    const sameSecond = bytes(flow({ source_port: 40001, start_time: flow().start_time.replace(/(\.\d{3})?Z$/, '.999Z') }));
    assert.equal(a.length, 18);
    assert.deepEqual(sameSecond.subarray(0, 6), a.subarray(0, 6), 'one node, one second: 6 bytes in common');
    assert.notDeepEqual(sameSecond.subarray(6), a.subarray(6));
    const second = Math.floor(Date.parse(flow().start_time) / 1000);
    assert.equal(a.readUInt32BE(2), second, 'bytes 2 to 5 are the second of start_time');
    assert.notDeepEqual(bytes(flow({ host: 'another-node' })).subarray(0, 2), a.subarray(0, 2));
  });

  it('identifies process events by type, node, exec_id and time', () => {
    const e = exec();
    assert.equal(PROCESS_CONTRACT.id(e), PROCESS_CONTRACT.id(exec()));
    assert.notEqual(PROCESS_CONTRACT.id(e), PROCESS_CONTRACT.id(exec({ time: '2026-03-04T05:06:07.001Z' })));
    assert.notEqual(PROCESS_CONTRACT.id(e), PROCESS_CONTRACT.id(exec({ node_name: 'node-b' })));
  });
});

describe('daily indices', () => {
  it('names the UTC day of the document timestamp', () => {
    assert.equal(dailyIndex('flows', '2026-03-04T23:59:59.999Z'), 'procflow-flows-2026.03.04');
    assert.equal(dailyIndex('flows', '2026-03-05T00:00:00Z'), 'procflow-flows-2026.03.05');
    assert.equal(dailyIndex('process', '2026-03-05T01:00:00+02:00'), 'procflow-process-2026.03.04', 'offsets are converted to UTC');
    assert.equal(dailyIndex('deadletter', Date.UTC(2026, 0, 9, 12)), 'procflow-deadletter-2026.01.09');
    assert.equal(FLOW_CONTRACT.index(flow()), 'procflow-flows-2026.03.04');
    assert.equal(PROCESS_CONTRACT.index(exec()), 'procflow-process-2026.03.04');
  });

  it('refuses what is not a timestamp', () => {
    assert.throws(() => dailyIndex('flows', 'soon'), RangeError);
  });
});

describe('mapping generation', () => {
  const props = mappingProperties(FLOW_LOG_FIELDS) as Record<string, Record<string, unknown>>;

  it('maps Calico flow-log fields to ip, keyword, long and date', () => {
    assert.equal(props.source_ip!.type, 'ip');
    assert.equal(props.dest_ip!.type, 'ip');
    assert.equal(props.process_name!.type, 'keyword');
    assert.equal(props.process_name!.ignore_above, 4096);
    assert.equal(props.bytes_in!.type, 'long');
    assert.equal(props['@timestamp']!.type, 'date');
    assert.equal(props.start_time!.format, 'strict_date_optional_time||epoch_millis');
    assert.equal(props.process_args_truncated!.type, 'boolean');
  });

  it('adds ECS aliases pointing at the Calico fields', () => {
    const source = props.source as { properties: Record<string, { type: string; path: string }> };
    assert.deepEqual(source.properties.ip, { type: 'alias', path: 'source_ip' });
    const proc = props.process as { properties: Record<string, { type: string; path: string }> };
    assert.deepEqual(proc.properties.executable, { type: 'alias', path: 'process_name' });
    const aliases = ecsAliases(FLOW_LOG_FIELDS);
    assert.equal(aliases.get('destination.port'), 'dest_port');
    assert.equal(aliases.get('network.transport'), 'proto');
    for (const [alias, target] of aliases) assert.ok(Object.hasOwn(FLOW_LOG_FIELDS, target), `${alias} points at a real field`);
  });

  it('maps nested process event objects and keeps dead-letter sources stored only', () => {
    const p = mappingProperties(PROCESS_EVENT_FIELDS) as Record<string, { properties?: Record<string, { properties?: Record<string, { type: string }> }> }>;
    assert.equal(p.process_exec!.properties!.process!.properties!.pid!.type, 'long');
    assert.ok(leafFields(PROCESS_EVENT_FIELDS).some((l) => l.path === 'process_exit.process.pod.container.id'));
    const dl = mappingProperties(DEAD_LETTER_FIELDS) as Record<string, Record<string, unknown>>;
    assert.deepEqual(dl.source, { type: 'keyword', index: false, doc_values: false });
  });

  it('builds strict templates carrying the schema version, with ILM only where the cluster has it', () => {
    const without = buildTemplates({ capabilities: { ilm: false, logsdb: null }, retentionDays: 3 });
    assert.equal(without.ilmPolicy, null);
    assert.deepEqual(without.indexTemplates.map((t) => t.body.index_patterns), [['procflow-flows-*'], ['procflow-process-*'], ['procflow-dns-*'], ['procflow-deadletter-*']]);
    for (const t of without.indexTemplates) assert.deepEqual((t.body._meta as { schema_version: number }).schema_version, SCHEMA_VERSION);
    const mappings = without.components.find((c) => c.name === 'procflow-flows-mappings')!.body.template.mappings as { dynamic: string };
    assert.equal(mappings.dynamic, 'strict');
    const settings = JSON.stringify(without.components.find((c) => c.name === 'procflow-settings')!.body);
    assert.ok(!settings.includes('lifecycle'));

    assert.match(settings, /"codec":"best_compression"/);
    const sortOf = (kind: string) => (without.indexTemplates.find((t) => t.name === `procflow-${kind}`)!.body.template as { settings?: { index: { sort: unknown } } } | undefined)?.settings?.index.sort;
    assert.deepEqual(sortOf('flows'), { field: ['host', 'process_name', 'dest_name', '@timestamp'], order: ['asc', 'asc', 'asc', 'desc'] });
    assert.deepEqual(sortOf('process'), { field: ['node_name', '@timestamp'], order: ['asc', 'desc'] });
    assert.deepEqual(sortOf('dns'), { field: ['host', '@timestamp'], order: ['asc', 'desc'] });
    assert.equal(sortOf('deadletter'), undefined);

    const withIlm = buildTemplates({ capabilities: { ilm: true, logsdb: null }, retentionDays: 3 });
    assert.ok(withIlm.ilmPolicy);
    assert.match(JSON.stringify(withIlm.ilmPolicy.body), /"min_age":"3d"/);
    assert.match(JSON.stringify(withIlm.components.find((c) => c.name === 'procflow-settings')!.body), /"lifecycle.name":"procflow-retention"/);
  });

  it('gives the sorted kinds logsdb where the cluster has it, with the sort spelled out, and never the dead letters', () => {
    const modeOf = (set: ReturnType<typeof buildTemplates>, kind: string) =>
      (set.indexTemplates.find((t) => t.name === `procflow-${kind}`)!.body.template as { settings?: { index: { mode?: string; sort?: unknown } } } | undefined)?.settings?.index;
    const logsdb = buildTemplates({ capabilities: { ilm: false, logsdb: { source: 'synthetic' } }, retentionDays: 3 });
    const standard = buildTemplates({ capabilities: { ilm: false, logsdb: null }, retentionDays: 3 });
    for (const kind of ['flows', 'process', 'dns']) {
      assert.equal(modeOf(logsdb, kind)!.mode, 'logsdb', kind);
      assert.deepEqual(modeOf(logsdb, kind)!.sort, modeOf(standard, kind)!.sort, `${kind}: the same explicit sort either way`);
      assert.equal(modeOf(standard, kind)!.mode, undefined);
    }
    assert.equal(modeOf(logsdb, 'deadletter'), undefined, 'dead letters keep their stored-only source field in a standard index');
    assert.deepEqual(logsdb.components, standard.components, 'the mappings do not depend on the index mode');
  });

  it('maps counters, times and hashes nobody filters by as doc values only, and keeps the fields people filter by indexed', () => {
    const p = mappingProperties(FLOW_LOG_FIELDS) as Record<string, Record<string, unknown>>;
    for (const f of ['bytes_in', 'packets_out', 'source_port', 'start_time', 'end_time', 'community_id', 'tcp_mean_smooth_rtt', 'dest_container_image_id']) {
      assert.equal(p[f]!.index, false, f);
      assert.notEqual(p[f]!.doc_values, false, `${f} keeps its doc values (aggregations, synthetic _source)`);
    }
    for (const f of ['@timestamp', 'host', 'source_ip', 'dest_ip', 'dest_port', 'process_name', 'process_args', 'process_exec_id', 'dest_domains', 'proto']) {
      assert.equal(p[f]!.index, undefined, f);
    }
    const d = mappingProperties(DNS_CONTRACT.fields) as Record<string, Record<string, unknown>>;
    assert.equal(d.latency_p99!.index, false);
    assert.equal(d.qname!.index, undefined);
  });

  it('puts documents in one form whether read back from a stored or a synthetic _source', () => {
    const sent = flow({
      '@timestamp': '2026-03-04T05:06:07Z',
      start_time: '2026-03-04T07:05:52+02:00',
      end_time: '2026-03-04T05:06:07',
      source_ip: '::ffff:10.0.0.1',
      dest_ip: '2001:0DB8:0:0::7',
      process_args: ['b a', 'a b'],
      process_exec_id: null as unknown as string,
      dest_labels: [],
    });
    const synthetic = {
      ...flow(),
      '@timestamp': '2026-03-04T05:06:07.000Z',
      start_time: '2026-03-04T05:05:52.000Z',
      end_time: '2026-03-04T05:06:07.000Z',
      source_ip: '10.0.0.1',
      dest_ip: '2001:db8::7',
      process_args: ['b a', 'a b'],
    };
    assert.deepEqual(FLOW_CONTRACT.canonical(sent), FLOW_CONTRACT.canonical(synthetic));
    assert.notDeepEqual(FLOW_CONTRACT.canonical(sent), FLOW_CONTRACT.canonical({ ...synthetic, process_args: ['a b', 'b a'] }), 'array order is content');
    assert.notDeepEqual(FLOW_CONTRACT.canonical(sent), FLOW_CONTRACT.canonical({ ...synthetic, dest_ip: '2001:db8::8' }));
    assert.deepEqual(FLOW_CONTRACT.canonical(flow({ process_args: ['x'] })), FLOW_CONTRACT.canonical(flow({ process_args: 'x' as unknown as string[] })), 'a one-element array read back as its element');
    const dns = sampleDnsLog({ servers: [{ ip: '::ffff:10.96.0.10', port: 53 }] });
    assert.deepEqual(DNS_CONTRACT.canonical(dns), DNS_CONTRACT.canonical(sampleDnsLog({ servers: [{ ip: '10.96.0.10', port: 53 }] })), 'inside object arrays too');
    assert.equal(canonicalIp('::1'), '0:0:0:0:0:0:0:1');
    assert.equal(canonicalIp('1::'), '1:0:0:0:0:0:0:0');
    assert.equal(canonicalIp('64:ff9b::192.0.2.33'), '64:ff9b:0:0:0:0:c000:221');
    assert.equal(canonicalIp('fe80::1%eth0'), 'fe80:0:0:0:0:0:0:1');
  });
});
