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
 * Date#toISOString, several times faster for times close together (each process document carries
 * three or four): the text up to the minute is kept and only seconds and milliseconds are
 * written. Anything else (another minute, years outside 0000-9999, non-integers) goes through
 * Date, so the text is always what toISOString gives.
 */
export class IsoTime {
  private minuteStartMs = NaN;
  private minutePrefix = '';
  private lastMs = NaN;
  private lastText = '';

  format(epochMs: number): string {
    if (epochMs === this.lastMs) return this.lastText;
    const inMinute = epochMs - this.minuteStartMs;
    let text: string;
    if (inMinute >= 0 && inMinute < 60_000 && Number.isInteger(epochMs)) {
      const s = Math.floor(inMinute / 1000);
      const ms = inMinute - s * 1000;
      text = `${this.minutePrefix}${s < 10 ? '0' : ''}${s}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
    } else {
      text = new Date(epochMs).toISOString();
      // "YYYY-MM-DDTHH:MM:SS.sssZ": a four-digit year, so the minute's text can be reused.
      if (text.length === 24 && Number.isInteger(epochMs)) {
        this.minuteStartMs = epochMs - (((epochMs % 60_000) + 60_000) % 60_000);
        this.minutePrefix = text.slice(0, 17);
      }
    }
    this.lastMs = epochMs;
    this.lastText = text;
    return text;
  }
}

/**
 * Maps boottime ns to epoch ms. Node has no CLOCK_BOOTTIME, but /proc/uptime is the boottime
 * clock in seconds (10 ms resolution); the offset is sampled once and reused, which is exact
 * enough for document timestamps and keeps conversions allocation-free.
 */
export class BootClock {
  private readonly bootEpochMs: number;
  private readonly iso = new IsoTime();

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
    return this.iso.format(this.toEpochMs(bootNs));
  }

  /** Boottime ns of an epoch ms (for synthetic sources and tests). */
  fromEpochMs(epochMs: number): bigint {
    return BigInt(Math.round(epochMs - this.bootEpochMs)) * 1_000_000n;
  }

  nowNs(): bigint {
    return this.fromEpochMs(Date.now());
  }
}
