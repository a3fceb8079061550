// Community ID v1 (https://github.com/corelight/community-id-spec): a flow hash that other
// tools (Zeek, Suricata, Elastic) compute the same way, so flows can be joined across them.
// sha1(seed16 | lower ip | higher ip | proto8 | 0 | lower port16 | higher port16), base64, "1:".
import { createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) {
    const b = Buffer.allocUnsafe(4);
    let octet = 0;
    let i = 0;
    for (let k = 0; k < ip.length; k++) {
      const c = ip.charCodeAt(k);
      if (c === 46) {
        b[i++] = octet;
        octet = 0;
      } else octet = octet * 10 + (c - 48);
    }
    b[i] = octet;
    return b;
  }
  return ipv6Bytes(ip);
}

function ipv6Bytes(ip: string): Buffer {
  let text = ip;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const b = v4tail[1]!.split('.').map(Number);
    text = `${text.slice(0, v4tail.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

export function communityId(proto: number, srcIp: string, srcPort: number, dstIp: string, dstPort: number, seed = 0): string {
  let a = ipBytes(srcIp);
  let b = ipBytes(dstIp);
  let pa = srcPort;
  let pb = dstPort;
  const cmp = Buffer.compare(a, b);
  // Order the endpoints so both directions of a flow hash the same.
  if (cmp > 0 || (cmp === 0 && pa > pb)) {
    [a, b] = [b, a];
    [pa, pb] = [pb, pa];
  }
  const head = Buffer.alloc(2);
  head.writeUInt16BE(seed);
  const tail = Buffer.alloc(6);
  tail.writeUInt8(proto, 0);
  tail.writeUInt8(0, 1);
  tail.writeUInt16BE(pa, 2);
  tail.writeUInt16BE(pb, 4);
  return `1:${createHash('sha1').update(head).update(a).update(b).update(tail).digest('base64')}`;
}
