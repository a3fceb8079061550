// `procflow flows` against the real Elasticsearch: a flow whose process path and arguments hold
// a newline and a terminal escape (any process chooses its own argv) prints as one escaped row
// in both tables, and -o json keeps the values unchanged. --top 0 is a config error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { FLOW_CONTRACT, dailyIndex, type FlowLog } from '../../schema/index.js';
import { installTemplates } from '../../schema/install.js';
import { sampleFlowLog } from '../support/documents.js';
import { getTestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';

const CLI = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));

test('procflow flows prints control characters in process names and arguments escaped, one row a line', async (t) => {
  const res = await getTestCluster();
  if (!res.cluster) return skipOrFail(t, res.reason);
  const { client, url } = res.cluster;
  const host = `flows-ctl-${randomUUID().slice(0, 8)}`;
  const now = new Date();
  const doc: FlowLog = sampleFlowLog({
    '@timestamp': now.toISOString(),
    start_time: new Date(now.getTime() - 15_000).toISOString(),
    end_time: now.toISOString(),
    host,
    process_name: '/opt/x\u001b[31mred',
    process_args: ['-c echo one\necho two\u0007'],
  });
  assert.equal(FLOW_CONTRACT.validate(doc), null);
  await installTemplates(client, { retentionDays: 7 });
  const index = dailyIndex('flows', doc['@timestamp']);
  const id = FLOW_CONTRACT.id(doc);
  await client.index({ index, id, document: doc, refresh: true });
  t.after(async () => {
    // By id (the test distribution has no delete-by-query); the daily index is shared with others.
    await client.delete({ index, id, refresh: true });
    await res.cluster.stop();
  });

  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'flows', '--es-url', url, '--host', host, '--since', '10m', ...args], { encoding: 'utf8', timeout: 60_000 });
  const out = run('--latest', '5');
  assert.equal(out.status, 0, out.stderr);
  const lines = out.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 5, `talkers header + 1 row, a blank line, latest header + 1 row:\n${out.stdout}`);
  assert.match(lines[1]!, /^\/opt\/x\\x1b\[31mred +300 B +1\.2 KiB +1 /);
  assert.ok(lines[4]!.endsWith('/opt/x\\x1b[31mred -c echo one\\necho two\\x07'), lines[4]);
  assert.ok(!/[\u0000-\u0009\u000b-\u001f]/.test(out.stdout), 'no control character but the line ends reaches the terminal');

  const json = run('-o', 'json', '--latest', '1');
  assert.equal(json.status, 0, json.stderr);
  const body = JSON.parse(json.stdout) as { talkers: Array<{ process: string }>; latest: FlowLog[] };
  assert.equal(body.talkers[0]!.process, '/opt/x\u001b[31mred');
  assert.deepEqual(body.latest[0]!.process_args, ['-c echo one\necho two\u0007']);
});

test('procflow flows --top 0 is refused (it would list nothing and claim there were no flows)', () => {
  const out = spawnSync(process.execPath, [CLI, 'flows', '--es-url', 'http://127.0.0.1:9', '--top', '0'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(out.status, 1);
  assert.match(out.stderr, /--top \(PROCFLOW_TOP\) must be at least 1, got 0/);
});
