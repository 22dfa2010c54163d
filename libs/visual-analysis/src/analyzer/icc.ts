/**
 * The few ICC profile facts the preview needs: is an embedded profile sRGB (then a browser shows the
 * original as is), and how to hand libvips pixels together with the profile they are in (decoded
 * HEIC pixels come without one, and sharp's raw input cannot carry one).
 */
import { crc32, deflateSync } from 'node:zlib';

/** sRGB's D50-adapted colorants (rXYZ, gXYZ, bXYZ of sRGB IEC61966-2.1), as every sRGB profile writes them. */
const SRGB_COLORANTS: Record<string, [number, number, number]> = {
  rXYZ: [0.4361, 0.2225, 0.0139],
  gXYZ: [0.3851, 0.7169, 0.0971],
  bXYZ: [0.1431, 0.0606, 0.7141],
};
/** sRGB profiles from different vendors round these differently (by up to ~0.002); Display P3's red is 0.515. */
const COLORANT_TOLERANCE = 0.005;

/** The profile's tags: signature → [offset, size], each inside the buffer. */
function tags(icc: Buffer): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  if (icc.length < 132) return out;
  const count = Math.min(icc.readUInt32BE(128), Math.floor((icc.length - 132) / 12));
  for (let i = 0; i < count; i++) {
    const at = 132 + i * 12;
    const offset = icc.readUInt32BE(at + 4);
    const size = icc.readUInt32BE(at + 8);
    if (offset + size <= icc.length) out.set(icc.toString('latin1', at, at + 4), [offset, size]);
  }
  return out;
}

/**
 * True when the profile describes sRGB: an RGB profile with sRGB's primaries and a gamma-like
 * tone curve (not linear). Judged by the numbers, not the description's text.
 */
export function isSrgbProfile(icc: Buffer | undefined): boolean {
  if (!icc || icc.length < 132 || icc.toString('latin1', 16, 20) !== 'RGB ') return false;
  const table = tags(icc);
  for (const [sig, expected] of Object.entries(SRGB_COLORANTS)) {
    const tag = table.get(sig);
    if (!tag || tag[1] < 20 || icc.toString('latin1', tag[0], tag[0] + 4) !== 'XYZ ') return false;
    for (let k = 0; k < 3; k++) {
      const v = icc.readInt32BE(tag[0] + 8 + 4 * k) / 65536;
      if (Math.abs(v - expected[k]) > COLORANT_TOLERANCE) return false;
    }
  }
  return gammaLike(icc, table.get('rTRC'));
}

/** sRGB's curve is a table or a parametric curve near gamma 2.2–2.4; a missing, identity or linear curve is not. */
function gammaLike(icc: Buffer, tag: [number, number] | undefined): boolean {
  if (!tag || tag[1] < 12) return false;
  const [at, size] = tag;
  const type = icc.toString('latin1', at, at + 4);
  if (type === 'curv') {
    const entries = icc.readUInt32BE(at + 8);
    if (entries === 0) return false; // identity
    if (entries === 1) return size >= 14 && inGammaRange(icc.readUInt16BE(at + 12) / 256);
    return true; // a sampled curve (how most sRGB profiles write it)
  }
  if (type === 'para') return size >= 16 && inGammaRange(icc.readInt32BE(at + 12) / 65536);
  return false;
}

const inGammaRange = (g: number) => g >= 1.8 && g <= 2.6;

/**
 * `png` (as sharp writes it: signature, IHDR first) with `icc` embedded as its iCCP chunk, so that
 * libvips reading it back converts from that profile. Any sRGB/gAMA/cHRM chunks must be absent
 * (sharp writes none without withIccProfile/withMetadata).
 */
export function withIccChunk(png: Buffer, icc: Buffer): Buffer {
  const ihdrEnd = 8 + 8 + 13 + 4;
  if (png.toString('latin1', 12, 16) !== 'IHDR') throw new Error('withIccChunk: not a PNG with IHDR first');
  // Keyword "icc", NUL, compression method 0 (zlib), the compressed profile.
  const data = Buffer.concat([Buffer.from('icc\0\0', 'latin1'), deflateSync(icc)]);
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write('iCCP', 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]);
}
