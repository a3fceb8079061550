// KVM or TCG for the guests. /dev/kvm is not enough: on some machines it is a paravirtual KVM
// that cannot run a stock kernel (the guest hangs after the BIOS). So KVM is used only when
// PROCFLOW_QEMU_ACCEL=kvm says so, or when a probe boot of a real kernel under KVM ran a command;
// the probe's verdict is remembered per host kernel and qemu, so it costs one boot per machine.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MatrixError } from './errors.js';
import { QEMU, runInGuest, type Accel } from './guest.js';
import { kernelCacheDir, type FetchedKernel } from './kernels.js';

const PROBE_TIMEOUT_MS = 20_000;

interface ProbeVerdict {
  hostKernel: string;
  qemu: string;
  kvm: boolean;
}

function qemuVersion(): string {
  const r = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  return r.stdout?.split('\n')[0]?.trim() ?? 'unknown';
}

function canOpenKvm(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Which accelerator to boot guests with; `why` says how it was decided. */
export async function chooseAccel(probeKernel: FetchedKernel): Promise<{ accel: Accel; why: string }> {
  const forced = process.env.PROCFLOW_QEMU_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return { accel: forced, why: `PROCFLOW_QEMU_ACCEL=${forced}` };
  if (forced && forced !== 'auto') throw new MatrixError(`PROCFLOW_QEMU_ACCEL=${forced} is not one of auto, kvm, tcg`);
  if (!canOpenKvm()) return { accel: 'tcg', why: 'no usable /dev/kvm' };

  const file = join(kernelCacheDir(), 'accel-probe.json');
  const here = { hostKernel: release(), qemu: qemuVersion() };
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as ProbeVerdict;
    if (v.hostKernel === here.hostKernel && v.qemu === here.qemu) {
      return v.kvm ? { accel: 'kvm', why: 'a KVM probe boot worked on this host' } : { accel: 'tcg', why: 'a KVM probe boot failed on this host' };
    }
  } catch {
    /* never probed here */
  }
  const resultsDir = mkdtempSync(join(tmpdir(), 'procflow-kvm-probe-'));
  try {
    const r = await runInGuest(probeKernel, { command: ['/bin/true'], env: {}, timeoutMs: PROBE_TIMEOUT_MS, resultsDir, accel: 'kvm' });
    const kvm = r.code === 0;
    writeFileSync(file, `${JSON.stringify({ ...here, kvm } satisfies ProbeVerdict, null, 2)}\n`);
    return kvm ? { accel: 'kvm', why: 'a KVM probe boot worked' } : { accel: 'tcg', why: `a KVM probe boot ${r.timedOut ? 'hung' : 'failed'}` };
  } finally {
    rmSync(resultsDir, { recursive: true, force: true });
  }
}
