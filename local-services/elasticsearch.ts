// A local Elasticsearch without Docker: the integ-test-zip distribution from Maven Central,
// fetched once with Maven and cached, run single-node on 127.0.0.1 with a JDK it supports, as a
// non-root user (Elasticsearch refuses to run as root). Used by `procflow local` and the tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcflowError } from '../common/errors.js';
import { freePort } from '../common/net.js';

/** The newest 9.x integ-test-zip published on Maven Central (there is no 9.x past 9.5.4 yet). */
export const ES_VERSION = process.env.PROCFLOW_ES_VERSION ?? '9.5.4';
const ARTIFACT = 'org.elasticsearch.distribution.integ-test-zip:elasticsearch';
/** The user Elasticsearch runs as when we are root. */
export const ES_USER = 'procflow-es';
const MIN_JAVA = 21;

export type Progress = (message: string) => void;

const isRoot = () => process.getuid?.() === 0;

export function cacheDir(): string {
  if (process.env.PROCFLOW_CACHE_DIR) return process.env.PROCFLOW_CACHE_DIR;
  // Root's home is not readable by the Elasticsearch user, so root caches under /var/lib.
  return isRoot() ? '/var/lib/procflow' : join(homedir(), '.cache', 'procflow');
}

function run(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error || r.status !== 0) {
    const detail = r.error ? r.error.message : (r.stderr || r.stdout).trim().split('\n').slice(-8).join('\n');
    throw new ProcflowError('LOCAL_ES', `elasticsearch: ${what} failed: ${detail}`, hintFor(cmd));
  }
  return r.stdout;
}

function hintFor(cmd: string): string {
  if (cmd === 'mvn') return 'install Maven (apt-get install maven) and make sure Maven Central is reachable';
  if (cmd === 'unzip') return 'install unzip (apt-get install unzip)';
  if (cmd === 'useradd') return `create a non-root user named ${ES_USER} for Elasticsearch`;
  return `check that ${cmd} is installed`;
}

/** Java home of an installed JDK that this Elasticsearch supports. */
export function findJavaHome(): string {
  const candidates: Array<{ home: string; major: number }> = [];
  const add = (home: string) => {
    try {
      const release = readFileSync(join(home, 'release'), 'utf8');
      const m = /JAVA_VERSION="(\d+)/.exec(release);
      if (m && existsSync(join(home, 'bin', 'java'))) candidates.push({ home, major: Number(m[1]) });
    } catch {
      /* not a JDK */
    }
  };
  if (process.env.ES_JAVA_HOME) add(process.env.ES_JAVA_HOME);
  if (process.env.JAVA_HOME) add(process.env.JAVA_HOME);
  if (existsSync('/usr/lib/jvm')) for (const d of readdirSync('/usr/lib/jvm')) add(join('/usr/lib/jvm', d));
  const best = candidates.filter((c) => c.major >= MIN_JAVA).sort((a, b) => b.major - a.major)[0];
  if (!best) {
    throw new ProcflowError('LOCAL_ES', `elasticsearch: ${ES_VERSION} needs Java ${MIN_JAVA} or newer; found ${candidates.map((c) => c.major).join(', ') || 'none'}`, 'install a JDK 21+ (e.g. a Temurin JDK under /usr/lib/jvm) or set ES_JAVA_HOME');
  }
  return best.home;
}

function ensureEsUser(): { uid: number; gid: number } | null {
  if (!isRoot()) return null;
  const id = () => spawnSync('id', ['-u', ES_USER], { encoding: 'utf8' });
  let r = id();
  if (r.status !== 0) {
    run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', ES_USER], `creating the user ${ES_USER}`);
    r = id();
  }
  const gid = spawnSync('id', ['-g', ES_USER], { encoding: 'utf8' }).stdout.trim();
  return { uid: Number(r.stdout.trim()), gid: Number(gid) };
}

function chownTree(path: string, owner: { uid: number; gid: number }): void {
  run('chown', ['-R', `${owner.uid}:${owner.gid}`, path], `giving ${path} to ${ES_USER}`);
}

/** Fetches and unpacks the distribution once; returns its home directory. */
export function ensureDistribution(progress: Progress = () => {}): string {
  const base = cacheDir();
  const home = join(base, `elasticsearch-${ES_VERSION}`);
  if (existsSync(join(home, 'bin', 'elasticsearch'))) return home;
  mkdirSync(base, { recursive: true });
  const zip = join(base, `elasticsearch-${ES_VERSION}.zip`);
  if (!existsSync(zip)) {
    progress(`fetching Elasticsearch ${ES_VERSION} (integ-test-zip, ~130 MB) from Maven Central, once`);
    run('mvn', ['-q', '-B', 'dependency:copy', `-Dartifact=${ARTIFACT}:${ES_VERSION}:zip`, `-DoutputDirectory=${base}`, '-Dmdep.overWriteReleases=true'], 'fetching the distribution with Maven');
  }
  progress(`unpacking ${zip}`);
  const staging = mkdtempSync(join(base, '.unpack-'));
  run('unzip', ['-q', '-o', zip, '-d', staging], 'unpacking the distribution');
  rmSync(home, { recursive: true, force: true });
  run('mv', [join(staging, `elasticsearch-${ES_VERSION}`), home], 'moving the distribution into place');
  rmSync(staging, { recursive: true, force: true });
  return home;
}

export interface LocalEsOptions {
  /** HTTP port; 0 picks a free one. */
  port?: number;
  /** Data directory; a fresh temporary one (removed on stop) when not given. */
  dataDir?: string;
  heap?: string;
  progress?: Progress;
  startTimeoutMs?: number;
  /** A node of a cluster on loopback instead of a single node (bench:cluster). */
  cluster?: ClusterNode;
}

export interface ClusterNode {
  nodeName: string;
  transportPort: number;
  /** Transport ports of every node (this one included): where it looks for the others. */
  seedTransportPorts: number[];
  /** Names of the nodes that elect the first master. */
  initialMasterNodes: string[];
}

export interface LocalEs {
  url: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

function clusterArgs(c: ClusterNode): string[] {
  return [
    `-Enode.name=${c.nodeName}`,
    `-Etransport.port=${c.transportPort}`,
    `-Ediscovery.seed_hosts=${c.seedTransportPorts.map((p) => `127.0.0.1:${p}`).join(',')}`,
    `-Ecluster.initial_master_nodes=${c.initialMasterNodes.join(',')}`,
  ];
}

export async function startLocalElasticsearch(opts: LocalEsOptions = {}): Promise<LocalEs> {
  const progress = opts.progress ?? (() => {});
  const home = ensureDistribution(progress);
  const javaHome = findJavaHome();
  const owner = ensureEsUser();
  const port = opts.port || (await freePort());
  const ephemeral = !opts.dataDir;
  const work = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'procflow-es-'));
  mkdirSync(join(work, 'data'), { recursive: true });
  mkdirSync(join(work, 'logs'), { recursive: true });
  mkdirSync(join(work, 'tmp'), { recursive: true });
  if (owner) {
    // Elasticsearch writes its keystore and config into the distribution on first start.
    if (statSync(home).uid !== owner.uid) chownTree(cacheDir(), owner);
    chownTree(work, owner);
  }
  const logFile = join(work, 'logs', 'procflow-es.log');
  progress(`starting Elasticsearch ${ES_VERSION} on 127.0.0.1:${port} (Java ${javaHome})`);
  const child: ChildProcess = spawn(
    join(home, 'bin', 'elasticsearch'),
    [
      ...(opts.cluster ? clusterArgs(opts.cluster) : ['-Ediscovery.type=single-node', '-Etransport.port=0']),
      '-Enetwork.host=127.0.0.1',
      `-Ehttp.port=${port}`,
      `-Epath.data=${join(work, 'data')}`,
      `-Epath.logs=${join(work, 'logs')}`,
      '-Expack.security.enabled=false',
      '-Ecluster.routing.allocation.disk.threshold_enabled=false',
      '-Eaction.destructive_requires_name=false',
      '-Ecluster.name=procflow-local',
    ],
    {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ES_JAVA_HOME: javaHome,
        ES_JAVA_OPTS: `-Xms${opts.heap ?? '1g'} -Xmx${opts.heap ?? '1g'}`,
        ES_TMPDIR: join(work, 'tmp'),
        HOME: work,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: false,
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited: number | null = null;
  const exitedP = new Promise<void>((r) => child.once('exit', (code) => ((exited = code ?? -1), r())));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 180_000);
  const stop = async () => {
    if (exited === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exitedP;
      clearTimeout(timer);
    }
    if (ephemeral) rmSync(work, { recursive: true, force: true });
  };
  for (;;) {
    if (exited !== null) {
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
      await stop();
      throw new ProcflowError('LOCAL_ES', `elasticsearch: exited with code ${exited} while starting:\n${stderr}\n${tail}`, 'read the log above; a second Elasticsearch on the same port or too little memory are the usual causes');
    }
    try {
      const res = await fetch(`${url}/_cluster/health?wait_for_status=yellow&timeout=1s`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new ProcflowError('LOCAL_ES', `elasticsearch: did not answer on ${url} within ${(opts.startTimeoutMs ?? 180_000) / 1000}s`, `see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  progress(`Elasticsearch is up at ${url}`);
  return { url, pid: child.pid ?? -1, logFile, stop };
}
