// The text of a compressed batch (spooled, dead-lettered or as the shipper sent it), whichever
// encoding it is in: tests read what the agent wrote without assuming --batch-compression.
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { encodingOf } from '../../common/batch-encoding.js';

export function unpackBatch(body: Buffer): string {
  const encoding = encodingOf(body);
  if (!encoding) throw new Error(`not a compressed batch: starts with ${body.subarray(0, 4).toString('hex')}`);
  return (encoding === 'zstd' ? zstdDecompressSync(body) : gunzipSync(body)).toString('utf8');
}
