import { UnprocessableEntityException } from '@nestjs/common';
import { imageSize } from 'image-size';

/**
 * Pixel dimensions from the image header only (image-size parses headers, never pixels), so
 * decompression bombs are refused before anything decodes them, and the API does not load
 * libvips at all. Full decoding is the analysis worker's job.
 */
export function readImageHeader(head: Buffer, maxPixels: number): { width: number; height: number } {
  const { width, height } = dimensionsWithin(head);
  if (!width || !height) throw new UnprocessableEntityException('The image header could not be parsed.');
  if (width * height > maxPixels) {
    throw new UnprocessableEntityException(
      `Image is ${width}×${height} pixels, over the limit of ${maxPixels} pixels.`,
    );
  }
  return { width, height };
}

/**
 * image-size 2.1 reads a Buffer view past its end into the memory behind it (a JPEG cut inside
 * its SOF segment "measured" bytes of another request). So it parses an exact copy, and the
 * dimensions count only if the same bytes followed by two different fillers give the same answer:
 * then nothing beyond the received bytes went into them.
 */
export function dimensionsWithin(head: Uint8Array): { width?: number; height?: number } {
  const exact = measure(new Uint8Array(head));
  if (!exact.width || !exact.height) return {};
  for (const filler of [0x00, 0xaa]) {
    const padded = new Uint8Array(head.length + PAD);
    padded.set(head);
    padded.fill(filler, head.length);
    const again = measure(padded);
    if (again.width !== exact.width || again.height !== exact.height) return {};
  }
  return exact;
}

const PAD = 64;

function measure(bytes: Uint8Array): { width?: number; height?: number } {
  try {
    const { width, height } = imageSize(bytes);
    return { width, height };
  } catch {
    return {};
  }
}
