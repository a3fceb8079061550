// DNS packets from the kernel to parsed messages: a UDP payload is one message; TCP segments of
// one socket and direction are joined and cut at their 2-byte length prefixes. Every stream is
// bounded (a message is at most 64 KiB, the streams kept at most `maxStreams`), so a peer that
// sends a huge or never-ending length gets its stream dropped, counted, and nothing else.
import type { DnsEvent } from '../../native/types.js';
import { LocalResolverStreams } from './local-resolver.js';
import { parseDnsMessage, type DnsMessage, type DnsParseFailure } from './message.js';

/** A parsed DNS message and the packet it came in. */
export interface CapturedMessage {
  event: DnsEvent;
  message: DnsMessage;
}

export interface DnsCaptureStats {
  packets: number;
  messages: number;
  /** Packets the kernel cut at its capture size (a UDP message then parses partially, or not). */
  cut: number;
  malformed: Partial<Record<DnsParseFailure, number>>;
  /** TCP streams dropped: over the bound, or out of step after a lost or cut segment. */
  streamsDropped: number;
}

interface Stream {
  buf: Buffer;
  lastNs: bigint;
}

const TCP_MESSAGE_MAX = 65_535 + 2;

export class DnsCapture {
  private readonly streams = new Map<string, Stream>();
  readonly stats: DnsCaptureStats = { packets: 0, messages: 0, cut: 0, malformed: {}, streamsDropped: 0 };

  /** Lookups through local resolver sockets (nscd, systemd-resolved's varlink), their own framing. */
  readonly local: LocalResolverStreams;

  constructor(private readonly maxStreams = 1024) {
    this.local = new LocalResolverStreams(maxStreams);
  }

  /** The messages one packet (or local resolver read or write) completes: none, one, or several for TCP. */
  take(ev: DnsEvent): CapturedMessage[] {
    if (ev.channel !== 'net') return this.local.take(ev, ev.channel);
    this.stats.packets++;
    const cut = ev.wireLength > ev.payload.length;
    if (cut) this.stats.cut++;
    if (ev.proto === 'udp') {
      const m = this.parse(ev.payload);
      return m ? [{ event: ev, message: m }] : [];
    }
    // A cut TCP segment loses bytes the stream needs: the rest of that stream cannot be framed.
    const key = `${ev.cookie}|${ev.direction}`;
    if (cut) {
      if (this.streams.delete(key)) this.stats.streamsDropped++;
      return [];
    }
    let s = this.streams.get(key);
    if (!s) {
      if (this.streams.size >= this.maxStreams) {
        // The stream idle the longest gives way.
        let oldest: string | undefined;
        let at = -1n;
        for (const [k, v] of this.streams) if (at < 0n || v.lastNs < at) (oldest = k), (at = v.lastNs);
        if (oldest !== undefined) this.streams.delete(oldest), this.stats.streamsDropped++;
      }
      s = { buf: Buffer.alloc(0), lastNs: ev.timeNs };
      this.streams.set(key, s);
    }
    s.buf = s.buf.length ? Buffer.concat([s.buf, ev.payload]) : ev.payload;
    s.lastNs = ev.timeNs;
    const out: CapturedMessage[] = [];
    while (s.buf.length >= 2) {
      const len = s.buf.readUInt16BE(0);
      if (s.buf.length < 2 + len) break;
      const m = this.parse(s.buf.subarray(2, 2 + len));
      if (m) out.push({ event: ev, message: m });
      s.buf = s.buf.subarray(2 + len);
    }
    if (s.buf.length === 0) this.streams.delete(key);
    else if (s.buf.length > TCP_MESSAGE_MAX) {
      this.streams.delete(key);
      this.stats.streamsDropped++;
    }
    return out;
  }

  /** TCP streams waiting for the rest of a message. */
  get pendingStreams(): number {
    return this.streams.size;
  }

  private parse(bytes: Buffer): DnsMessage | undefined {
    const r = parseDnsMessage(bytes);
    if (!r.ok) {
      this.stats.malformed[r.reason] = (this.stats.malformed[r.reason] ?? 0) + 1;
      return undefined;
    }
    this.stats.messages++;
    return r;
  }
}
