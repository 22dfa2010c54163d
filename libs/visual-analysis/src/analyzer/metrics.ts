/**
 * Pure pixel metrics over raw 8-bit interleaved buffers (no sharp, no I/O).
 *
 * Conventions (documented in the report and the AnalysisResult type):
 * - Luma is Rec. 601 on the gamma-encoded sRGB values: Y' = 0.299 R + 0.587 G + 0.114 B (0–255).
 * - Alpha: luma is composited over white (how a transparent upload is usually shown);
 *   colour statistics ignore pixels with alpha < 128.
 */

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
  channels: number;
}

export interface LumaStats {
  /** Mean luma, 0–1. */
  brightness: number;
  /** 2 × std-dev of luma in 0–1 units (max possible std-dev is 0.5), clamped to 0–1. */
  contrast: number;
  /** Shannon entropy of the 256-bin luma histogram, bits, 0–8. */
  entropy: number;
}

export interface ColourStats {
  dominant_color: string;
  palette: string[];
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

function hex(r: number, g: number, b: number): string {
  const h = (v: number): string =>
    Math.max(0, Math.min(255, Math.round(v)))
      .toString(16)
      .padStart(2, '0');
  return `#${h(r)}${h(g)}${h(b)}`;
}

function rgbaAt(img: RawImage, i: number): [number, number, number, number] {
  const c = img.channels;
  const o = i * c;
  const d = img.data;
  if (c >= 3) return [d[o], d[o + 1], d[o + 2], c === 4 ? d[o + 3] : 255];
  return [d[o], d[o], d[o], c === 2 ? d[o + 1] : 255];
}

/** Luma plane (0–255, rounded), alpha composited over white. */
export function lumaPlane(img: RawImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const { data, channels: c } = img;
  const hasAlpha = c === 2 || c === 4;
  for (let i = 0, o = 0; i < n; i++, o += c) {
    let y = c >= 3 ? 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2] : data[o];
    if (hasAlpha) {
      const a = data[o + c - 1] / 255;
      y = y * a + 255 * (1 - a);
    }
    out[i] = Math.round(y);
  }
  return out;
}

/** Brightness, contrast and entropy of a luma plane. */
export function lumaStats(luma: Uint8Array): LumaStats {
  const n = luma.length;
  if (n === 0) return { brightness: 0, contrast: 0, entropy: 0 };
  const hist = new Float64Array(256);
  for (let i = 0; i < n; i++) hist[luma[i]]++;
  let sum = 0;
  let sumSq = 0;
  let entropy = 0;
  for (let v = 0; v < 256; v++) {
    const count = hist[v];
    if (count === 0) continue;
    const y = v / 255;
    sum += count * y;
    sumSq += count * y * y;
    const p = count / n;
    entropy -= p * Math.log2(p);
  }
  const mean = sum / n;
  const variance = Math.max(0, sumSq / n - mean * mean);
  return {
    brightness: clamp01(mean),
    contrast: clamp01(2 * Math.sqrt(variance)),
    entropy: Math.max(0, Math.min(8, entropy)),
  };
}

/** Bits kept per channel for the colour histogram (4 → 16 levels per channel, 4096 buckets). */
const QUANT_BITS = 4;
const PALETTE_SIZE = 5;
/** A palette entry (after the first) needs at least this share of the counted pixels. */
const PALETTE_MIN_SHARE = 0.01;
/** Palette entries closer than this (Euclidean RGB, 0–255 units) to an earlier entry are skipped. */
const PALETTE_MIN_DISTANCE = 24;

/**
 * Coarse colour quantisation: each pixel goes to the bucket of its top QUANT_BITS bits per channel;
 * a bucket's colour is the mean of its pixels (so a solid colour comes back exactly).
 * dominant_color = the most populated bucket; palette = up to 5 most populated buckets that hold
 * ≥ 1 % of the pixels and are ≥ 24 RGB units from every earlier entry (palette[0] = dominant_color).
 * Ties are broken by bucket index, so the result is deterministic.
 */
export function colourStats(img: RawImage): ColourStats {
  const shift = 8 - QUANT_BITS;
  const buckets = 1 << (3 * QUANT_BITS);
  const count = new Float64Array(buckets);
  const sumR = new Float64Array(buckets);
  const sumG = new Float64Array(buckets);
  const sumB = new Float64Array(buckets);
  const n = img.width * img.height;
  const hasAlpha = img.channels === 2 || img.channels === 4;

  const accumulate = (ignoreTransparent: boolean): number => {
    let counted = 0;
    for (let i = 0; i < n; i++) {
      const [r, g, b, a] = rgbaAt(img, i);
      if (ignoreTransparent && a < 128) continue;
      const k = ((r >> shift) << (2 * QUANT_BITS)) | ((g >> shift) << QUANT_BITS) | (b >> shift);
      count[k]++;
      sumR[k] += r;
      sumG[k] += g;
      sumB[k] += b;
      counted++;
    }
    return counted;
  };

  let counted = accumulate(hasAlpha);
  if (counted === 0) counted = accumulate(false); // fully transparent: use the stored colours
  if (counted === 0) return { dominant_color: '#000000', palette: [] };

  const order: number[] = [];
  for (let k = 0; k < buckets; k++) if (count[k] > 0) order.push(k);
  order.sort((a, b) => count[b] - count[a] || a - b);

  const chosen: Array<[number, number, number]> = [];
  const palette: string[] = [];
  for (const k of order) {
    if (palette.length >= PALETTE_SIZE) break;
    if (palette.length > 0 && count[k] / counted < PALETTE_MIN_SHARE) break; // sorted: the rest are smaller
    const rgb: [number, number, number] = [sumR[k] / count[k], sumG[k] / count[k], sumB[k] / count[k]];
    const tooClose = chosen.some((c) => Math.hypot(c[0] - rgb[0], c[1] - rgb[1], c[2] - rgb[2]) < PALETTE_MIN_DISTANCE);
    if (tooClose) continue;
    const h = hex(rgb[0], rgb[1], rgb[2]);
    if (palette.includes(h)) continue;
    chosen.push(rgb);
    palette.push(h);
  }
  return { dominant_color: palette[0], palette };
}

/**
 * Variance of the 3×3 Laplacian [0 1 0; 1 −4 1; 0 1 0] over the interior of a luma plane
 * (0–255 units). The caller resizes to a fixed working size first so scores are comparable.
 * Returns 0 for planes smaller than 3×3.
 */
export function laplacianVariance(luma: Uint8Array, width: number, height: number): number {
  if (width < 3 || height < 3) return 0;
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = 1; y < height - 1; y++) {
    const row = y * width;
    for (let x = 1; x < width - 1; x++) {
      const i = row + x;
      const l = luma[i - width] + luma[i + width] + luma[i - 1] + luma[i + 1] - 4 * luma[i];
      sum += l;
      sumSq += l * l;
      n++;
    }
  }
  const mean = sum / n;
  return Math.max(0, sumSq / n - mean * mean);
}

/** Side of the square greyscale image the perceptual hash is computed on. */
export const PHASH_SIZE = 32;

const DCT_COS: Float64Array = (() => {
  // DCT_COS[u * N + x] = cos((2x + 1) u π / 2N), for u = 0..8
  const N = PHASH_SIZE;
  const t = new Float64Array(9 * N);
  for (let u = 0; u < 9; u++)
    for (let x = 0; x < N; x++) t[u * N + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * N));
  return t;
})();

/**
 * DCT perceptual hash of a 32×32 luma plane, as 16 lowercase hex chars (64 bits).
 *
 * 2-D DCT-II (orthonormal) of the 32×32 plane; the 8×8 block of lowest frequencies that excludes
 * the DC row and column (u, v = 1..8, as in the reference pHash library) is compared with its
 * median: bit = coefficient > median, row-major, first coefficient = most significant bit.
 * Coefficients with |c| < 1e-6 are snapped to 0 so a flat image hashes to all zeros.
 */
export function dctHash(luma32: Uint8Array): string {
  const N = PHASH_SIZE;
  if (luma32.length !== N * N) throw new RangeError(`dctHash expects ${N}×${N} luma, got ${luma32.length} values`);
  // Row pass: R[y][u] = Σx f(x,y) cos(...), u = 0..8
  const rows = new Float64Array(N * 9);
  for (let y = 0; y < N; y++) {
    for (let u = 0; u < 9; u++) {
      let s = 0;
      for (let x = 0; x < N; x++) s += luma32[y * N + x] * DCT_COS[u * N + x];
      rows[y * 9 + u] = s;
    }
  }
  const scale = (k: number): number => (k === 0 ? Math.sqrt(1 / N) : Math.sqrt(2 / N));
  const coeffs: number[] = [];
  for (let v = 1; v <= 8; v++) {
    for (let u = 1; u <= 8; u++) {
      let s = 0;
      for (let y = 0; y < N; y++) s += rows[y * 9 + u] * DCT_COS[v * N + y];
      const c = s * scale(u) * scale(v);
      coeffs.push(Math.abs(c) < 1e-6 ? 0 : c);
    }
  }
  const sorted = [...coeffs].sort((a, b) => a - b);
  const median = (sorted[31] + sorted[32]) / 2;
  let out = '';
  for (let i = 0; i < 64; i += 4) {
    let nibble = 0;
    for (let j = 0; j < 4; j++) nibble = (nibble << 1) | (coeffs[i + j] > median ? 1 : 0);
    out += nibble.toString(16);
  }
  return out;
}

// The distance between two hashes and the near-duplicate threshold live with the uploads' pHash
// column (similar-photo search uses them too); the analyzer's public names stay.
export { hammingDistance, NEAR_DUPLICATE_MAX_DISTANCE } from '@echo/uploads';
