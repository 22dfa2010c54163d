/**
 * The analyzer's perceptual hash (a 64-bit DCT pHash as 16 hex digits, `uploads.phash`) and the
 * distance between two: shared by the analyzer (visual-analysis) and similar-photo search here.
 */

/** Two images whose hashes differ in at most this many bits are treated as near-duplicates. */
export const NEAR_DUPLICATE_MAX_DISTANCE = 10;

/**
 * The largest `max_distance` a client may ask for: unrelated photos already differ in ~32 of the
 * 64 bits on average, so anything looser is noise.
 */
export const MAX_PHASH_DISTANCE = 32;

/**
 * The largest `max_distance` for duplicate groups: grouping compares a whole library on the
 * request's thread, and its cost climbs steeply with the distance (20,000 random-looking hashes:
 * 0.3 s at 18, 0.7 s at 21); beyond 12 "duplicates" are merely similar anyway.
 */
export const MAX_DUPLICATE_DISTANCE = 12;

const HEX16 = /^[0-9a-f]{16}$/i;

/** A well-formed hash (16 hex digits, either case). */
export function isPhash(value: unknown): value is string {
  return typeof value === 'string' && HEX16.test(value);
}

/** Set bits of a 32-bit value (SWAR popcount: no loop, no table). */
export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** The hash's high and low 32 bits, as unsigned numbers (comparisons without strings). */
export function phashWords(hash: string): [number, number] {
  return [parseInt(hash.slice(0, 8), 16) >>> 0, parseInt(hash.slice(8, 16), 16) >>> 0];
}

/**
 * Parses a hash into `hi[at]` and `lo[at]` (its high and low 32 bits) without making strings or
 * arrays (many thousands are read per request); false, leaving them unset, when malformed.
 */
export function readPhashInto(hash: unknown, hi: Uint32Array, lo: Uint32Array, at: number): boolean {
  if (typeof hash !== 'string' || hash.length !== 16) return false;
  let high = 0;
  let low = 0;
  for (let i = 0; i < 16; i++) {
    const code = hash.charCodeAt(i);
    // 0-9, A-F, a-f → 0–15; anything else → -1.
    const digit =
      code >= 48 && code <= 57
        ? code - 48
        : code >= 97 && code <= 102
          ? code - 87
          : code >= 65 && code <= 70
            ? code - 55
            : -1;
    if (digit < 0) return false;
    if (i < 8) high = (high << 4) | digit;
    else low = (low << 4) | digit;
  }
  hi[at] = high >>> 0;
  lo[at] = low >>> 0;
  return true;
}

/** Number of differing bits between two 16-hex-char (64-bit) perceptual hashes, 0–64. */
export function hammingDistance(a: string, b: string): number {
  if (!isPhash(a) || !isPhash(b)) {
    throw new TypeError('hammingDistance expects two 16-character hexadecimal hashes');
  }
  const [ah, al] = phashWords(a);
  const [bh, bl] = phashWords(b);
  return popcount32(ah ^ bh) + popcount32(al ^ bl);
}
