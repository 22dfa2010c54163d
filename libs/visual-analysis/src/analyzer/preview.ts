/**
 * The display rendition ("preview") of an upload: what a client shows full-screen when the original
 * is not something every browser displays correctly (HEIC, TIFF, CMYK, 16-bit, wide-gamut, rotated
 * by EXIF, animated, or larger than a screen needs). Long edge PREVIEW_SIZE (never enlarged), WebP,
 * upright, sRGB, the first frame or page. A JPEG/PNG/WebP a browser already shows as it is meant
 * to be seen is its own preview ('original'): nothing is encoded or stored for it.
 */
import sharp, { type Metadata } from 'sharp';
import { isSrgbProfile, withIccChunk } from './icc.js';
import type { HeicColour } from './heic.js';

/** Long edge of the preview: a 1440p/retina laptop screen or a phone at 3×, without enlarging. */
export const PREVIEW_SIZE = 2048;
/**
 * WebP quality 80. Measured on five real 12 MP photos resized to 2048 px (median): 151 KB at
 * 39.5 dB PSNR against the lossless resize; q75 saves 20 % of the bytes for −0.9 dB (fine texture
 * starts to smear), q85 costs +33 % for +1.1 dB, q90 twice the bytes. A mozjpeg JPEG q80 of the same
 * photos is 38 % larger (209 KB) for +0.4 dB; every browser Echo's clients run decodes WebP.
 */
export const PREVIEW_QUALITY = 80;
/**
 * libwebp effort 2 (sharp's default is 4): the same photos encode in 94 ms instead of 240 ms for
 * 4 % more bytes. The worker is CPU-bound; the preview is made once per analysis.
 */
export const PREVIEW_EFFORT = 2;
const webp = { quality: PREVIEW_QUALITY, effort: PREVIEW_EFFORT };

/** The preview is the stored original itself. */
export const ORIGINAL = 'original';
export type Preview = Buffer | typeof ORIGINAL;

/** Formats every current browser decodes (and that Echo accepts). */
const SHOWN_AS_IS = new Set(['jpeg', 'png', 'webp']);

/**
 * True when a browser shows the original exactly as the preview would: a JPEG, PNG or WebP no larger
 * than PREVIEW_SIZE, upright as stored (orientation 1), 8-bit sRGB (no profile, or an sRGB one),
 * one frame. Anything else gets a rendition.
 */
export function showsAsIs(bytes: Buffer, meta: Metadata, format: string, orientation: number): boolean {
  if (!SHOWN_AS_IS.has(format) || orientation !== 1) return false;
  if (!meta.width || !meta.height || Math.max(meta.width, meta.height) > PREVIEW_SIZE) return false;
  if (meta.space !== 'srgb' || meta.depth !== 'uchar' || (meta.pages ?? 1) > 1) return false;
  if (meta.icc && !isSrgbProfile(meta.icc)) return false;
  return !(format === 'png' && isAnimatedPng(bytes));
}

/**
 * An APNG: its acTL chunk comes before the first IDAT. libvips reads only the default image (so
 * `pages` says 1), while a browser would play the animation.
 */
function isAnimatedPng(png: Buffer): boolean {
  for (let at = 8; at + 8 <= png.length;) {
    const type = png.toString('latin1', at + 4, at + 8);
    if (type === 'acTL') return true;
    if (type === 'IDAT' || type === 'IEND') return false;
    at += 12 + png.readUInt32BE(at);
  }
  return false;
}

export interface PreviewLimits {
  maxPixels: number;
  /** libvips' own deadline in seconds (0: none), as the analysis decode uses. */
  timeoutSeconds: number;
}

/**
 * A rendition decoded from the file by libvips: first frame/page (sharp's default), EXIF orientation
 * applied, any embedded profile (or CMYK, grey, 16-bit) converted to 8-bit sRGB.
 */
export function previewFromFile(bytes: Buffer, limits: PreviewLimits): Promise<Buffer> {
  return sharp(bytes, { limitInputPixels: Math.floor(limits.maxPixels) })
    .timeout({ seconds: limits.timeoutSeconds })
    .rotate()
    .resize(PREVIEW_SIZE, PREVIEW_SIZE, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .webp(webp)
    .toBuffer();
}

/** H.273 ColourPrimaries of Display P3 (SMPTE EG 432-1), what phones write in an nclx `colr`. */
const PRIMARIES_P3 = 12;

/**
 * A rendition from decoded, already upright 8-bit pixels (a HEIC, through libheif). Pixels in a
 * wide-gamut space (an ICC profile that is not sRGB, or nclx Display P3 primaries) are converted to
 * sRGB by libvips: they are resized first (a gamma-encoded resize is the same in either space),
 * then handed over as a PNG carrying the profile, the one way into sharp for pixels with a profile.
 */
export async function previewFromPixels(
  pixels: { data: Buffer; width: number; height: number; channels: 3 | 4; colour: HeicColour },
  limits: PreviewLimits,
): Promise<Buffer> {
  const raw = { raw: { width: pixels.width, height: pixels.height, channels: pixels.channels } };
  const resized = () =>
    sharp(pixels.data, { ...raw, limitInputPixels: Math.floor(limits.maxPixels) })
      .timeout({ seconds: limits.timeoutSeconds })
      .resize(PREVIEW_SIZE, PREVIEW_SIZE, { fit: 'inside', withoutEnlargement: true });
  const profile = await profileOf(pixels.colour);
  if (!profile) return resized().webp(webp).toBuffer();
  // Level 0: the PNG is a container for one hop, not for storage.
  const png = await resized().png({ compressionLevel: 0 }).toBuffer();
  return sharp(withIccChunk(png, profile))
    .timeout({ seconds: limits.timeoutSeconds })
    .toColourspace('srgb')
    .webp(webp)
    .toBuffer();
}

/** The profile to convert from, or undefined when the pixels are sRGB already (or their space is unknown). */
async function profileOf(colour: HeicColour): Promise<Buffer | undefined> {
  if (colour.icc) return isSrgbProfile(colour.icc) ? undefined : colour.icc;
  if (colour.primaries === PRIMARIES_P3) return displayP3();
  return undefined;
}

let p3: Promise<Buffer> | undefined;

/** libvips' built-in Display P3 profile (sRGB's curve, P3 primaries), read once. */
function displayP3(): Promise<Buffer> {
  p3 ??= sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
    .withIccProfile('p3')
    .png()
    .toBuffer()
    .then(async (png) => (await sharp(png).metadata()).icc!);
  return p3;
}
