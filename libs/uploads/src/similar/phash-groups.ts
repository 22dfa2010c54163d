import * as phash from '../search/phash.js';

// Bound once at load: some module loaders (vitest's) make every use of an import a getter call,
// which keeps the hot loops below from being inlined (2.9× slower measured); Node's ESM does not.
const popcount32 = phash.popcount32;
const readPhashInto = phash.readPhashInto;

/**
 * Groups of near-duplicates: the connected components of the graph whose edges join two hashes
 * at most `maxDistance` bits apart (so grouping is transitive), of two or more members. Returns
 * each group as the indices of its members in `hashes`, ascending; groups in no particular order.
 * Malformed entries (not 16 hex digits) belong to no group.
 *
 * Not a loop over all n²/2 pairs (200 M for 20,000 uploads): identical hashes are merged first,
 * then the distinct ones are compared only with the candidates a multi-index lookup finds
 * (Norouzi et al., "Fast Search in Hamming Space with Multi-Index Hashing", 2012). The 64 bits
 * are split into five chunks (13, 13, 13, 13 and 12 bits), each given a radius r_c with
 * Σ (r_c + 1) = r + 1; if two hashes are within r bits, some chunk c differs in at most r_c bits
 * (generalised pigeonhole: were every chunk r_c + 1 or more apart, the hashes would be at least
 * r + 1 apart). For the default r = 10 the radii are 2, 1, 1, 1, 1. So each hash is compared only
 * with the hashes whose chunk value is that close to its own in some chunk (a bucket lookup per
 * nearby value: 92 for radius 2 in 13 bits). Five chunks measured fastest (20,000 hashes, random
 * or clustered, r = 4–20: 15–45 % less time than four 16-bit chunks, ahead of six, seven or eight).
 * When the lookups would cost more than the pairs themselves (r ≥ ~22, or a small set), a search
 * that compares each pair at most once takes over (joinByScanning). Union-find joins the pairs.
 */
export function nearDuplicateGroups(
  hashes: readonly string[],
  maxDistance: number,
  /** Which pass joins the distinct hashes: chosen by expected cost unless forced (specs, benches). */
  strategy: 'auto' | 'index' | 'scan' = 'auto',
): number[][] {
  if (!Number.isInteger(maxDistance) || maxDistance < 0 || maxDistance > 64)
    throw new RangeError(`maxDistance must be an integer from 0 to 64, got ${maxDistance}`);
  const sets = new DisjointSets(hashes.length);
  const allHi = new Uint32Array(hashes.length);
  const allLo = new Uint32Array(hashes.length);
  const valid: number[] = [];
  for (let i = 0; i < hashes.length; i++) if (readPhashInto(hashes[i], allHi, allLo, i)) valid.push(i);

  // Identical hashes (a re-encode often hashes the same; every flat image hashes to zero) are one
  // group at once, and one entry below: a thousand copies of one hash would otherwise be a
  // million candidate pairs in every bucket they share. Found with an open-addressing table over
  // typed arrays (a Map keyed by numbers this large boxes every key: a third of the whole time).
  const slots = 1 << Math.max(4, Math.ceil(Math.log2(valid.length * 2 + 1)));
  const table = new Int32Array(slots).fill(-1);
  const distinct: number[] = [];
  for (const i of valid) {
    let slot = (Math.imul(allHi[i] ^ Math.imul(allLo[i], 0x9e3779b1), 0x85ebca6b) >>> 0) & (slots - 1);
    let same = table[slot];
    while (same !== -1 && (allHi[same] !== allHi[i] || allLo[same] !== allLo[i])) {
      slot = (slot + 1) & (slots - 1);
      same = table[slot];
    }
    if (same !== -1) sets.union(same, i);
    else {
      table[slot] = i;
      distinct.push(i);
    }
  }

  const n = distinct.length;
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    hi[k] = allHi[distinct[k]];
    lo[k] = allLo[distinct[k]];
  }

  // Chunk c is searched within radii[c] bits, where the radii + 1 add up to maxDistance + 1.
  const chunks = CHUNK_WIDTHS.map((_, c) =>
    chunkSearch(c, Math.floor((maxDistance + 1) / CHUNKS) + (c < (maxDistance + 1) % CHUNKS ? 1 : 0) - 1),
  );
  // Expected work, in all-pairs comparisons: per searched chunk, clearing and summing its 2^width
  // buckets, each occupied value probing half its masks (bucket pairs are visited once), and the
  // pairs in the buckets met (about n²/2^(width+1) per mask). A probe costs about twice a
  // comparison (measured on 20,000 random hashes: r = 16, 384 ms indexed against 835 ms all pairs).
  const indexed = chunks.reduce((sum, chunk) => {
    if (chunk.radius < 0) return sum;
    const values = 2 ** chunk.width;
    return sum + 2 * values + (chunk.masks.length + 1) * (Math.min(n, values) / 2 + (n * n) / (2 * values));
  }, 0);
  const unite = (a: number, b: number) => sets.union(distinct[a], distinct[b]);
  if (strategy === 'index' || (strategy === 'auto' && 2 * indexed < (n * n) / 2))
    joinIndexed(n, hi, lo, chunks, maxDistance, unite);
  else joinByScanning(n, hi, lo, maxDistance, unite);

  return sets.groups(2);
}

/** The chunks' widths, most significant first (they add up to 64). */
const CHUNK_WIDTHS = [13, 13, 13, 13, 12];
const CHUNKS = CHUNK_WIDTHS.length;
const CHUNK_STARTS = CHUNK_WIDTHS.map((_, c) => CHUNK_WIDTHS.slice(0, c).reduce((a, b) => a + b, 0));
const MAX_CHUNK_VALUES = 2 ** Math.max(...CHUNK_WIDTHS);

/** Bits [start, start + width) of the hash (bit 0 its most significant) whose words are hi, lo; width ≤ 16. */
function bitsAt(hi: number, lo: number, start: number, width: number): number {
  const end = start + width;
  const mask = (1 << width) - 1;
  if (end <= 32) return (hi >>> (32 - end)) & mask;
  if (start >= 32) return (lo >>> (64 - end)) & mask;
  // Across the two words: hi's last bits, then lo's first (end − 32) bits.
  const fromLow = end - 32;
  return ((hi << fromLow) | (lo >>> (32 - fromLow))) & mask;
}

/**
 * One chunk's search: its position, its radius (negative: not searched) and the non-zero masks
 * of `width` bits with at most `radius` bits set (XOR with a chunk value: the values that close
 * to it), ordered by their highest set bit: `masks[from[b]..from[b+1])` are those whose highest
 * bit is b.
 */
interface ChunkSearch {
  start: number;
  width: number;
  radius: number;
  masks: Uint16Array;
  from: Int32Array;
}

function chunkSearch(c: number, radius: number): ChunkSearch {
  const width = CHUNK_WIDTHS[c];
  const byTop: number[][] = Array.from({ length: width }, () => []);
  for (let m = 1; m < 2 ** width; m++) if (popcount32(m) <= radius) byTop[31 - Math.clz32(m)].push(m);
  const from = new Int32Array(width + 1);
  for (let b = 0; b < width; b++) from[b + 1] = from[b] + byTop[b].length;
  return { start: CHUNK_STARTS[c], width, radius, masks: Uint16Array.from(byTop.flat()), from };
}

/**
 * The multi-index pass, chunk by chunk: the distinct hashes bucketed by the chunk's value (a
 * counting sort into flat arrays: `start[v]..start[v+1]` are the positions in `member` of the
 * hashes whose chunk is v), then every pair of buckets whose values are within reach is compared,
 * member against member. Probing bucket pairs rather than one hash at a time touches each
 * occupied bucket once per reachable value, and a bitmap of the occupied values (1 KB, stays in
 * the CPU cache) answers most probes (an empty bucket) without reading the larger arrays. A pair
 * found through several chunks is compared again, which is cheaper than remembering it.
 */
function joinIndexed(
  n: number,
  hi: Uint32Array,
  lo: Uint32Array,
  chunks: ChunkSearch[],
  maxDistance: number,
  unite: (a: number, b: number) => void,
): void {
  const value = new Uint16Array(n);
  const start = new Int32Array(MAX_CHUNK_VALUES + 1);
  const fill = new Int32Array(MAX_CHUNK_VALUES);
  const member = new Int32Array(n);
  // The members' words in bucket order: a bucket's hashes are compared from consecutive memory.
  const memberHi = new Uint32Array(n);
  const memberLo = new Uint32Array(n);
  const near = (i: number, j: number) => {
    if (popcount32(memberHi[i] ^ memberHi[j]) + popcount32(memberLo[i] ^ memberLo[j]) <= maxDistance)
      unite(member[i], member[j]);
  };
  const occupied = new Uint32Array(MAX_CHUNK_VALUES / 32);
  const values = new Int32Array(Math.min(n, MAX_CHUNK_VALUES));
  for (const { start: at, width, radius, masks, from } of chunks) {
    if (radius < 0) continue;
    const buckets = 2 ** width;
    start.fill(0);
    occupied.fill(0);
    for (let a = 0; a < n; a++) {
      const v = bitsAt(hi[a], lo[a], at, width);
      value[a] = v;
      start[v + 1]++;
      occupied[v >>> 5] |= 1 << (v & 31);
    }
    let used = 0;
    for (let v = 0; v < buckets; v++) {
      if (start[v + 1] > 0) values[used++] = v;
      start[v + 1] += start[v];
    }
    fill.set(start.subarray(0, buckets));
    for (let a = 0; a < n; a++) {
      const to = fill[value[a]]++;
      member[to] = a;
      memberHi[to] = hi[a];
      memberLo[to] = lo[a];
    }

    for (let k = 0; k < used; k++) {
      const v = values[k];
      const vStart = start[v];
      const vEnd = start[v + 1];
      // The bucket with itself: each pair inside it once.
      for (let i = vStart; i < vEnd; i++) for (let j = i + 1; j < vEnd; j++) near(i, j);
      // Each pair of buckets once, from the smaller value: w = v ^ mask is larger exactly when the
      // mask's highest bit is clear in v, so only those masks are tried.
      for (let b = 0; b < width; b++) {
        if ((v >>> b) & 1) continue;
        for (let p = from[b], end = from[b + 1]; p < end; p++) {
          const w = v ^ masks[p];
          // Most reachable values hold no hash: the 1 KB bitmap answers without the larger arrays.
          if ((occupied[w >>> 5] & (1 << (w & 31))) === 0) continue;
          const wEnd = start[w + 1];
          for (let i = vStart; i < vEnd; i++) for (let j = start[w]; j < wEnd; j++) near(i, j);
        }
      }
    }
  }
}

/**
 * Without an index: a breadth-first search over the hashes not yet reached, each reached hash
 * compared with every hash still unreached. No pair is compared twice, so this is never worse
 * than all n²/2 pairs, and far better when the groups are large (a loose distance): every hash
 * a scan reaches leaves the list the later scans walk.
 */
function joinByScanning(
  n: number,
  hi: Uint32Array,
  lo: Uint32Array,
  maxDistance: number,
  unite: (a: number, b: number) => void,
): void {
  const unreached = new Int32Array(n);
  for (let i = 0; i < n; i++) unreached[i] = i;
  let remaining = n;
  const queue = new Int32Array(n);
  while (remaining > 0) {
    let head = 0;
    let tail = 0;
    queue[tail++] = unreached[--remaining];
    while (head < tail) {
      const q = queue[head++];
      const qh = hi[q];
      const ql = lo[q];
      for (let k = 0; k < remaining;) {
        const u = unreached[k];
        if (popcount32(qh ^ hi[u]) + popcount32(ql ^ lo[u]) <= maxDistance) {
          unite(q, u);
          queue[tail++] = u;
          unreached[k] = unreached[--remaining];
        } else k++;
      }
    }
  }
}

/** Union-find with path halving and union by size. */
class DisjointSets {
  private readonly parent: Int32Array;
  private readonly size: Int32Array;

  constructor(n: number) {
    this.parent = new Int32Array(n);
    this.size = new Int32Array(n).fill(1);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }

  find(x: number): number {
    const parent = this.parent;
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  }

  union(a: number, b: number): void {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return;
    if (this.size[ra] < this.size[rb]) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra] += this.size[rb];
  }

  /** The sets of at least `minSize` members, each ascending. */
  groups(minSize: number): number[][] {
    const byRoot = new Map<number, number[]>();
    for (let i = 0; i < this.parent.length; i++) {
      const root = this.find(i);
      if (this.size[root] < minSize) continue;
      let group = byRoot.get(root);
      if (!group) byRoot.set(root, (group = []));
      group.push(i);
    }
    return [...byRoot.values()];
  }
}
