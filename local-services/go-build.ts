// Building a tool from the Go module proxy once, for the tests: the Go toolchain to use (the
// machine's, or Go's own release fetched from the proxy when the machine has none new enough),
// Go caches of the tool's own under the procflow cache, and long builds that report progress
// every 30 s. kube-apiserver and etcd (kubernetes.ts) and helm (helm.ts) are built this way:
// neither publishes binaries through a registry this machine reaches.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ProcflowError } from '../common/errors.js';
import { cacheDir, type Progress } from './elasticsearch.js';

/** What is being built: its cache folder under cacheDir() and how its errors are named. */
export interface GoTool {
  /** Folder name under cacheDir(), e.g. 'kubernetes'; Go's caches live in <folder>/go. */
  dir: string;
  /** ProcflowError code, e.g. 'LOCAL_KUBE'. */
  code: string;
  /** Message prefix, e.g. 'kubernetes'. */
  name: string;
  /** The oldest Go 1.x minor that builds it. */
  minGoMinor: number;
  /** Disk the build needs, for the hint of a failed build, e.g. '~4 GB'. */
  disk: string;
}

const HEARTBEAT_MS = 30_000;

export const toolDir = (tool: GoTool): string => join(cacheDir(), tool.dir);

/** Go's own toolchain release, as the module proxy serves it when the machine has no Go. */
const FALLBACK_GO = '1.26.8';
const goArch = () => (process.arch === 'arm64' ? 'arm64' : 'amd64');
const fallbackGoDir = (tool: GoTool) => join(toolDir(tool), 'toolchain');
const fallbackGo = (tool: GoTool) => join(fallbackGoDir(tool), `golang.org/toolchain@v0.0.1-go${FALLBACK_GO}.linux-${goArch()}`, 'bin', 'go');
const goHint = (tool: GoTool) => `install Go 1.${tool.minGoMinor}+ (this machine kind has it at /usr/local/go/bin/go; Debian bookworm's golang-go is too old) or set PROCFLOW_GO to its path`;

/** A Go toolchain new enough to build `tool`, or a ProcflowError listing the ones found. */
export function findGo(tool: GoTool): string {
  const candidates = [process.env.PROCFLOW_GO, 'go', '/usr/local/go/bin/go', fallbackGo(tool)].filter((c): c is string => Boolean(c));
  const seen: string[] = [];
  for (const go of candidates) {
    const r = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) continue;
    const v = r.stdout.trim();
    seen.push(`${go}: ${v}`);
    const m = /^go1\.(\d+)/.exec(v);
    if (m && Number(m[1]) >= tool.minGoMinor) return go;
  }
  throw new ProcflowError(tool.code, `${tool.name}: the build needs Go 1.${tool.minGoMinor} or newer; found ${seen.join(', ') || 'no go'}`, goHint(tool));
}

/**
 * The machine's Go when it is new enough, else Go's toolchain zip from the module proxy (the
 * same zip GOTOOLCHAIN downloads), unpacked under the tool's cache folder.
 */
export function goFor(tool: GoTool, progress: Progress): string {
  try {
    return findGo(tool);
  } catch {
    /* fetched below */
  }
  const url = `https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go${FALLBACK_GO}.linux-${goArch()}.zip`;
  progress(`no Go 1.${tool.minGoMinor}+ here: fetching Go ${FALLBACK_GO} from ${url}`);
  mkdirSync(fallbackGoDir(tool), { recursive: true });
  const zip = join(fallbackGoDir(tool), 'go.zip');
  for (const [cmd, args] of [['curl', ['-fsSL', '--retry', '3', '-o', zip, url]], ['unzip', ['-q', '-o', zip, '-d', fallbackGoDir(tool)]]] as const) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new ProcflowError(tool.code, `${tool.name}: fetching Go failed (${cmd}): ${r.error?.message ?? r.stderr.trim()}`, goHint(tool));
  }
  rmSync(zip, { force: true });
  return findGo(tool);
}

/** The environment of `go` for `tool`: caches of its own, so a second bootstrap only relinks (or does nothing). */
export function goEnv(tool: GoTool, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const goDir = join(toolDir(tool), 'go');
  return {
    ...process.env,
    GOMODCACHE: join(goDir, 'mod'),
    GOCACHE: join(goDir, 'cache'),
    GOPATH: join(goDir, 'path'),
    GOFLAGS: '-mod=mod -trimpath -buildvcs=false',
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
    ...extra,
  };
}

const buildHint = (tool: GoTool) => `check that the Go module proxy is reachable (GOPROXY) and that the disk has ${tool.disk} free`;

/** A short `go` command; its stdout, or a ProcflowError with the end of its output. */
export function goSync(tool: GoTool, go: string, args: string[], cwd: string, what: string): string {
  const r = spawnSync(go, args, { cwd, env: goEnv(tool), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error || r.status !== 0) {
    const detail = r.error ? r.error.message : (r.stderr || r.stdout).trim().split('\n').slice(-10).join('\n');
    throw new ProcflowError(tool.code, `${tool.name}: ${what} failed: ${detail}`, buildHint(tool));
  }
  return r.stdout;
}

const elapsed = (since: number) => {
  const s = Math.round((Date.now() - since) / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
};

/** Runs a long `go` command (with -v), reporting what it downloaded and compiled every 30 s. */
export async function goLong(tool: GoTool, go: string, args: string[], cwd: string, what: string, progress: Progress, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const started = Date.now();
  const child = spawn(go, args, { cwd, env: goEnv(tool, env), stdio: ['ignore', 'pipe', 'pipe'] });
  let downloaded = 0;
  let compiled = 0;
  let tail = '';
  // -v prints one package path per line as it is built; "go: downloading" lines are modules.
  const count = (d: Buffer) => {
    const text = d.toString();
    tail = (tail + text).slice(-6000);
    for (const line of text.split('\n')) {
      if (line.startsWith('go: downloading')) downloaded++;
      else if (line.trim() && !line.startsWith('go:') && !line.startsWith('#')) compiled++;
    }
  };
  child.stdout.on('data', count);
  child.stderr.on('data', count);
  const timer = setInterval(() => progress(`${what}: ${elapsed(started)}, ${downloaded} modules downloaded, ${compiled} packages compiled`), HEARTBEAT_MS);
  const code = await new Promise<number>((resolve) => {
    child.once('error', (err) => ((tail += `\n${err.message}`), resolve(-1)));
    child.once('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
  });
  clearInterval(timer);
  if (code !== 0) {
    const lines = tail.trimEnd().split('\n').filter((l) => !l.startsWith('go: downloading'));
    throw new ProcflowError(tool.code, `${tool.name}: ${what} failed (exit ${code}):\n${lines.slice(-15).join('\n')}`, buildHint(tool));
  }
  progress(`${what}: done in ${elapsed(started)}`);
}
