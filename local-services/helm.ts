// helm, for the tests of the chart in deploy/helm/procflow: built once from the Go module proxy
// (`go install helm.sh/helm/v4/cmd/helm@VERSION`) into <cache>/helm/bin, as kube-apiserver is
// (go-build.ts), because Helm publishes no binaries through a registry this machine reaches.
// A cold build takes a few minutes on two cores; after that it is instant.
//
// `node dist/local-services/helm.js --ensure` builds it (bootstrap runs it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeError, ProcflowError } from '../common/errors.js';
import { type Progress } from './elasticsearch.js';
import { goFor, goLong, toolDir, type GoTool } from './go-build.js';

/** Helm 4, whose chart API v2 and values.schema.json checks the chart relies on. */
export const HELM_VERSION = process.env.PROCFLOW_HELM_VERSION ?? '4.3.2';
const MODULE = `helm.sh/helm/v${HELM_VERSION.split('.')[0]}`;

const HELM_BUILD: GoTool = { dir: 'helm', code: 'LOCAL_HELM', name: 'helm', minGoMinor: 24, disk: '~1.5 GB' };
const binDir = () => join(toolDir(HELM_BUILD), 'bin');
const stampFile = () => join(binDir(), 'version.txt');

/** The helm binary when it is built for HELM_VERSION, else null (never builds). */
export function findHelm(): string | null {
  const helm = join(binDir(), 'helm');
  try {
    if (readFileSync(stampFile(), 'utf8').trim() === `v${HELM_VERSION}` && existsSync(helm)) return helm;
  } catch {
    /* not built yet */
  }
  return null;
}

/** Builds helm once into <cache>/helm/bin; returns its path. */
export async function ensureHelm(progress: Progress = () => {}): Promise<string> {
  const found = findHelm();
  if (found) return found;
  const go = goFor(HELM_BUILD, progress);
  const stage = join(toolDir(HELM_BUILD), 'stage');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  mkdirSync(binDir(), { recursive: true });
  progress(`building helm v${HELM_VERSION} from the Go module proxy into ${binDir()}, once (a cold build takes a few minutes)`);
  // Without these, `helm version` reports the source's placeholder version and "+unreleased".
  const v = `${MODULE}/internal/version`;
  const ldflags = `-s -w -X ${v}.version=v${HELM_VERSION} -X ${v}.metadata=`;
  await goLong(HELM_BUILD, go, ['install', '-v', `-ldflags=${ldflags}`, `${MODULE}/cmd/helm@v${HELM_VERSION}`], stage, `building helm v${HELM_VERSION}`, progress, { GOBIN: stage });
  renameSync(join(stage, 'helm'), join(binDir(), 'helm'));
  rmSync(stage, { recursive: true, force: true });
  // Written last: an interrupted build is redone, never half-used.
  writeFileSync(stampFile(), `v${HELM_VERSION}\n`);
  const helm = findHelm();
  const ran = helm ? spawnSync(helm, ['version', '--template', '{{.Version}}'], { encoding: 'utf8' }) : undefined;
  if (!helm || ran?.status !== 0) {
    throw new ProcflowError('LOCAL_HELM', `helm: the build finished but ${binDir()}/helm does not run: ${ran?.error?.message ?? ran?.stderr.trim() ?? 'missing'}`, `remove ${binDir()} and run again`);
  }
  return helm;
}

// `node dist/local-services/helm.js --ensure`: build helm ahead of the tests.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv.includes('--ensure')) {
  const say = (m: string) => process.stderr.write(`procflow: ${m}\n`);
  try {
    const helm = await ensureHelm(say);
    say(`helm v${HELM_VERSION} ready at ${helm}`);
  } catch (err) {
    say(describeError(err));
    process.exitCode = 1;
  }
}
