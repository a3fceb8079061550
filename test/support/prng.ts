// A seeded pseudo-random generator (mulberry32) for tests and benchmarks: the same seed gives
// the same sequence on every run, so a failure names the seed that repeats it.

/** Numbers in [0, 1), the same sequence for the same seed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
