/**
 * EXIF Orientation (IFD0 tag 0x0112) from the containers image-size does not read it from: a TIFF
 * file's own IFD0, a WebP's `EXIF` chunk and a PNG's `eXIf` chunk (JPEG's comes from image-size).
 * libvips applies it for all of them, so the analysis' upright size does too. Reads only within the
 * given bytes (the intake's head): a chunk past them (WebP puts EXIF after the image data) is not
 * found, and the upload's size is corrected when its analysis completes.
 */

const TAG_ORIENTATION = 0x0112;
const TYPE_SHORT = 3;
/** IFD0 entries read at most (cameras write ~10–30). */
const MAX_ENTRIES = 512;

/** 1–8 from a TIFF structure starting at `start` ("II*\0" or "MM\0*"), else undefined. */
export function tiffOrientation(bytes: Uint8Array, start = 0): number | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (start + 8 > buf.length) return undefined;
  const order = buf.toString('latin1', start, start + 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const le = order === 'II';
  const u16 = (at: number) => (le ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
  const u32 = (at: number) => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  if (u16(start + 2) !== 42) return undefined;
  const ifd = start + u32(start + 4);
  if (ifd + 2 > buf.length || ifd < start + 8) return undefined;
  const count = Math.min(u16(ifd), MAX_ENTRIES);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > buf.length) return undefined;
    if (u16(entry) !== TAG_ORIENTATION) continue;
    if (u16(entry + 2) !== TYPE_SHORT || u32(entry + 4) < 1) return undefined;
    const value = u16(entry + 8);
    return value >= 1 && value <= 8 ? value : undefined;
  }
  return undefined;
}

/** The orientation in a WebP's `EXIF` chunk (RIFF, little-endian chunk sizes, padded to even). */
export function webpOrientation(bytes: Uint8Array): number | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 12; at + 8 <= buf.length;) {
    const size = buf.readUInt32LE(at + 4);
    if (buf.toString('latin1', at, at + 4) === 'EXIF') {
      const body = buf.subarray(at + 8, Math.min(buf.length, at + 8 + size));
      // Some writers keep JPEG's "Exif\0\0" prefix in the chunk.
      return tiffOrientation(body, body.toString('latin1', 0, 6) === 'Exif\0\0' ? 6 : 0);
    }
    at += 8 + size + (size & 1);
  }
  return undefined;
}

/** The orientation in a PNG's `eXIf` chunk (before IDAT, as the PNG extensions require). */
export function pngOrientation(bytes: Uint8Array): number | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 8 <= buf.length;) {
    const size = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    if (type === 'eXIf') return tiffOrientation(buf.subarray(at + 8, Math.min(buf.length, at + 8 + size)));
    if (type === 'IDAT' || type === 'IEND') return undefined;
    at += 12 + size;
  }
  return undefined;
}
