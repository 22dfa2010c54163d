/**
 * Pure image-analysis core: sharp + plain TypeScript, no Nest, no DB.
 * The worker's processor calls `analyzeImage` once per uploaded image.
 *
 * Pipeline (one full decode, bounded in size and time):
 *   0. Frames (animated WebP) and pages (TIFF) are counted from the container, never by a decoder:
 *      over `maxFrames` is refused before libvips, whose WebP loader walks frames in quadratic time.
 *   1. `sharp(input).metadata()` — header only. Reject over `maxPixels` BEFORE any pixel is decoded.
 *   2. One decode: `.rotate()` (EXIF auto-orient) → resize to fit inside 512×512 (never enlarged)
 *      → sRGB → raw 8-bit pixels. `limitInputPixels = maxPixels` and `sequentialRead` as a second line of defence.
 *      Multi-frame files (GIF, WebP, TIFF) decode their first frame. HEIC (HEVC, which sharp's libvips
 *      cannot decode) is decoded by libheif-js (heic.ts) to upright raw pixels that then take the same path.
 *   3. Every metric, the placeholder and the WebP thumbnail are derived from that ≤512 px raw buffer.
 *   4. The preview (preview.ts): 'original' for a JPEG/PNG/WebP a browser shows as is; otherwise a
 *      ≤2048 px WebP, from libheif's full decode (HEIC) or a second, bounded libvips decode of the file.
 * Global sharp settings (concurrency, cache, SIMD) are deliberately left alone.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { rgbaToThumbHash } from 'thumbhash';
import { countFrames } from '@echo/uploads';
import { parseExif, type ExifSummary } from './exif.js';
import { UnrecoverableImageError } from './errors.js';
import { failureReason, formatFromBytes } from './failure-reason.js';
import { decodeHeic } from './heic.js';
import { colourStats, dctHash, laplacianVariance, lumaPlane, lumaStats, PHASH_SIZE } from './metrics.js';
import { ORIGINAL, previewFromFile, previewFromPixels, showsAsIs, type Preview } from './preview.js';

export { ANALYZER_VERSION } from './version.js';
export { UnrecoverableImageError, type UnrecoverableImageReason } from './errors.js';
export { ORIGINAL, PREVIEW_QUALITY, PREVIEW_SIZE, type Preview } from './preview.js';

/** Long edge of the single bounded decode every metric is computed from. */
export const ANALYSIS_WORKING_SIZE = 512;
/** Long edge of the WebP thumbnail (never enlarged). */
export const THUMBNAIL_SIZE = 256;
export const THUMBNAIL_QUALITY = 75;
/** Long edge the luma plane is resized to (enlarged if needed) before the Laplacian, so scores compare. */
export const SHARPNESS_WORKING_SIZE = 256;
/** ThumbHash input must be ≤ 100×100. */
export const PLACEHOLDER_SIZE = 100;
/** Frames/pages limit when the caller gives none (UPLOAD_MAX_FRAMES's default). */
export const DEFAULT_MAX_FRAMES = 1000;

export interface AnalysisResult {
  /**
   * sharp's decoder name: 'jpeg', 'png', 'webp', 'gif', 'tiff', …; HEIF files are 'heic' (HEVC),
   * 'avif' (AV1) or 'heif' (another codec).
   */
  format: string;
  /** Stored (unrotated) pixel width/height, from the header. */
  width: number;
  height: number;
  /**
   * 1–8 (1 when absent or invalid): EXIF Orientation, or for HEIC/AVIF the container's irot/imir
   * expressed as the equivalent EXIF value (a HEIF's EXIF Orientation is informative only).
   */
  orientation: number;
  /**
   * Displayed dimensions, what a viewer shows: width/height swapped for orientations 5–8, and for
   * HEIF after the container's crop (`clap`) too. The upload object reports the same.
   */
  oriented_width: number;
  oriented_height: number;
  /** sharp `space`, e.g. 'srgb', 'b-w', 'cmyk', 'rgb16'. */
  color_space: string;
  has_alpha: boolean;
  /** Bits per channel sample from sharp `depth` ('uchar'/'char' 8, 'ushort'/'short' 16, 'uint'/'int'/'float' 32, …); HEIF: the header's (8, 10, 12). */
  bit_depth: number;
  /** Bytes of the input (file size or buffer length). */
  size: number;
  /** Frames (GIF, WebP), pages (TIFF) or top-level images (HEIF) in the file; 1 for a still. Metrics use the first (HEIF: the primary). */
  frames: number;
  /** Only the fields present among make, model, taken_at, gps; {} when none. */
  exif: ExifSummary;
  /** '#rrggbb': mean colour of the most populated bucket (4 bits/channel quantisation). */
  dominant_color: string;
  /** Up to 5 distinct '#rrggbb', most populated buckets first; palette[0] === dominant_color. */
  palette: string[];
  /** Mean Rec. 601 luma, 0 (black) – 1 (white). */
  brightness: number;
  /** 2 × std-dev of luma (0–1 units), 0 (flat) – 1 (half black, half white). */
  contrast: number;
  /** Variance of the 3×3 Laplacian of the luma (0–255 units) at 256 px long edge; ≥ 0, higher = sharper. */
  sharpness: number;
  /** Shannon entropy of the 256-bin luma histogram, bits, 0–8. */
  entropy: number;
  /** 64-bit DCT perceptual hash, 16 lowercase hex chars. Compare with hammingDistance(). */
  phash: string;
  /** ThumbHash (base64) of a ≤100×100 RGBA version. */
  placeholder: string;
  /** A WebP thumbnail was produced (returned next to the result). */
  thumbnail: true;
}

export interface AnalyzeImageOptions {
  /** Largest accepted width × height (header dimensions, before decoding). */
  maxPixels: number;
  /** Most frames (animated WebP) or pages (TIFF), counted from the container before any decoder. */
  maxFrames?: number;
  /**
   * Deadline of the whole analysis, in seconds (none when absent): past it the promise rejects with
   * an UnrecoverableImageError ('timeout'), libvips is told to stop (sharp's `timeout`), and the
   * abandoned work can no longer report progress.
   */
  timeoutSeconds?: number;
  /** Called with increasing percentages (10, 25, 40, 70, 90). Errors it throws propagate. */
  onProgress?: (pct: number) => void | Promise<void>;
}

const BIT_DEPTH: Record<string, number> = {
  uchar: 8,
  char: 8,
  ushort: 16,
  short: 16,
  uint: 32,
  int: 32,
  float: 32,
  double: 64,
  complex: 64,
  dpcomplex: 128,
};

function formatPixels(n: number): string {
  return String(n);
}

function tooLarge(width: number, height: number, maxPixels: number, cause?: unknown): UnrecoverableImageError {
  return new UnrecoverableImageError(
    `Image is ${width}×${height} pixels, over the ${formatPixels(maxPixels)} pixel limit.`,
    'too_large',
    { cause },
  );
}

/**
 * An image the analyzer cannot decode, with a reason its owner can act on (format + what is wrong).
 * `format` is what the header said, else what the first bytes say.
 */
function undecodable(err: unknown, input: Buffer | undefined, meta?: Metadata): UnrecoverableImageError {
  const raw = err instanceof Error ? err.message : String(err);
  const reason = /buffer is empty|empty input/i.test(raw)
    ? 'the file is empty'
    : failureReason(
        raw,
        meta ? normaliseFormat(meta) : input && formatFromBytes(input.subarray(0, 32)),
        meta?.compression,
      );
  return new UnrecoverableImageError(`The image could not be decoded: ${reason}.`, 'undecodable', { cause: err });
}

function normaliseFormat(meta: Metadata): string {
  const f = String(meta.format);
  if (f !== 'heif') return f;
  if (meta.compression === 'av1') return 'avif';
  return meta.compression === 'hevc' ? 'heic' : 'heif';
}

/** What one analysis produces: the result, the WebP thumbnail and the preview (a WebP, or 'original'). */
export interface Analysis {
  result: AnalysisResult;
  thumbnail: Buffer;
  preview: Preview;
}

/**
 * Analyses one image. Throws UnrecoverableImageError when the image is over `maxPixels` or
 * `maxFrames`, cannot be decoded, or takes longer than `timeoutSeconds`; other errors (missing
 * file, onProgress failures, bugs) propagate unchanged.
 */
export async function analyzeImage(input: string | Buffer, options: AnalyzeImageOptions): Promise<Analysis> {
  const { maxPixels, maxFrames = DEFAULT_MAX_FRAMES, timeoutSeconds } = options;
  if (!Number.isFinite(maxPixels) || maxPixels < 1) {
    throw new RangeError(`maxPixels must be a positive number, got ${maxPixels}`);
  }
  if (!Number.isInteger(maxFrames) || maxFrames < 1) {
    throw new RangeError(`maxFrames must be a positive integer, got ${maxFrames}`);
  }
  if (!timeoutSeconds) return analyze(input, options, maxFrames, () => false);
  let expired = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(timedOut(timeoutSeconds));
    }, timeoutSeconds * 1000);
  });
  const work = analyze(input, options, maxFrames, () => expired);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    work.catch(() => undefined); // the abandoned run's own failure (it stops at its next step)
  }
}

function timedOut(seconds: number, cause?: unknown): UnrecoverableImageError {
  return new UnrecoverableImageError(
    `The analysis took longer than ${seconds} s and was stopped: the image is too costly to decode.`,
    'timeout',
    { cause },
  );
}

async function analyze(
  input: string | Buffer,
  options: AnalyzeImageOptions,
  maxFrames: number,
  expired: () => boolean,
): Promise<Analysis> {
  const { maxPixels, onProgress, timeoutSeconds } = options;
  const progress = async (pct: number): Promise<void> => {
    if (expired()) throw timedOut(timeoutSeconds!); // past the deadline: no more writes, no more work
    if (onProgress) await onProgress(pct);
  };

  // A missing/unreadable file is an infrastructure problem, not the image's: let fs errors propagate.
  // (The worker hands over a Buffer; a path is read whole, as the worker would.)
  const bytes = typeof input === 'string' ? await readFile(input) : input;
  const size = bytes.length;
  if (size === 0) throw undecodable(new Error('Input buffer is empty'), undefined);

  // 0. Frames and pages, from the container alone (a bounded, linear walk).
  const counted = countFrames(bytes, maxFrames);
  if (counted?.over) {
    throw new UnrecoverableImageError(
      `The image has more than ${maxFrames} frames or pages; the limit is ${maxFrames}.`,
      'too_many_frames',
    );
  }

  // 1. Header only. sharp's metadata() applies its own default 268 MP limit with a terse message,
  //    so it is disabled here (nothing is decoded) and our limit is applied below with a readable one.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    // sharp's libheif is built for AVIF: a HEIC it cannot parse goes to libheif-js, which reads it
    // (size and pixel limit included) or says exactly why not, instead of libvips's "bad seek to N".
    const sniffed = formatFromBytes(bytes.subarray(0, 32));
    if (sniffed !== 'heic' && sniffed !== 'heif') throw undecodable(err, bytes);
    meta = { format: 'heif', compression: 'hevc' } as Metadata;
  }
  const format = normaliseFormat(meta);
  // For HEIF, sharp reports the displayed size (libheif applies irot); the HEIC path corrects it below.
  let width = meta.width;
  let height = meta.height;
  const headerSize = format !== 'heic' || width !== undefined; // else libheif-js checks it before decoding
  if (headerSize && (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)) {
    throw undecodable(new Error('the image has no readable dimensions'), bytes, meta);
  }
  if (headerSize && width * height > maxPixels) throw tooLarge(width, height, maxPixels);
  await progress(10);

  // 2. The one bounded decode (and the preview, while the decoded HEIC is at hand).
  let pixels: { data: Buffer; info: OutputInfo };
  let orientation = validOrientation(meta.orientation);
  let heicFacts: { exif?: Buffer; bitDepth: number; alpha: boolean } | undefined;
  /** The displayed size when the decoder says it (libheif, after clap/irot/imir); else derived below. */
  let displayed: { width: number; height: number } | undefined;
  let preview: Preview;
  // libvips stops its own work at the deadline (whole seconds; 0 would mean none).
  const vipsSeconds = timeoutSeconds ? Math.max(1, Math.ceil(timeoutSeconds)) : 0;
  const limits = { maxPixels, timeoutSeconds: vipsSeconds };
  try {
    if (format === 'heic') {
      const heic = await decodeHeic(bytes, maxPixels);
      ({ storedWidth: width, storedHeight: height, orientation } = heic);
      displayed = { width: heic.width, height: heic.height };
      heicFacts = { exif: heic.exif, bitDepth: heic.bitDepth, alpha: heic.channels === 4 };
      // Already upright: no .rotate() (a HEIF's EXIF Orientation must not be applied on top of irot).
      pixels = await sharp(heic.data, { raw: { width: heic.width, height: heic.height, channels: heic.channels } })
        .resize(ANALYSIS_WORKING_SIZE, ANALYSIS_WORKING_SIZE, { fit: 'inside', withoutEnlargement: true })
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      await progress(25);
      preview = await previewFromPixels(heic, limits);
    } else {
      pixels = await sharp(bytes, { limitInputPixels: Math.floor(maxPixels), sequentialRead: true })
        .timeout({ seconds: vipsSeconds })
        .rotate()
        .resize(ANALYSIS_WORKING_SIZE, ANALYSIS_WORKING_SIZE, { fit: 'inside', withoutEnlargement: true })
        .toColourspace('srgb')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      await progress(25);
      preview = showsAsIs(bytes, meta, format, orientation) ? ORIGINAL : await previewFromFile(bytes, limits);
    }
  } catch (err) {
    if (err instanceof UnrecoverableImageError) throw err;
    if (err instanceof Error && /exceeds pixel limit/i.test(err.message)) throw tooLarge(width, height, maxPixels, err);
    if (timeoutSeconds && err instanceof Error && /^timeout:/i.test(err.message)) throw timedOut(timeoutSeconds, err);
    throw undecodable(err, bytes, meta);
  }
  await progress(40);

  // 3. Statistics from the raw pixels.
  const { data, info } = pixels;
  const raw = { data, width: info.width, height: info.height, channels: info.channels };
  const rawInput = { raw: { width: info.width, height: info.height, channels: info.channels } } as const;
  const luma = lumaPlane(raw);
  const lumaInput = { raw: { width: info.width, height: info.height, channels: 1 } } as const;
  const { brightness, contrast, entropy } = lumaStats(luma);
  const { dominant_color, palette } = colourStats(raw);
  await progress(70);

  // 4. Derived images, all from the same ≤512 px buffer. One after another, not in parallel: each
  //    sharp call holds a libuv thread, and in embedded mode the API's argon2 and fs need those.
  const thumbnail = await sharp(data, rawInput)
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: THUMBNAIL_QUALITY })
    .toBuffer();
  const sharpnessPlane = await sharp(luma, lumaInput)
    .resize(SHARPNESS_WORKING_SIZE, SHARPNESS_WORKING_SIZE, { fit: 'inside' })
    .toColourspace('b-w') // without it sharp turns 1-band raw input into 3-band sRGB output
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const phashPlane = await sharp(luma, lumaInput)
    .resize(PHASH_SIZE, PHASH_SIZE, { fit: 'fill' })
    .toColourspace('b-w')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const placeholderPixels = await sharp(data, rawInput)
    .resize(PLACEHOLDER_SIZE, PLACEHOLDER_SIZE, { fit: 'inside', withoutEnlargement: true })
    .ensureAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  for (const plane of [sharpnessPlane, phashPlane]) {
    if (plane.info.channels !== 1) throw new Error(`expected a 1-band luma plane, got ${plane.info.channels} bands`);
  }
  const sharpness = laplacianVariance(sharpnessPlane.data, sharpnessPlane.info.width, sharpnessPlane.info.height);
  const phash = dctHash(phashPlane.data);
  const placeholder = Buffer.from(
    rgbaToThumbHash(placeholderPixels.info.width, placeholderPixels.info.height, placeholderPixels.data),
  ).toString('base64');
  await progress(90);

  const swapped = orientation >= 5;
  const shown = displayed ?? { width: swapped ? height : width, height: swapped ? width : height };

  const result: AnalysisResult = {
    format,
    width,
    height,
    orientation,
    oriented_width: shown.width,
    oriented_height: shown.height,
    // A HEIC whose header libvips could not read has its facts from libheif alone.
    color_space: meta.space ? String(meta.space) : 'srgb',
    has_alpha: meta.hasAlpha ?? heicFacts?.alpha ?? false,
    // libvips holds a 10/12-bit HEIF in 16-bit samples: the header's own figure is the true one.
    bit_depth:
      (meta.format === 'heif' && (meta.bitsPerSample || heicFacts?.bitDepth)) || (BIT_DEPTH[String(meta.depth)] ?? 8),
    size,
    frames: Number.isInteger(meta.pages) && meta.pages! > 1 ? meta.pages! : 1,
    exif: parseExif(meta.exif ?? heicFacts?.exif),
    dominant_color,
    palette,
    brightness,
    contrast,
    sharpness,
    entropy,
    phash,
    placeholder,
    thumbnail: true,
  };
  return { result, thumbnail, preview };
}

function validOrientation(value: number | undefined): number {
  return Number.isInteger(value) && value! >= 1 && value! <= 8 ? value! : 1;
}
