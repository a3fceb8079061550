// How NDJSON batches are compressed on their way from agent to indexer: the one place that
// knows the encodings, their settings, their file suffixes and how to tell them apart.
//
// zstd is the agent's default: on agent flow logs (2 KB of JSON each) it compresses at about a
// third of gzip's CPU (4.7 against 15.2 µs a document, level 3 against gzip's 6; bench:agent's
// compress phase) into a smaller batch (94 against 164 B a document), and the indexer inflates
// it in half the time. gzip stays for indexers older than zstd support and for anyone who reads spooled
// or dead-lettered files with zcat.
import { constants, createGunzip, createGzip, createZstdCompress, createZstdDecompress, gunzip, gzip, zstdCompress, zstdDecompress, type Gunzip, type Gzip, type ZstdCompress, type ZstdDecompress } from 'node:zlib';
import { promisify } from 'node:util';

export const BATCH_ENCODINGS = ['zstd', 'gzip'] as const;
export type BatchEncoding = (typeof BATCH_ENCODINGS)[number];

/**
 * zstd's window (log2 bytes) for batches: the agent compresses with it and the indexer refuses
 * frames that ask for more, so a forged body cannot make it allocate more than this per request
 * (2 MiB; zstd's own limit is 128 MiB). It is level 3's window for input of unknown size.
 */
export const ZSTD_WINDOW_LOG = 21;
const ZSTD_LEVEL = 3;
/** zlib's default balance of speed and size. */
const GZIP_LEVEL = 6;

/** Output handed back per piece: zlib's 16 KiB default makes a compressed batch in many more callbacks (about 15% more CPU for zstd). */
const CHUNK_SIZE = 256 * 1024;
const ZSTD_COMPRESS = { chunkSize: CHUNK_SIZE, params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL, [constants.ZSTD_c_windowLog]: ZSTD_WINDOW_LOG } };
const GZIP_COMPRESS = { chunkSize: CHUNK_SIZE, level: GZIP_LEVEL };
const ZSTD_DECOMPRESS = { params: { [constants.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG } };

/** Spooled batch files end in these (the dead letter keeps them), so zcat or zstdcat reads them. */
export const FILE_SUFFIX: Record<BatchEncoding, string> = { zstd: '.ndjson.zst', gzip: '.ndjson.gz' };

/** The encoding a body starts with (gzip's and zstd's magic numbers); undefined for anything else. */
export function encodingOf(body: Uint8Array): BatchEncoding | undefined {
  if (body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b) return 'gzip';
  if (body.length >= 4 && body[0] === 0x28 && body[1] === 0xb5 && body[2] === 0x2f && body[3] === 0xfd) return 'zstd';
  return undefined;
}

/** A compressing stream of the encoding. */
export function createCompressor(encoding: BatchEncoding): Gzip | ZstdCompress {
  return encoding === 'zstd' ? createZstdCompress(ZSTD_COMPRESS) : createGzip(GZIP_COMPRESS);
}

/** A decompressing stream of the encoding, with the window limit for zstd. */
export function createDecompressor(encoding: BatchEncoding): Gunzip | ZstdDecompress {
  return encoding === 'zstd' ? createZstdDecompress(ZSTD_DECOMPRESS) : createGunzip();
}

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const zstdAsync = promisify(zstdCompress);
const unzstdAsync = promisify(zstdDecompress);

/** `data` compressed whole (on the thread pool). */
export function compress(encoding: BatchEncoding, data: string | Buffer): Promise<Buffer> {
  return encoding === 'zstd' ? zstdAsync(data, ZSTD_COMPRESS) : gzipAsync(data, GZIP_COMPRESS);
}

/**
 * A batch decompressed whole, whichever encoding it starts with; throws for a body of neither
 * and for output beyond `maxOutputLength` (a damaged or forged file).
 */
export function decompress(body: Buffer, maxOutputLength: number): Promise<Buffer> {
  const encoding = encodingOf(body);
  if (!encoding) return Promise.reject(new Error('it is neither gzip nor zstd (no magic number)'));
  return encoding === 'zstd' ? unzstdAsync(body, { ...ZSTD_DECOMPRESS, maxOutputLength }) : gunzipAsync(body, { maxOutputLength });
}
