// Process event handlers, one per event kind: adding an event kind touches this file only.
import type { DnsEvent, ExecEvent, ExitEvent, ForkEvent, ProcessEvent, ProcessEventKind } from '../../native/types.js';
import type { ProcessEventDoc } from '../../schema/index.js';
import type { ProcessCache } from './process-cache.js';
import type { ProcessEventBuilder } from './process-events.js';

export interface HandlerContext {
  cache: ProcessCache;
  events: ProcessEventBuilder;
  /** A finished process event document (exec or exit). */
  emit(doc: ProcessEventDoc): void;
  /** A process exited (its UDP flows complete at the next flush). */
  exited?(pid: number, startNs: bigint): void;
  /** A DNS packet the kernel captured (it travels the process event ring; the DNS code takes it). */
  dns?(ev: DnsEvent): void;
}

type Handler<E extends ProcessEvent> = (ev: E, ctx: HandlerContext) => void;

const HANDLERS: { [K in ProcessEventKind]: Handler<Extract<ProcessEvent, { kind: K }>> } = {
  exec: (ev: ExecEvent, ctx) => {
    const e = ctx.cache.onExec(ev);
    ctx.emit(ctx.events.exec(e, ev.timeNs));
  },
  fork: (ev: ForkEvent, ctx) => {
    // Forks are not exported (Tetragon neither); they give the child its parent's image until exec.
    ctx.cache.onFork(ev);
  },
  dns: (ev: DnsEvent, ctx) => ctx.dns?.(ev),
  exit: (ev: ExitEvent, ctx) => {
    const e = ctx.cache.onExit(ev);
    ctx.exited?.(ev.pid, ev.startNs);
    ctx.emit(ctx.events.exit(e, ev.timeNs));
  },
};

export function handleEvent(ev: ProcessEvent, ctx: HandlerContext): void {
  (HANDLERS[ev.kind] as Handler<ProcessEvent>)(ev, ctx);
}
