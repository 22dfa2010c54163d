import { describe, expect, it } from 'vitest';
import { hammingDistance, isPhash } from '../search/phash.js';
import { nearDuplicateGroups } from './phash-groups.js';

/** A seeded generator (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const word = (next: () => number) => ((next() * 2 ** 32) >>> 0).toString(16).padStart(8, '0');
const randomHash = (next: () => number) => word(next) + word(next);

/** `hash` with `bits` distinct random bits flipped. */
function flip(hash: string, bits: number, next: () => number): string {
  let value = BigInt(`0x${hash}`);
  const chosen = new Set<number>();
  while (chosen.size < bits) chosen.add(Math.floor(next() * 64));
  for (const bit of chosen) value ^= 1n << BigInt(bit);
  return value.toString(16).padStart(16, '0');
}

/**
 * Clusters around random centres, members 0–14 bits from their centre (so some are within the
 * threshold of each other only through a third: the transitive case), with exact copies, plus
 * unrelated hashes, in shuffled order.
 */
function clustered(seed: number, clusters: number, unrelated: number): string[] {
  const next = random(seed);
  const out: string[] = [];
  for (let c = 0; c < clusters; c++) {
    const centre = randomHash(next);
    const members = 1 + Math.floor(next() * 8);
    for (let m = 0; m < members; m++) out.push(flip(centre, Math.floor(next() * 15), next));
    if (next() < 0.3) out.push(centre, centre);
  }
  for (let i = 0; i < unrelated; i++) out.push(randomHash(next));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The oracle: every pair compared (with the string distance), components by repeated merging. */
function bruteForce(hashes: string[], maxDistance: number): number[][] {
  const label = hashes.map((_, i) => i);
  const relabel = (from: number, to: number) => {
    for (let k = 0; k < label.length; k++) if (label[k] === from) label[k] = to;
  };
  for (let i = 0; i < hashes.length; i++)
    for (let j = i + 1; j < hashes.length; j++)
      if (
        isPhash(hashes[i]) &&
        isPhash(hashes[j]) &&
        label[i] !== label[j] &&
        hammingDistance(hashes[i], hashes[j]) <= maxDistance
      )
        relabel(label[j], label[i]);
  const groups = new Map<number, number[]>();
  label.forEach((l, i) => groups.set(l, [...(groups.get(l) ?? []), i]));
  return [...groups.values()].filter((g) => g.length >= 2);
}

const canonical = (groups: number[][]) => groups.map((g) => [...g].sort((a, b) => a - b)).sort((a, b) => a[0] - b[0]);

describe('nearDuplicateGroups', () => {
  const sets: Array<[string, string[]]> = [
    [
      'random',
      Array.from(
        { length: 500 },
        (
          (next) => () =>
            randomHash(next)
        )(random(1)),
      ),
    ],
    ['clustered', clustered(2, 60, 150)],
    ['clustered, few unrelated', clustered(3, 120, 10)],
  ];
  // Every probe radius (⌊r/4⌋ = 0…4), the edges of each, and the all-pairs fallback (r ≥ 16).
  const distances = [0, 1, 3, 4, 5, 7, 8, 10, 11, 12, 15, 16, 20, 32, 64];

  for (const [name, hashes] of sets)
    it.each(distances)(`matches all-pairs comparison on ${name} hashes, max distance %i, either pass`, (r) => {
      const expected = canonical(bruteForce(hashes, r));
      expect(canonical(nearDuplicateGroups(hashes, r))).toEqual(expected);
      expect(canonical(nearDuplicateGroups(hashes, r, 'index'))).toEqual(expected);
      expect(canonical(nearDuplicateGroups(hashes, r, 'scan'))).toEqual(expected);
    });

  it('the clustered sets really exercise grouping (several groups, some joined only transitively)', () => {
    const hashes = clustered(2, 60, 150);
    const groups = nearDuplicateGroups(hashes, 10);
    expect(groups.length).toBeGreaterThan(20);
    const transitive = groups.some((g) => g.some((a) => g.some((b) => hammingDistance(hashes[a], hashes[b]) > 10)));
    expect(transitive).toBe(true);
  });

  it('joins identical hashes (any case) and leaves malformed entries out', () => {
    const zero = '0000000000000000';
    const hashes = [zero, 'ABCDEF0123456789', 'not a hash', zero, 'abcdef0123456789', '', '0000000000000001'];
    expect(canonical(nearDuplicateGroups(hashes, 0))).toEqual([
      [0, 3],
      [1, 4],
    ]);
    expect(canonical(nearDuplicateGroups(hashes, 1))).toEqual([
      [0, 3, 6],
      [1, 4],
    ]);
  });

  it('a chain is one group even when its ends are far apart', () => {
    const next = random(9);
    const chain = [randomHash(next)];
    for (let i = 0; i < 10; i++) chain.push(flip(chain[chain.length - 1], 6, next));
    const spread = Math.max(...chain.map((h) => hammingDistance(chain[0], h)));
    expect(spread).toBeGreaterThan(10);
    const groups = nearDuplicateGroups(chain, 6);
    expect(groups).toEqual([chain.map((_, i) => i)]);
  });

  it('refuses a distance outside 0–64', () => {
    expect(() => nearDuplicateGroups([], -1)).toThrow(RangeError);
    expect(() => nearDuplicateGroups([], 65)).toThrow(RangeError);
    expect(() => nearDuplicateGroups([], 2.5)).toThrow(RangeError);
    expect(nearDuplicateGroups([], 10)).toEqual([]);
  });

  it('groups 20,000 clustered hashes at the default distance in well under the 300 ms budget', () => {
    const hashes = clustered(5, 3000, 6000);
    expect(hashes.length).toBeGreaterThan(15_000);
    nearDuplicateGroups(hashes, 10); // warm-up (JIT)
    const started = performance.now();
    const groups = nearDuplicateGroups(hashes, 10);
    const ms = performance.now() - started;
    expect(groups.length).toBeGreaterThan(1000);
    // Generous for a loaded CI machine; bench/ and the report give the real figure.
    expect(ms).toBeLessThan(1000);
  });
});
