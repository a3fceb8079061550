// Bearer-token check. Both sides are hashed first so the comparison is constant-time and does
// not leak the token's length.
import { createHash, timingSafeEqual } from 'node:crypto';

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

export function bearerChecker(token: string): (authorization: string | undefined) => boolean {
  if (!token) throw new Error('indexer: the token must not be empty');
  const expected = sha256(token);
  return (authorization) => {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    // Still hash something when the header is absent, so both paths cost the same.
    const given = sha256(m?.[1] ?? '');
    return timingSafeEqual(given, expected) && m !== null;
  };
}
