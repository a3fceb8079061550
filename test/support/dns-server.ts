// A small authoritative DNS server for the tests, over UDP and TCP on one address and port:
// a zone of A, AAAA and CNAME records, NXDOMAIN for names it does not hold, and truncation
// (TC) of UDP answers over 512 bytes, so a resolver falls back to TCP as it would for real.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';

export type ZoneRecord = { type: 'A'; address: string } | { type: 'AAAA'; address: string } | { type: 'CNAME'; target: string };

/** name (lower case, no final dot) -> its records. */
export type Zone = Record<string, ZoneRecord[]>;

const TYPE = { A: 1, CNAME: 5, AAAA: 28 } as const;
const NXDOMAIN = 3;
const UDP_LIMIT = 512;

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function rdataOf(r: ZoneRecord): Buffer {
  if (r.type === 'A') return Buffer.from(r.address.split('.').map(Number));
  if (r.type === 'CNAME') return encodeName(r.target);
  const [head, tail = ''] = r.address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function record(name: string, r: ZoneRecord, ttl: number): Buffer {
  const rdata = rdataOf(r);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPE[r.type], 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(name), fixed, rdata]);
}

/** The question of a query: its name (labels only: queries carry no pointers), type, and where it ends. */
function questionOf(q: Buffer): { name: string; type: number; end: number } | undefined {
  let off = 12;
  const labels: string[] = [];
  while (off < q.length && q[off]! > 0) {
    const len = q[off]!;
    if (len > 63) return undefined;
    labels.push(q.toString('ascii', off + 1, off + 1 + len).toLowerCase());
    off += 1 + len;
  }
  if (off + 5 > q.length) return undefined;
  return { name: labels.join('.'), type: q.readUInt16BE(off + 1), end: off + 5 };
}

/** The response to a query: the CNAME chain from the name, then the records of the asked type. */
export function answer(zone: Zone, q: Buffer, opts: { udp: boolean; ttl?: number }): Buffer | undefined {
  const question = questionOf(q);
  if (!question) return undefined;
  const answers: Buffer[] = [];
  let name = question.name;
  let rcode = 0;
  for (let hops = 0; hops < 8; hops++) {
    const records = zone[name];
    if (!records) {
      if (hops === 0) rcode = NXDOMAIN;
      break;
    }
    const cname = records.find((r) => r.type === 'CNAME');
    if (cname && question.type !== TYPE.CNAME) {
      answers.push(record(name, cname, opts.ttl ?? 60));
      name = (cname as { target: string }).target;
      continue;
    }
    for (const r of records) if (TYPE[r.type] === question.type) answers.push(record(name, r, opts.ttl ?? 60));
    break;
  }
  const head = Buffer.alloc(12);
  head.writeUInt16BE(q.readUInt16BE(0), 0);
  head.writeUInt16BE(0x8180 | rcode, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(answers.length, 6);
  const full = Buffer.concat([head, q.subarray(12, question.end), ...answers]);
  if (!opts.udp || full.length <= UDP_LIMIT) return full;
  head.writeUInt16BE(0x8380 | rcode, 2); // TC: ask again over TCP
  head.writeUInt16BE(0, 6);
  return Buffer.concat([head, q.subarray(12, question.end)]);
}

export interface DnsServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Serves `zone` on host:port over UDP and TCP (port 0: a free port, the same for both). */
export async function startDnsServer(zone: Zone, host = '127.0.0.1', port = 0): Promise<DnsServer> {
  const tcp: Server = createServer((s: TcpSocket) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + q.length);
        const r = answer(zone, q, { udp: false });
        if (r) s.write(Buffer.concat([Buffer.from([r.length >> 8, r.length & 0xff]), r]));
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => tcp.listen(port, host, r));
  const bound = (tcp.address() as { port: number }).port;
  const udp: Socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  udp.on('message', (q, from) => {
    const r = answer(zone, q, { udp: true });
    if (r) udp.send(r, from.port, from.address);
  });
  await new Promise<void>((r) => udp.bind(bound, host, r));
  return {
    host,
    port: bound,
    close: async () => {
      udp.close();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

/**
 * A forwarding stub resolver as a separate process (as systemd-resolved on 127.0.0.53 is): it
 * relays each UDP query to the upstream from a socket of its own and relays the answer back.
 */
export const STUB_RESOLVER = `
const dgram = require('node:dgram');
const [host, port, upHost, upPort] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.on('message', (q, from) => {
  const up = dgram.createSocket('udp4');
  up.on('message', (r) => { s.send(r, from.port, from.address); up.close(); });
  up.send(q, Number(upPort), upHost);
});
s.bind(Number(port), host, () => console.log('stub: ready'));
`;
