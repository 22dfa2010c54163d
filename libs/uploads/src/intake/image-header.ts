import { UnprocessableEntityException } from '@nestjs/common';
import { imageSize } from 'image-size';
import { pngOrientation, tiffOrientation, webpOrientation } from './exif-orientation.js';
import { heifSize } from './heif-size.js';

/**
 * Pixel dimensions from the image header only (image-size parses headers, never pixels), so
 * decompression bombs are refused before anything decodes them, and the API does not load
 * libvips at all. Full decoding is the analysis worker's job.
 *
 * The answer is the displayed size, what a viewer shows and what the analysis reports as
 * `oriented_width`/`oriented_height` (which replace it when the analysis completes): EXIF
 * orientations 5–8 swap width and height, and a HEIF's primary item is measured after its crop
 * (`clap`) and rotation (`irot`). The pixel limit applies to the coded size: what decoding costs.
 */
export function readImageHeader(head: Buffer, maxPixels: number): { width: number; height: number } {
  const size = displayedSize(head);
  if (!size) throw new UnprocessableEntityException('The image header could not be parsed.');
  if (size.storedWidth * size.storedHeight > maxPixels) {
    throw new UnprocessableEntityException(
      `Image is ${size.storedWidth}×${size.storedHeight} pixels, over the limit of ${maxPixels} pixels.`,
    );
  }
  return { width: size.width, height: size.height };
}

function displayedSize(
  head: Buffer,
): { width: number; height: number; storedWidth: number; storedHeight: number } | undefined {
  if (head.length >= 12 && head.toString('latin1', 4, 8) === 'ftyp') {
    const heif = heifSize(head);
    if (heif) return heif;
  }
  const { width, height, orientation } = dimensionsWithin(head);
  if (!width || !height) return undefined;
  const swapped = (orientation ?? orientationIn(head) ?? 1) >= 5;
  return {
    storedWidth: width,
    storedHeight: height,
    width: swapped ? height : width,
    height: swapped ? width : height,
  };
}

/** EXIF orientation where image-size does not read it (it does for JPEG). */
function orientationIn(head: Buffer): number | undefined {
  const ascii = head.toString('latin1', 0, 4);
  if (ascii === 'II*\0' || ascii === 'MM\0*') return tiffOrientation(head);
  if (ascii === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return webpOrientation(head);
  if (head.length >= 8 && head.readUInt32BE(0) === 0x89504e47) return pngOrientation(head);
  return undefined;
}

/**
 * image-size 2.1 reads a Buffer view past its end into the memory behind it (a JPEG cut inside
 * its SOF segment "measured" bytes of another request). So it parses an exact copy, and the
 * dimensions count only if the same bytes followed by two different fillers give the same answer:
 * then nothing beyond the received bytes went into them.
 */
export function dimensionsWithin(head: Uint8Array): { width?: number; height?: number; orientation?: number } {
  const exact = measure(new Uint8Array(head));
  if (!exact.width || !exact.height) return {};
  for (const filler of [0x00, 0xaa]) {
    const padded = new Uint8Array(head.length + PAD);
    padded.set(head);
    padded.fill(filler, head.length);
    const again = measure(padded);
    if (again.width !== exact.width || again.height !== exact.height) return {};
    // The orientation only counts when it too came from the received bytes.
    if (again.orientation !== exact.orientation) return { width: exact.width, height: exact.height };
  }
  return exact;
}

const PAD = 64;

function measure(bytes: Uint8Array): { width?: number; height?: number; orientation?: number } {
  try {
    const { width, height, orientation } = imageSize(bytes);
    return {
      width,
      height,
      orientation: orientation && orientation >= 1 && orientation <= 8 ? orientation : undefined,
    };
  } catch {
    return {};
  }
}
