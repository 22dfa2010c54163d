/**
 * Turns a decoder's error into a reason the owner of the image can act on: which format, and what is
 * wrong with it ("a truncated JPEG", "a HEIF image compressed with AVC, which Echo cannot decode").
 * Decoder internals (offsets, library names) never reach the message; they stay in the error's cause.
 */

import { sniffImageType } from '@echo/uploads';

/** Human names of sharp's format ids (and Echo's 'heic'/'avif'). */
const LABELS: Record<string, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  gif: 'GIF',
  webp: 'WebP',
  tiff: 'TIFF',
  avif: 'AVIF',
  heic: 'HEIC',
  heif: 'HEIF',
  svg: 'SVG',
  jp2k: 'JPEG 2000',
  jxl: 'JPEG XL',
};

/**
 * The format of a file whose header sharp could not read, from its first bytes: just enough to name
 * it in a message. The same magic bytes the upload was accepted by (uploads' sniffImageType); an
 * ISO-BMFF box whose brand that does not name is still of the HEIF family.
 */
export function formatFromBytes(head: Buffer): string | undefined {
  const type = sniffImageType(head);
  if (type) return type.slice('image/'.length);
  return head.length >= 12 && head.toString('latin1', 4, 8) === 'ftyp' ? 'heif' : undefined;
}

export function formatLabel(format: string | undefined): string {
  return (format && LABELS[format]) ?? (format ? format.toUpperCase() : 'image');
}

const TRUNCATED =
  /premature end|truncat|unexpected end|end of (?:input|file|stream|data)|bad seek|not enough data|incomplete|short read|out of data|read error/i;
const MISSING_CODEC = /has not been built in|unsupported codec|no decoding plugin/i;

/** `compression` is sharp's metadata().compression for HEIF files ('hevc', 'av1', 'avc', 'jpeg', …). */
export function failureReason(raw: string, format: string | undefined, compression?: string): string {
  if (!format) return 'the file is not an image in a format Echo can read';
  const label = formatLabel(format);
  if (
    MISSING_CODEC.test(raw) ||
    ((format === 'heif' || format === 'heic') && compression && !['hevc', 'av1'].includes(compression))
  ) {
    return `${label} with an unsupported codec${compression ? ` (${compression.toUpperCase()})` : ''}`;
  }
  if (TRUNCATED.test(raw)) return `a truncated ${label} (the file ends before its image data does)`;
  return `a damaged ${label} file (its image data is not valid ${label})`;
}
