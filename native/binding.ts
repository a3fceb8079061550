// Resolves and loads the compiled addon (native/build/Release/procflow.node). The package is
// ESM, so the CommonJS loader comes from createRequire.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The raw shapes the C++ side exposes; native/index.ts wraps them. */
export interface RawHook {
  hook: string;
  via: string;
  target: string;
  reason: string;
}

export interface RawProgram {
  name: string;
  section: string;
  attached: boolean;
  /** The kernel's program id; absent when the kernel would not describe the program. */
  id?: number;
  /** Time spent in the program and its runs, counted only while run-time statistics are on. */
  runTimeNs?: number;
  runCount?: number;
}

export interface RawCounters {
  eventsLost: number;
  flowMapFull: number;
  sockMapFull: number;
  execSeen: number;
  flowUpdates: number;
  dnsSeen: number;
  dnsCut: number;
  eventsDroppedUser: number;
  eventsDelivered: number;
  drainMethod: string;
}

export interface RawCollectorOptions {
  flowMapEntries?: number;
  socketMapEntries?: number;
  maxArgsBytes?: number;
  ringBufferBytes?: number;
  hookMode?: string;
  ignorePid?: number;
  udpPeers?: boolean;
  namespaces?: boolean;
  dns?: boolean;
  dnsPort?: number;
  dnsLocal?: string;
  dnsLocalSockets?: { path: string; protocol: string }[];
}

export interface RawCollector {
  hooks(): RawHook[];
  programs(): RawProgram[];
  start(onBatch: (batch: Buffer, count: number) => void): void;
  drainFlows(): Buffer;
  counters(): RawCounters;
  close(): void;
}

export interface RawProbe {
  btf: boolean;
  tracefs: string;
  kprobes: boolean;
  kprobesWhy: string;
  tpBtfSockSendLength: boolean;
  tpBtfSchedProcessExec: boolean;
  tracepointSockSendLength: boolean;
  tracepointSchedProcessExec: boolean;
}

export interface Addon {
  Collector: new (opts: RawCollectorOptions) => RawCollector;
  /** A copy of the BPF object (ELF) the collector loads, for tests that read its BTF. */
  bpfObject(): Buffer;
  probe(): RawProbe;
  /** Turns on every BPF program's run-time statistics while the returned fd stays open. */
  enableRunTimeStats(): number;
  libbpfVersion: string;
}

/** Where the addon may be, first match wins. */
export function addonCandidates(): string[] {
  const list: string[] = [];
  if (process.env.PROCFLOW_NATIVE_ADDON) list.push(process.env.PROCFLOW_NATIVE_ADDON);
  // Compiled: dist/native/binding.js; from source: native/binding.ts.
  list.push(fileURLToPath(new URL('../../native/build/Release/procflow.node', import.meta.url)));
  list.push(fileURLToPath(new URL('./build/Release/procflow.node', import.meta.url)));
  return list;
}

let cached: { addon: Addon; path: string } | { error: string } | undefined;

/** Load the addon once; the error says where it looked and how to build it. */
export function loadAddon(): { addon: Addon; path: string } | { error: string } {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      tried.push(path);
      continue;
    }
    try {
      cached = { addon: require(path) as Addon, path };
      return cached;
    } catch (err) {
      cached = { error: `native addon at ${path} failed to load: ${(err as Error).message}` };
      return cached;
    }
  }
  cached = { error: `native addon not built (looked for ${tried.join(', ')}); run npm run build:kernel` };
  return cached;
}
