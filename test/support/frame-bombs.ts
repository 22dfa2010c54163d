/**
 * Frame bombs, assembled by hand (no encoder): an animated WebP of many 1×1 frames and a TIFF of
 * many 1×1 pages. Both are valid files whose header says 1×1; only their frame count is large.
 */

/** One lossless 1×1 ANMF chunk (a VP8L frame, 48 bytes), cut from a sharp-encoded animation. */
const ANMF_1X1 = Buffer.from(
  '414e4d4628000000000000000000000000000000640000025650384c0f0000002f000000000710fd8ffe0722a2ff0100',
  'hex',
);
/** VP8X (animation flag, canvas 1×1) and ANIM (background, loop forever). */
const WEBP_HEAD = Buffer.from('565038580a00000002000000000000000000414e494d06000000ffffffff0100', 'hex');

/** A valid animated WebP of `n` identical 1×1 frames: 44 + 48·n bytes. */
export function animatedWebp(n: number, frame: Buffer = ANMF_1X1): Buffer {
  const body = Buffer.concat([WEBP_HEAD, ...Array<Buffer>(n).fill(frame)]);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(4 + body.length, 4);
  riff.write('WEBP', 8, 'latin1');
  return Buffer.concat([riff, body]);
}

export interface TiffOptions {
  bigEndian?: boolean;
  /** Page i's next-IFD pointer goes to page `loopTo` instead of ending (an IFD loop). */
  loopTo?: number;
  /** IFDs written last page first, so each next pointer points backwards in the file. */
  reversed?: boolean;
}

/** A valid classic TIFF of `n` 1×1 8-bit grey pages sharing one pixel byte: 10 + 102·n bytes. */
export function multiPageTiff(n: number, { bigEndian = false, loopTo, reversed = false }: TiffOptions = {}): Buffer {
  const entries: Array<[tag: number, type: 3 | 4, value: number]> = [
    [256, 3, 1], // ImageWidth
    [257, 3, 1], // ImageLength
    [258, 3, 8], // BitsPerSample
    [259, 3, 1], // Compression: none
    [262, 3, 1], // Photometric: BlackIsZero
    [273, 4, 8], // StripOffsets: the pixel byte at 8
    [278, 3, 1], // RowsPerStrip
    [279, 4, 1], // StripByteCounts
  ];
  const ifdSize = 2 + entries.length * 12 + 4;
  const buf = Buffer.alloc(10 + n * ifdSize);
  const u16 = (v: number, at: number) => (bigEndian ? buf.writeUInt16BE(v, at) : buf.writeUInt16LE(v, at));
  const u32 = (v: number, at: number) => (bigEndian ? buf.writeUInt32BE(v, at) : buf.writeUInt32LE(v, at));
  buf.write(bigEndian ? 'MM\0*' : 'II*\0', 0, 'latin1');
  const at = (page: number) => 10 + (reversed ? n - 1 - page : page) * ifdSize;
  u32(at(0), 4);
  buf[8] = 128;
  for (let page = 0; page < n; page++) {
    let o = at(page);
    u16(entries.length, o);
    o += 2;
    for (const [tag, type, value] of entries) {
      u16(tag, o);
      u16(type, o + 2);
      u32(1, o + 4);
      if (type === 3) u16(value, o + 8);
      else u32(value, o + 8);
      o += 12;
    }
    const last = page === n - 1;
    u32(!last ? at(page + 1) : loopTo !== undefined ? at(loopTo) : 0, o);
  }
  return buf;
}
