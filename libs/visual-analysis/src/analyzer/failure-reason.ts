/**
 * Turns a decoder's error into a reason the owner of the image can act on: which format, and what is
 * wrong with it ("a truncated JPEG", "a HEIF image compressed with AVC, which Echo cannot decode").
 * Decoder internals (offsets, library names) never reach the message; they stay in the error's cause.
 */

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
 * it in a message (the analyzer stays free of the uploads library, which owns upload-time sniffing).
 */
export function formatFromBytes(head: Buffer): string | undefined {
  const ascii = (a: number, b: number) => head.toString('latin1', a, b);
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && ascii(1, 4) === 'PNG') return 'png';
  if (head.length >= 6 && ascii(0, 4) === 'GIF8') return 'gif';
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (head.length >= 4 && (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*')) return 'tiff';
  if (head.length >= 12 && ascii(4, 8) === 'ftyp') {
    // The major brand and the compatible ones (an AVIF may carry `mif1` as its major brand).
    const end = Math.min(head.length, head.readUInt32BE(0) || head.length);
    const brands = [ascii(8, 12)];
    for (let at = 16; at + 4 <= end; at += 4) brands.push(ascii(at, at + 4));
    if (brands.some((b) => b === 'avif' || b === 'avis')) return 'avif';
    if (brands.some((b) => ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis'].includes(b))) return 'heic';
    return 'heif';
  }
  return undefined;
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
