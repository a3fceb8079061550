// One command in a qemu guest of a Debian kernel: the host's root shared read-only over 9p (so
// the guest runs this very checkout with the node that runs this file, see NODE), a writable
// results share, qemu's user network (the host's 127.0.0.1 is 10.0.2.2 there), the serial
// console captured to a log, and a hard timeout. Nothing is left running: qemu is killed on timeout.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MatrixError } from './errors.js';
import { DONE_MARKER, GUEST_JOB_FILE, GUEST_RESULTS_DIR, guestTmpfsOver, READY_MARKER } from './guest-init.js';
import { ensureInitramfs } from './initramfs.js';
import type { FetchedKernel } from './kernels.js';

export type Accel = 'tcg' | 'kvm';

/** The checkout this file belongs to: the same path inside the guest, through the 9p root. */
export const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
export const QEMU = process.env.PROCFLOW_QEMU ?? 'qemu-system-x86_64';
/**
 * The node that runs the commands, in guests as on the host: this one, at the same path through
 * the 9p root (scripts/node-env.sh chose it: the machine's, or the one it installed). Its
 * directory leads the guests' PATH, so a `node` named by a shebang is the same Node.js.
 */
export const NODE = process.execPath;
const GUEST_PATH = `${dirname(NODE)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

/** Why guests cannot run NODE, or null when they can. */
export function guestNodeMissing(): string | null {
  const tmpfs = guestTmpfsOver(NODE);
  return tmpfs ? `node (${NODE}) is under ${tmpfs}, which guests see as an empty tmpfs: run the matrix as root (bash scripts/bootstrap.sh installs Node.js under /var/lib/procflow) or with a node installed elsewhere` : null;
}

export interface GuestRunOptions {
  /** argv of the command, run with cwd `cwd` (default: the checkout). */
  command: string[];
  /** The command's whole environment besides HOME and PATH (nothing leaks in from the host). */
  env: Record<string, string>;
  timeoutMs: number;
  /** Host directory shared writable with the guest at GUEST_RESULTS_DIR; created if missing. */
  resultsDir: string;
  accel?: Accel;
  cwd?: string;
  /** Each console line as it arrives (progress, heartbeats). */
  onConsoleLine?: (line: string) => void;
}

export interface GuestResult {
  /** The command's exit code; null when it never finished (timeout, boot failure). */
  code: number | null;
  consoleLog: string;
  /** From starting qemu to its exit. */
  durationMs: number;
  /** From starting qemu until init was about to run the command; null when it never got there. */
  bootMs: number | null;
  timedOut: boolean;
  /** Why there is no exit code, when there is none. */
  error?: string;
  /** A kernel Oops, BUG or panic seen on the console, even when the command finished. */
  crash?: string;
  stdout: string;
  stderr: string;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The job script init runs in the chroot: environment, cwd, the command, its outputs and code. */
function jobScript(opts: GuestRunOptions): string {
  const env: Record<string, string> = { HOME: '/tmp', PATH: GUEST_PATH, LANG: 'C.UTF-8', ...opts.env };
  const lines = ['# written by test/matrix/guest.ts: the command this guest runs'];
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new MatrixError(`environment variable name ${JSON.stringify(k)} cannot be passed to a guest`);
    lines.push(`export ${k}=${quote(v)}`);
  }
  const r = GUEST_RESULTS_DIR;
  lines.push(
    `cd ${quote(opts.cwd ?? CHECKOUT)} || { echo 125 > ${r}/exit-code; exit 0; }`,
    `( ${opts.command.map(quote).join(' ')} 2>${r}/stderr.txt; echo $? > ${r}/exit-code ) | tee ${r}/stdout.txt`,
    '',
  );
  return lines.join('\n');
}

export function qemuArgs(kernel: FetchedKernel, initramfs: string, resultsDir: string, accel: Accel): string[] {
  return [
    '-nodefaults', '-nographic', '-no-reboot', '-serial', 'stdio', '-monitor', 'none',
    '-m', '3G', '-smp', '2',
    ...(accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-kernel', kernel.vmlinuz, '-initrd', initramfs,
    '-append', 'console=ttyS0 panic=-1 quiet',
    '-fsdev', 'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device', 'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev', `local,id=results,path=${resultsDir},security_model=none,multidevs=remap`,
    '-device', 'virtio-9p-pci,fsdev=results,mount_tag=results',
    // romfile= : no iPXE option ROM, the kernel is booted directly.
    '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0,romfile=',
    '-device', 'virtio-rng-pci',
  ];
}

const readIf = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');

/** The guest kernel's first crash line on the console (Oops, BUG, panic), or null. */
export function kernelCrash(consoleLog: string): string | null {
  // Kernel lines carry their [ seconds ] stamp (quiet still prints errors); test output does not.
  const text = /\[\s*\d+\.\d+\]\s*((Oops|BUG: |Kernel panic)[^\n]*)/.exec(consoleLog)?.[1]?.trim();
  if (!text) return null;
  // QEMU 7.2's TCG can run a stale translation of code the kernel is patching (static keys):
  // an int3 Oops at a 2-byte nop. Fixed in QEMU 8.
  return /int3/.test(text) ? `${text} (the QEMU 7.2 TCG text-patching bug; QEMU 8+ fixes it)` : text;
}

/** Boot `kernel`, run the command, power off. Rejects only when qemu cannot be started at all. */
export async function runInGuest(kernel: FetchedKernel, opts: GuestRunOptions): Promise<GuestResult> {
  if (!isAbsolute(opts.resultsDir)) throw new MatrixError(`resultsDir must be absolute: ${opts.resultsDir}`);
  mkdirSync(opts.resultsDir, { recursive: true });
  for (const f of ['exit-code', 'stdout.txt', 'stderr.txt', 'console.log']) rmSync(join(opts.resultsDir, f), { force: true });
  writeFileSync(join(opts.resultsDir, GUEST_JOB_FILE), jobScript(opts));
  const initramfs = ensureInitramfs(kernel);

  const started = Date.now();
  const qemu = spawn(QEMU, qemuArgs(kernel, initramfs, opts.resultsDir, opts.accel ?? 'tcg'), { stdio: ['ignore', 'pipe', 'pipe'] });
  const logFile = createWriteStream(join(opts.resultsDir, 'console.log'));
  let consoleLog = '';
  let partial = '';
  let bootMs: number | null = null;
  // SeaBIOS clears the screen with escape sequences; the log keeps text only.
  const onData = (d: string) => {
    const text = d.replace(/\r/g, '').replace(/\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])/g, '');
    logFile.write(text);
    consoleLog += text;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (bootMs === null && line.includes(READY_MARKER)) bootMs = Date.now() - started;
      opts.onConsoleLine?.(line);
    }
  };
  qemu.stdout.setEncoding('utf8').on('data', onData);
  qemu.stderr.setEncoding('utf8').on('data', onData);

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    qemu.kill('SIGKILL');
  }, opts.timeoutMs);
  const exit = await new Promise<{ code: number | string | null; spawnError?: Error }>((resolve) => {
    qemu.once('error', (err) => resolve({ code: null, spawnError: err }));
    qemu.once('close', (code, signal) => resolve({ code: code ?? signal }));
  });
  clearTimeout(timer);
  await new Promise<void>((r) => logFile.end(() => r()));
  if (exit.spawnError) {
    throw new MatrixError(`cannot start ${QEMU}: ${exit.spawnError.message}`, 'apt-get install qemu-system-x86 (or set PROCFLOW_QEMU)', { cause: exit.spawnError });
  }

  const durationMs = Date.now() - started;
  const codeText = readIf(join(opts.resultsDir, 'exit-code')).trim();
  const result: GuestResult = {
    code: /^\d+$/.test(codeText) ? Number(codeText) : null,
    consoleLog,
    durationMs,
    bootMs,
    timedOut,
    stdout: readIf(join(opts.resultsDir, 'stdout.txt')),
    stderr: readIf(join(opts.resultsDir, 'stderr.txt')),
  };
  const crash = kernelCrash(consoleLog);
  if (crash) result.crash = crash;
  if (result.code === null) {
    const tail = consoleLog.trim().split('\n').slice(-15).join('\n');
    if (crash) result.error = `the guest kernel crashed ${bootMs === null ? 'while booting' : 'while the command ran'}: ${crash}; console tail:\n${tail}`;
    else if (timedOut) result.error = `timed out after ${Math.round(opts.timeoutMs / 1000)} s; console tail:\n${tail}`;
    else if (bootMs === null) result.error = `the guest stopped before the command started (qemu exit ${exit.code}); console tail:\n${tail}`;
    else if (!consoleLog.includes(DONE_MARKER)) result.error = `the guest stopped while the command ran; console tail:\n${tail}`;
    else result.error = `the command left no exit code; console tail:\n${tail}`;
  }
  return result;
}
