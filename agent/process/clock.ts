// Time bases. The kernel reports CLOCK_BOOTTIME nanoseconds (bigint); /proc/<pid>/stat reports a
// process start time in clock ticks since boot (USER_HZ, 100 on Linux); documents want epoch
// milliseconds. Everything converts through here so a process seen by /proc and by the kernel
// lands on the same key and exec_id.
import { readFileSync } from 'node:fs';

/** USER_HZ: the unit of /proc/<pid>/stat field 22. Linux fixes it at 100 for user space. */
export const CLOCK_TICKS_PER_SECOND = 100;
export const NS_PER_TICK = 1_000_000_000n / BigInt(CLOCK_TICKS_PER_SECOND);

/**
 * Start times normalised to clock-tick precision. The kernel's start_boottime has nanosecond
 * precision but /proc only shows whole ticks (nsec_to_clock_t truncates), so both sides are cut
 * to whole ticks before they are compared or hashed. pid + start tick stays unique: a pid cannot
 * be reused within the same 10 ms tick after its previous owner started.
 */
export function startTickNs(startNs: bigint): bigint {
  return startNs - (startNs % NS_PER_TICK);
}

export function ticksToNs(ticks: number | bigint): bigint {
  return BigInt(ticks) * NS_PER_TICK;
}

/**
 * Maps boottime ns to epoch ms. Node has no CLOCK_BOOTTIME, but /proc/uptime is the boottime
 * clock in seconds (10 ms resolution); the offset is sampled once and reused, which is exact
 * enough for document timestamps and keeps conversions allocation-free.
 */
export class BootClock {
  private readonly bootEpochMs: number;

  constructor(bootEpochMs?: number) {
    this.bootEpochMs = bootEpochMs ?? BootClock.sampleBootEpochMs();
  }

  static sampleBootEpochMs(): number {
    try {
      const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      if (Number.isFinite(uptimeS)) return Date.now() - Math.round(uptimeS * 1000);
    } catch {
      // not Linux: fall through to the monotonic clock, which is what boottime is without suspend
    }
    return Date.now() - Math.round(performance.now() + performance.timeOrigin - Date.now());
  }

  toEpochMs(bootNs: bigint): number {
    return this.bootEpochMs + Number(bootNs / 1_000_000n);
  }

  toIso(bootNs: bigint): string {
    return new Date(this.toEpochMs(bootNs)).toISOString();
  }

  /** Boottime ns of an epoch ms (for synthetic sources and tests). */
  fromEpochMs(epochMs: number): bigint {
    return BigInt(Math.round(epochMs - this.bootEpochMs)) * 1_000_000n;
  }

  nowNs(): bigint {
    return this.fromEpochMs(Date.now());
  }
}
