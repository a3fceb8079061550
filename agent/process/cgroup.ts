// Container attribution from cgroup paths. Runtimes name a container's cgroup after its id:
//   docker (cgroupfs)       /docker/<id>
//   docker (systemd)        /system.slice/docker-<id>.scope
//   containerd / k8s        /kubepods/burstable/pod<uid>/<id>
//                           /kubepods.slice/.../cri-containerd-<id>.scope
//   cri-o                   /kubepods.slice/.../crio-<id>.scope   (crio-conmon-<id> is the monitor, not the container)
//   podman                  /machine.slice/libpod-<id>.scope
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { flatString } from '../../common/flat-string.js';

const CONTAINER_SEGMENT = /^(?:docker-|cri-containerd-|crio-|libpod-|containerd-)?([0-9a-f]{64})(?:\.scope)?$/;
const POD_SEGMENT = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;

/** The container id in a cgroup path, or undefined for host processes. */
export function containerIdFromCgroupPath(path: string): string | undefined {
  const segments = path.split('/');
  for (let i = segments.length - 1; i >= 0; i--) {
    const m = CONTAINER_SEGMENT.exec(segments[i]!);
    // A match's group is a view into the path: copied, since it goes into every document of the container.
    if (m) return flatString(m[1]!);
  }
  return undefined;
}

/** The Kubernetes pod uid in a cgroup path (kubepods layouts), or undefined. */
export function podUidFromCgroupPath(path: string): string | undefined {
  for (const seg of path.split('/').reverse()) {
    const m = POD_SEGMENT.exec(seg);
    if (m) return flatString(m[1]!.replaceAll('_', '-'));
  }
  return undefined;
}

export interface CgroupIdentity {
  /** '' for host processes. */
  containerId: string;
  /** '' outside Kubernetes pods. */
  podUid: string;
}

/**
 * The container id and pod uid of cgroup paths, remembered per path: every exec and fork asks,
 * and a node has few cgroups. Bounded: beyond `maxPaths` it starts again from empty.
 */
export class CgroupIdentities {
  private readonly known = new Map<string, CgroupIdentity>();

  constructor(private readonly maxPaths = 4096) {}

  of(path: string): CgroupIdentity {
    let id = this.known.get(path);
    if (id === undefined) {
      if (this.known.size >= this.maxPaths) this.known.clear();
      id = { containerId: containerIdFromCgroupPath(path) ?? '', podUid: podUidFromCgroupPath(path) ?? '' };
      this.known.set(path, id);
    }
    return id;
  }
}

const inContainer = (path: string) => containerIdFromCgroupPath(path) !== undefined || podUidFromCgroupPath(path) !== undefined;

/**
 * The cgroup path of a /proc/<pid>/cgroup file. The v2 line ("0::/...") wins on pure v2 hosts;
 * on hybrid hosts runtimes may place containers in the v1 hierarchies only (the v2 line then
 * says "/"), so a v1 path that names a container or pod wins over a v2 path that does not.
 */
export function cgroupPathFromProcFile(text: string): string {
  let v2: string | undefined;
  let v1First = '';
  let v1Container = '';
  for (const line of text.split('\n')) {
    const parts = line.split(':');
    if (parts.length < 3) continue;
    const path = parts.slice(2).join(':');
    if (parts[0] === '0' && parts[1] === '') v2 = path;
    else {
      v1First ||= path;
      if (!v1Container && inContainer(path)) v1Container = path;
    }
  }
  if (v2 !== undefined && (inContainer(v2) || !v1Container)) return v2;
  return v1Container || v1First;
}

/** Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts), or undefined. */
export function cgroup2Mount(mountinfo?: string): string | undefined {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return undefined;
    }
  }
  const found: string[] = [];
  for (const line of text.split('\n')) {
    // "36 25 0:31 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw": the type follows the " - ".
    const sep = line.indexOf(' - ');
    if (sep < 0 || !line.slice(sep + 3).startsWith('cgroup2 ')) continue;
    const mountPoint = line.split(' ')[4];
    if (mountPoint) found.push(mountPoint.replace(/\\040/g, ' '));
  }
  return found.includes('/sys/fs/cgroup') ? '/sys/fs/cgroup' : found.sort((a, b) => a.length - b.length)[0];
}

/**
 * cgroup v2 id -> path. Exec events carry the cgroup id (the inode number of the cgroup v2
 * directory; only the v2 mount is walked, v1 inode numbers would collide with it), not its path; a short-lived process is gone before /proc/<pid>/cgroup can be read,
 * so the id is resolved from the cgroup filesystem instead. Unknown ids trigger a rescan, at most
 * once per `rescanIntervalMs`, and the map is bounded by `maxEntries`.
 */
export class CgroupResolver {
  private byId = new Map<bigint, string>();
  private lastScan = 0;

  constructor(
    /** The cgroup v2 mount; undefined (none) resolves nothing. */
    private readonly root: string | undefined = cgroup2Mount(),
    private readonly rescanIntervalMs = 1000,
    private readonly maxEntries = 65_536,
  ) {}

  resolve(id: bigint): string | undefined {
    if (id === 0n || this.root === undefined) return undefined;
    const hit = this.byId.get(id);
    if (hit !== undefined || Date.now() - this.lastScan < this.rescanIntervalMs) return hit;
    this.scan();
    return this.byId.get(id);
  }

  scan(): void {
    this.lastScan = Date.now();
    if (this.root === undefined) return;
    const root = this.root;
    const next = new Map<bigint, string>();
    const walk = (dir: string, rel: string, depth: number) => {
      if (next.size >= this.maxEntries || depth > 12) return;
      try {
        next.set(BigInt(statSync(dir, { bigint: true }).ino), rel || '/');
        for (const ent of readdirSync(dir, { withFileTypes: true })) {
          if (ent.isDirectory()) walk(join(dir, ent.name), `${rel}/${ent.name}`, depth + 1);
        }
      } catch {
        // cgroups come and go while we walk: a vanished directory is simply not recorded
      }
    };
    walk(root, '', 0);
    this.byId = next;
  }

  get size(): number {
    return this.byId.size;
  }
}
