// A tailer that reads rotated files the way log shippers do when given a glob (Filebeat's
// filestream, Fluent Bit's tail with `Path DIR/procflow-flows*.ndjson`): a file is known by its
// inode, not its name, so a file renamed into a backup is read on from where the tailer was, and
// a backup it had not opened yet is read from its start. Compressed backups are not followed.
// Only complete lines are taken; a file that ends in a partial line when it is gone fails.
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

interface Followed {
  fh: FileHandle;
  pos: number;
  rest: string;
  decoder: StringDecoder;
}

export class FileTailer {
  readonly lines: string[] = [];
  private readonly followed = new Map<number, Followed>();
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private failure: Error | undefined;
  /** Files (inodes) followed so far: the active one, then one per rotation. */
  files = 0;

  /** Follows DIR/base.ndjson and its plain backups DIR/base-*.ndjson. */
  constructor(private readonly dir: string, private readonly base: string, private readonly intervalMs = 2) {}

  start(): void {
    // One poll at a time: a slow read skips ticks instead of queueing them.
    this.timer = setInterval(() => {
      if (this.busy || this.failure) return;
      this.busy = this.poll().catch((err: Error) => { this.failure = err; }).finally(() => { this.busy = undefined; });
    }, this.intervalMs);
  }

  /** Resolves once `n` lines were read (or fails after `timeoutMs`). */
  async waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < n) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline) throw new Error(`the tailer read ${this.lines.length} of ${n} lines in ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, this.intervalMs));
    }
  }

  /** Reads what is left and stops. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.busy;
    if (this.failure) throw this.failure;
    await this.poll();
    for (const f of this.followed.values()) await f.fh.close();
    this.followed.clear();
  }

  private async poll(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => n === `${this.base}.ndjson` || (n.startsWith(`${this.base}-`) && n.endsWith('.ndjson')));
    const present = new Set<number>();
    for (const name of names) {
      const st = await stat(join(this.dir, name)).catch(() => undefined);
      if (!st) continue;
      present.add(st.ino);
      if (this.followed.has(st.ino)) continue;
      const fh = await open(join(this.dir, name), 'r').catch(() => undefined);
      if (!fh) continue;
      if ((await fh.stat()).ino !== st.ino) {
        await fh.close();
        continue;
      }
      this.followed.set(st.ino, { fh, pos: 0, rest: '', decoder: new StringDecoder('utf8') });
      this.files++;
    }
    for (const [ino, f] of this.followed) {
      await this.readToEnd(f);
      // Gone (compressed or pruned): its open descriptor was read to the end just now.
      if (!present.has(ino) && !(await this.stillThere(ino))) {
        if (f.rest) throw new Error(`a file ended with a partial line: ${f.rest.slice(0, 80)}`);
        await f.fh.close();
        this.followed.delete(ino);
      }
    }
  }

  private async stillThere(ino: number): Promise<boolean> {
    for (const n of await readdir(this.dir)) {
      if ((await stat(join(this.dir, n)).catch(() => undefined))?.ino === ino) return true;
    }
    return false;
  }

  private async readToEnd(f: Followed): Promise<void> {
    const buf = Buffer.allocUnsafe(256 * 1024);
    for (;;) {
      const { bytesRead } = await f.fh.read(buf, 0, buf.length, f.pos);
      if (bytesRead === 0) return;
      f.pos += bytesRead;
      const text = f.rest + f.decoder.write(buf.subarray(0, bytesRead));
      const parts = text.split('\n');
      f.rest = parts.pop()!;
      for (const p of parts) this.lines.push(p);
    }
  }
}
