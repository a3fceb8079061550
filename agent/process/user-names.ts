// User names for uids, read from the passwd file of the process's own root (a container has its
// own users: uid 101 is nginx in one image and systemd-network on the host), cached per root
// with a time to live. No name service is asked: NSS modules can block, and the agent must not.
//
// The file is a container's, so it is read as hostile: /etc and /etc/passwd must not be symbolic
// links (through /proc/<pid>/root an absolute link resolves against the agent's root, which
// would read the host's files), the file must be a regular file (a FIFO would block the read)
// and at most PASSWD_MAX_BYTES long. Anything else gives the numeric uid.
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { flatString } from '../../common/flat-string.js';
import { OrderedMap } from '../../common/ordered-map.js';

const PASSWD_MAX_BYTES = 4 * 1024 * 1024;
/** Users kept per root: a passwd larger than this keeps its first lines. */
const USERS_PER_ROOT = 65_536;

export interface UserNamesOptions {
  procRoot?: string;
  /** How long one root's names are trusted before the file is read again (ms). */
  ttlMs?: number;
  /** Roots (the host and containers) kept; beyond it the oldest goes. */
  maxRoots?: number;
  now?: () => number;
}

interface RootUsers {
  names: Map<number, string>;
  readAt: number;
}

export class UserNames {
  private readonly roots = new OrderedMap<string, RootUsers>();
  private readonly procRoot: string;
  private readonly ttlMs: number;
  private readonly maxRoots: number;
  private readonly now: () => number;
  reads = 0;
  refused = 0;

  constructor(o: UserNamesOptions = {}) {
    this.procRoot = o.procRoot ?? '/proc';
    this.ttlMs = o.ttlMs ?? 60_000;
    this.maxRoots = o.maxRoots ?? 4096;
    this.now = o.now ?? Date.now;
  }

  /**
   * The name of `uid` in the root `rootKey` stands for (a container id, '' for the host), read
   * through the root of `pid` (0: gone) when that root's names are not cached. The host's root
   * can also be read through pid 1's (the agent shares the host's PID namespace) or, failing
   * that, as the agent's own. The numeric uid when unknown.
   */
  nameOf(uid: number, pid: number, rootKey: string): string {
    if (uid < 0) return '';
    let users = this.roots.get(rootKey);
    const t = this.now();
    if (!users || t - users.readAt > this.ttlMs) {
      let names = pid > 0 ? this.read(`${this.procRoot}/${pid}/root`) : undefined;
      if (!names && rootKey === '') names = this.read(`${this.procRoot}/1/root`) ?? this.read('');
      // Keep the old names when the process is gone and cannot be read through any more.
      if (names || !users) {
        users = { names: names ?? new Map(), readAt: t };
        this.roots.delete(rootKey);
        if (this.roots.size >= this.maxRoots) this.roots.shift();
        this.roots.set(rootKey, users);
      }
    }
    return users.names.get(uid) ?? String(uid);
  }

  private read(root: string): Map<number, string> | undefined {
    let fd: number | undefined;
    try {
      if (lstatSync(`${root}/etc`).isSymbolicLink()) return this.refuse();
      fd = openSync(`${root}/etc/passwd`, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > PASSWD_MAX_BYTES) return this.refuse();
      const buf = Buffer.alloc(st.size);
      let n = 0;
      while (n < buf.length) {
        const got = readSync(fd, buf, n, buf.length - n, n);
        if (got === 0) break;
        n += got;
      }
      this.reads++;
      return parsePasswd(buf.toString('utf8', 0, n));
    } catch {
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  private refuse(): undefined {
    this.refused++;
    return undefined;
  }
}

/** name:password:uid:... lines; the first name given for a uid wins, as getpwuid's does. */
export function parsePasswd(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (names.size >= USERS_PER_ROOT) break;
    const a = line.indexOf(':');
    if (a <= 0) continue;
    const b = line.indexOf(':', a + 1);
    const c = b < 0 ? -1 : line.indexOf(':', b + 1);
    if (c < 0) continue;
    const uidText = line.slice(b + 1, c);
    if (!/^\d{1,10}$/.test(uidText)) continue;
    const uid = Number(uidText);
    // Copied: a long name cut from the file would be a view that keeps the whole file alive, and
    // goes into documents (common/flat-string.ts).
    if (!names.has(uid)) names.set(uid, flatString(line.slice(0, a)));
  }
  return names;
}
