// Flow -> process attribution. The cache answers for processes the kernel or the scan reported;
// on a miss the process may still be alive (its exec predates the agent's hooks, or the exec
// event was lost), so /proc is asked once; when it is gone too, Calico's rule applies and the
// flow carries the task name the kernel recorded with the flow, with empty arguments. Where the
// kernel's exec hook could not attach, a live process known only by its task name is read from
// /proc when its flow is flushed, so it is never named with the image its parent had.
import { startTickNs } from '../process/clock.js';
import type { ProcessCache, ProcessEntry } from '../process/process-cache.js';
import { readProcess, readStat } from '../process/procfs.js';

export interface AttributorOptions {
  /** Argument bytes read from /proc per process (the setting of that name, agent/config.ts). */
  max_args_size: number;
  procRoot?: string;
  /** Turn off the /proc fallback (synthetic sources, benchmarks). */
  procfsFallback?: boolean;
  /** False when exec events cannot be seen: task-name entries of live processes ask /proc. */
  execSeen?: boolean;
}

export class Attributor {
  procfsHits = 0;
  tasknameFallbacks = 0;

  constructor(private readonly cache: ProcessCache, private readonly opts: AttributorOptions) {}

  resolve(pid: number, startNs: bigint, comm: string): ProcessEntry {
    const hit = this.cache.lookup(pid, startNs);
    if (hit && (hit.source !== 'taskname' || hit.exited || this.opts.execSeen !== false)) return hit;
    if (pid > 0 && this.opts.procfsFallback !== false) {
      const stat = readStat(pid, this.opts.procRoot);
      // Same pid but another start time: the pid was reused, the flow's process is gone.
      if (stat && startTickNs(stat.startNs) === startTickNs(startNs)) {
        const snap = readProcess(pid, this.opts.max_args_size, this.opts.procRoot);
        if (snap && startTickNs(snap.startNs) === startTickNs(startNs)) {
          this.procfsHits++;
          return this.cache.onProcfs(snap);
        }
      }
    }
    this.tasknameFallbacks++;
    if (!hit) return this.cache.addGone(pid, startNs, comm);
    // The kernel's task name at the flow's first I/O names the image that did it.
    if (comm) hit.comm = comm;
    return hit;
  }
}
