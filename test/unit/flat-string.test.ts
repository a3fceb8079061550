// Strings that go into many documents are made sequential where they are cached: one cons
// (concatenation) or sliced (substring) string in a flow log sends JSON.stringify off its fast
// path for the whole document (common/flat-string.ts). The representation is V8's, visible only
// to a node started with --allow-natives-syntax, so that part runs in a child.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { flatString } from '../../common/flat-string.js';

test('flatString keeps every character: ASCII, Latin-1, other planes, long text and lone surrogates', () => {
  const cases = [
    '', 'short', 'a'.repeat(13), `${'pod-template-'.repeat(3)}x`, 'café-naïve-façade-ü', 'ワークロード名前空間ラベル値', '🚀 rocket launch label 🛰️',
    `lone ${String.fromCharCode(0xd800)} surrogate in a long string`, 'x'.repeat(100_000), `${'é'.repeat(20_000)}-long-latin1`,
  ];
  for (const s of cases) {
    const copy = flatString(s.slice(0) + '');
    assert.equal(copy, s);
    assert.equal(copy.length, s.length);
  }
});

const here = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));

test('strings cached for documents are sequential: pod names, labels, workloads, container ids, community ids, DNS names, user names, IPv6 addresses', () => {
  // The child builds them the way the agent does and prints V8's type of each.
  const script = `
    const { podInfoFrom } = await import(${JSON.stringify(here('../../agent/kubernetes/pod.js'))});
    const { containerIdFromCgroupPath, podUidFromCgroupPath } = await import(${JSON.stringify(here('../../agent/process/cgroup.js'))});
    const { communityId } = await import(${JSON.stringify(here('../../agent/flows/community-id.js'))});
    const { flatString } = await import(${JSON.stringify(here('../../common/flat-string.js'))});
    const { parseDnsMessage } = await import(${JSON.stringify(here('../../agent/dns/message.js'))});
    const { parsePasswd } = await import(${JSON.stringify(here('../../agent/process/user-names.js'))});
    const { formatAddress } = await import(${JSON.stringify(here('../../native/decode.js'))});
    const hex = 'ab'.repeat(32);
    const pod = podInfoFrom(JSON.parse(JSON.stringify({
      metadata: { uid: 'u1', name: 'checkout-api-7c5d9f-x2x9z', generateName: 'checkout-api-7c5d9f-', namespace: 'shop',
        labels: { 'app.kubernetes.io/name': 'checkout-api', 'pod-template-hash': '7c5d9f' },
        ownerReferences: [{ kind: 'ReplicaSet', name: 'checkout-api-7c5d9f', controller: true }] },
      spec: { containers: [{ name: 'app' }] },
      status: { phase: 'Running', podIP: '10.244.1.5', containerStatuses: [{ name: 'app', containerID: 'containerd://' + hex, image: 'registry.example/checkout:1.2.3', imageID: 'registry.example/checkout@sha256:' + hex }] },
    })));
    const path = '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_4e5f_6a7b_8c9d_0e1f2a3b4c5d.slice/cri-containerd-' + hex + '.scope';
    // A DNS answer: its names are read a label at a time, and an A record's address is a template.
    const wireName = (n) => Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
    const dns = parseDnsMessage(Buffer.concat([
      Buffer.from([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]), wireName('api.checkout.example.com'), Buffer.from([0, 1, 0, 1]),
      Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 168, 100, 200]),
    ]));
    const strings = {
      ipv6: formatAddress(Buffer.from('fd000000000000000000abcd12345678', 'hex'), 0, 6),
      userName: parsePasswd('root:x:0:0::/root:/bin/sh\\nsystemd-resolve:x:990:990::/:/usr/sbin/nologin\\n').get(990),
      dnsQuestion: dns.questions[0].name, dnsAnswerName: dns.answers[0].name, dnsAnswerData: dns.answers[0].data,
      nameAggr: pod.nameAggr, label0: pod.labels[0], label1: pod.labels[1], workload: pod.workload.name, containerId: pod.containers[0].id,
      cgroupContainerId: containerIdFromCgroupPath(path), cgroupPodUid: podUidFromCgroupPath(path),
      communityId: communityId(6, '10.244.1.5', 43512, '10.96.0.10', 53),
      rope: flatString('a-rope-of-two-' + process.pid + '-pieces'), view: flatString(path.slice(5, 60)),
      controlRope: 'a-rope-of-two-' + process.pid + '-pieces', controlView: path.slice(5, 60),
    };
    // Only %DebugPrint writes to stdout (console.log's pipe writes could interleave with it):
    // each field's name, then its value.
    for (const [k, v] of Object.entries(strings)) { %DebugPrint('FIELD ' + k); %DebugPrint(v); }
  `;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const types = new Map<string, string>();
  let field = '';
  let named = false;
  for (const line of r.stdout.split('\n')) {
    const f = /^DebugPrint: .*"FIELD (\S+)"$/.exec(line);
    if (f) [field, named] = [f[1]!, true];
    const t = /^\s*- type: (\S+)/.exec(line);
    // The first type after a name is the name's own; the next is the value's.
    if (t && field) {
      if (named) named = false;
      else if (!types.has(field)) types.set(field, t[1]!);
    }
  }
  // The controls show that the check can fail: V8 makes them a rope and a view.
  const seen = JSON.stringify([...types]);
  assert.match(types.get('controlRope') ?? '', /^CONS_/, seen);
  assert.match(types.get('controlView') ?? '', /^SLICED_/, seen);
  for (const [k, t] of types) {
    if (k.startsWith('control')) continue;
    assert.doesNotMatch(t, /^(CONS|SLICED)_/, `${k} is a ${t}: copy it with flatString where it is cached`);
  }
  assert.equal(types.size, 17, seen);
});
