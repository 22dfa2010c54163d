import * as phash from '../search/phash.js';

// Bound once at load (see phash-groups.ts): the loop in `within` runs once per upload.
const { isPhash, phashWords, popcount32, readPhashInto } = phash;

/** The hashes of one owner's uploads, parsed once for many distance queries. */
export class PhashSet {
  readonly ids: string[] = [];
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;

  /** Malformed hashes are left out (they are near nothing). */
  constructor(rows: readonly { id: string; phash: string | null }[]) {
    this.hi = new Uint32Array(rows.length);
    this.lo = new Uint32Array(rows.length);
    for (const row of rows) if (readPhashInto(row.phash, this.hi, this.lo, this.ids.length)) this.ids.push(row.id);
  }

  get size(): number {
    return this.ids.length;
  }

  /**
   * The uploads whose hash is within `maxDistance` bits of `phash`, except `exceptId`, nearest
   * first (ties by id, so the order is stable); at most `limit` of them. A linear pass over
   * typed arrays: 20,000 hashes take well under a millisecond.
   */
  within(phash: string, maxDistance: number, exceptId?: string, limit = Infinity): { id: string; distance: number }[] {
    if (!isPhash(phash)) return [];
    const [qh, ql] = phashWords(phash);
    const found: { id: string; distance: number }[] = [];
    const { hi, lo, ids } = this;
    for (let i = 0; i < ids.length; i++) {
      const distance = popcount32(hi[i] ^ qh) + popcount32(lo[i] ^ ql);
      if (distance <= maxDistance && ids[i] !== exceptId) found.push({ id: ids[i], distance });
    }
    found.sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return found.length > limit ? found.slice(0, limit) : found;
  }
}
