// One NDJSON file that a log shipper (Filebeat, Fluent Bit, Vector) tails, rotated by size and
// age into timestamped backups. What a tailer needs to read every line exactly once:
//
// - only whole lines ever reach the file: a write that failed half way is cut back to the last
//   complete line before anything else is appended, and so is a file a crash left mid-line;
// - rotation is a rename (the tailer's open descriptor keeps reading the same inode to its end),
//   then a new empty file under the old name, never a copy-and-truncate that could lose or
//   repeat lines;
// - the file is fsynced before it is renamed, and each write is fdatasynced, so what a tailer
//   read survives a crash of the node;
// - a backup is compressed only once it is not the newest one (a tailer that lags by up to one
//   rotation still finds the plain file), into a temporary name renamed when complete.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export interface RotationLimits {
  /** A file is rotated before a line would take it past this many bytes (a longer line gets a file of its own). */
  output_file_max_size: number;
  /** And once it is this old (ms, checked when written to); 0 = no age limit. */
  output_file_max_age: number;
  /** Rotated files kept (oldest removed first); 0 = none kept. */
  output_file_backups: number;
  /** gzip the backups (all but the newest). */
  output_file_compress: boolean;
}

export interface RotatingFileStats {
  bytes: number;
  lines: number;
  rotations: number;
  backupsRemoved: number;
  /** Bytes of a partial last line cut off (a crash or a failed write left them). */
  repairedBytes: number;
  compressFailures: number;
  lastError: string;
}

const EXT = '.ndjson';
const TMP = '.tmp';

/**
 * mkdir -p that gives up: Node's own recursive mkdir loops forever where the kernel answers
 * ENOENT for a name whose parent exists (under /proc, for one), which would hang the start.
 */
async function ensureDir(dir: string, mode: number): Promise<void> {
  try {
    await mkdir(dir, { mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    await ensureDir(parent, mode);
    await mkdir(dir, { mode }).catch((again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST') throw again;
    });
  }
}

/** 2026-12-02T19:35:12.345Z as 20261202T193512.345Z: sortable, no colons (shippers, Windows shares). */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '');
}

/** The time in a backup's name (the inverse of stamp); NaN for a name it did not make. */
function stampMs(name: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2}\.\d{3})Z/.exec(name);
  return m ? Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : NaN;
}

export class RotatingFile {
  readonly path: string;
  readonly stats: RotatingFileStats = { bytes: 0, lines: 0, rotations: 0, backupsRemoved: 0, repairedBytes: 0, compressFailures: 0, lastError: '' };
  private fh: FileHandle | undefined;
  /** Bytes of whole lines in the open file (what a failed write is cut back to). */
  private size = 0;
  private openedMs = 0;
  private compressing: Promise<void> = Promise.resolve();

  /** `base` names the files: DIR/base.ndjson, DIR/base-<time>.ndjson[.gz]. */
  constructor(readonly dir: string, readonly base: string, private readonly limits: RotationLimits, private readonly now: () => number = Date.now) {
    this.path = join(dir, base + EXT);
  }

  /** Opens the file (repairing a partial last line) and removes temporary files a crash left. */
  async prepare(): Promise<void> {
    await this.handle();
    const prefix = `${this.base}-`;
    for (const n of await readdir(this.dir)) {
      if (n.startsWith(prefix) && n.endsWith(EXT + '.gz' + TMP)) await rm(join(this.dir, n), { force: true });
    }
  }

  /**
   * Whether a line of `lineBytes` should start a new file, with `pendingBytes` gathered for this
   * file but not yet appended (they are appended before the rotation). A line alone in an empty
   * file never rotates it, and an empty file never ages.
   */
  needsRotation(pendingBytes: number, lineBytes: number): boolean {
    if (this.size + pendingBytes === 0) return false;
    if (this.size + pendingBytes + lineBytes > this.limits.output_file_max_size) return true;
    return this.size > 0 && this.limits.output_file_max_age > 0 && this.now() - this.openedMs >= this.limits.output_file_max_age;
  }

  /** Appends whole lines (`chunk` ends with "\n" and holds `lines` of them). */
  async append(chunk: Buffer, lines: number): Promise<void> {
    const fh = await this.handle();
    try {
      let off = 0;
      while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
    } catch (err) {
      // Whatever part of the chunk landed is cut off again, so no tailer sees half a line.
      this.stats.lastError = (err as Error).message;
      await this.reset(fh);
      throw err;
    }
    // A file's age counts from its first line, not from when it was opened empty.
    if (this.size === 0) this.openedMs = this.now();
    this.size += chunk.length;
    this.stats.bytes += chunk.length;
    this.stats.lines += lines;
  }

  /** Makes what was appended durable (called once per write of documents). */
  async sync(): Promise<void> {
    if (this.fh) await this.fh.datasync();
  }

  /** Renames the file to a backup and starts an empty one; prunes and compresses older backups. */
  async rotate(): Promise<void> {
    const fh = await this.handle();
    await fh.sync();
    await fh.close();
    this.fh = undefined;
    const backup = await this.freeBackupName();
    await rename(this.path, backup);
    this.stats.rotations++;
    await this.handle();
    await this.syncDir();
    await this.tidyBackups(backup);
  }

  async close(): Promise<void> {
    await this.compressing;
    if (!this.fh) return;
    const fh = this.fh;
    this.fh = undefined;
    await fh.sync().finally(() => fh.close());
  }

  /** The open file; opened (and repaired) on first use and after a failed write. */
  private async handle(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    await ensureDir(this.dir, 0o750);
    const fh = await open(this.path, 'a+', 0o640);
    try {
      const st = await fh.stat();
      this.size = await this.wholeLines(fh, st.size);
      // A file carried over from an earlier run ages from its creation where the filesystem knows it.
      this.openedMs = st.size > 0 && st.birthtimeMs > 0 ? st.birthtimeMs : this.now();
    } catch (err) {
      await fh.close();
      throw err;
    }
    this.fh = fh;
    if (this.size === 0) await this.syncDir();
    return fh;
  }

  /** Bytes up to and including the last "\n"; a tail after it is cut off (counted). */
  private async wholeLines(fh: FileHandle, size: number): Promise<number> {
    const block = Buffer.allocUnsafe(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - block.length);
      const { bytesRead } = await fh.read(block, 0, end - start, start);
      const nl = block.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (nl >= 0) {
        end = start + nl + 1;
        break;
      }
      end = start;
    }
    if (end < size) {
      await fh.truncate(end);
      this.stats.repairedBytes += size - end;
    }
    return end;
  }

  /** After a failed write: back to the last whole line, and a fresh descriptor next time. */
  private async reset(fh: FileHandle): Promise<void> {
    this.fh = undefined;
    try {
      await fh.truncate(this.size);
    } catch { /* the next open repairs it from the file's own contents */ }
    await fh.close().catch(() => {});
  }

  /** A backup name after every existing one: two rotations in one millisecond take the next millisecond, so names keep sorting by age. */
  private async freeBackupName(): Promise<string> {
    const newest = (await this.backups()).at(-1);
    const after = newest ? stampMs(newest.slice(join(this.dir, `${this.base}-`).length)) + 1 : -Infinity;
    // A clock set back must not make the newest backup sort as the oldest (and be pruned first).
    return join(this.dir, `${this.base}-${stamp(Math.max(this.now(), after))}${EXT}`);
  }

  /** The backups, oldest first (their names sort by time). */
  private async backups(): Promise<string[]> {
    const prefix = `${this.base}-`;
    const names = await readdir(this.dir);
    return names
      .filter((n) => n.startsWith(prefix) && (n.endsWith(EXT) || n.endsWith(EXT + '.gz')) && /^\d{8}T/.test(n.slice(prefix.length)))
      .sort()
      .map((n) => join(this.dir, n));
  }

  private async tidyBackups(newest: string): Promise<void> {
    const all = await this.backups();
    const excess = all.length - this.limits.output_file_backups;
    for (const old of all.slice(0, Math.max(0, excess))) {
      await rm(old, { force: true });
      this.stats.backupsRemoved++;
    }
    if (!this.limits.output_file_compress) return;
    const plain = all.slice(Math.max(0, excess)).filter((p) => p.endsWith(EXT) && p !== newest);
    // In the background: a large backup must not hold up the next interval's documents.
    this.compressing = this.compressing.then(() => this.compressAll(plain));
  }

  private async compressAll(paths: string[]): Promise<void> {
    for (const p of paths) {
      const gz = `${p}.gz`;
      try {
        await pipeline(createReadStream(p), createGzip(), createWriteStream(gz + TMP, { mode: 0o640 }));
        const out = await open(gz + TMP, 'r');
        await out.sync().finally(() => out.close());
        await rename(gz + TMP, gz);
        await rm(p, { force: true });
      } catch (err) {
        this.stats.compressFailures++;
        this.stats.lastError = (err as Error).message;
        await rm(gz + TMP, { force: true });
      }
    }
  }

  private async syncDir(): Promise<void> {
    const d = await open(this.dir, 'r');
    await d.sync().finally(() => d.close());
  }
}
