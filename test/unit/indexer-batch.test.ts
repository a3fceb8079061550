// A batch's lines as the indexer turns them into _bulk entries (indexer/ndjson.ts): the bulk
// body is byte for byte the action lines with the ids and indices of old and the lines as sent,
// and a line the scanner would otherwise take is refused when it is not UTF-8.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BulkEntries, SlabPool } from '../../indexer/arena.js';
import { bulkBody, splitByBytes } from '../../indexer/bulk-body.js';
import { HttpError } from '../../indexer/http-error.js';
import { BatchBuilder } from '../../indexer/ndjson.js';
import { FLOW_CONTRACT } from '../../schema/index.js';
import { sampleFlowLog } from '../support/documents.js';

const LIMITS = { maxDocs: 1000, maxDepth: 32, notBeforeMs: 0, notAfterMs: Date.parse('2030-01-01T00:00:00Z') };

function batchOf(lines: Buffer[]): { batch: BatchBuilder; entries: BulkEntries } {
  const entries = new BulkEntries('create', new SlabPool(1 << 20));
  const batch = new BatchBuilder(FLOW_CONTRACT, LIMITS, entries);
  lines.forEach((line, n) => batch.add(line, n + 1));
  batch.finish();
  return { batch, entries };
}

async function bodyOf(entries: BulkEntries): Promise<string> {
  const pieces: Buffer[] = [];
  for (const group of splitByBytes(entries, 5 << 20)) for await (const piece of bulkBody(entries, group)) pieces.push(piece as Buffer);
  return Buffer.concat(pieces).toString('utf8');
}

describe('batches of flow logs', () => {
  it('make the bulk body of old: the same ids and indices, the lines as sent', async () => {
    const lines = [
      JSON.stringify(sampleFlowLog()),
      JSON.stringify(sampleFlowLog({ process_name: '/bin/é "q"', bytes_in: 7 })),
      // Written otherwise than JSON.stringify would: the full path's, passed through as it is.
      JSON.stringify(sampleFlowLog({ source_port: 1 }), null, 1).replaceAll('\n', ''),
    ];
    const { entries } = batchOf(lines.map((l) => Buffer.from(l)));
    const golden = [
      '{"create":{"_index":"procflow-flows-2026.03.04","_id":"h19pp72wzN7cYcbe-G9_zCEL"}}',
      `{"create":{"_index":"procflow-flows-2026.03.04","_id":"${FLOW_CONTRACT.id(JSON.parse(lines[1]!))}"}}`,
      `{"create":{"_index":"procflow-flows-2026.03.04","_id":"${FLOW_CONTRACT.id(JSON.parse(lines[2]!))}"}}`,
    ];
    assert.equal(await bodyOf(entries), lines.map((l, n) => `${golden[n]}\n${l}\n`).join(''));
  });

  it('refuse a line that is not UTF-8, even one the scanner could read', () => {
    const line = Buffer.from(JSON.stringify(sampleFlowLog({ process_name: '/bin/Xé' })));
    line[line.indexOf('X')] = 0xff;
    assert.throws(
      () => batchOf([Buffer.from(JSON.stringify(sampleFlowLog())), line]),
      (err: unknown) => err instanceof HttpError && err.code === 'invalid_utf8' && err.fields.line === 2,
    );
  });
});
