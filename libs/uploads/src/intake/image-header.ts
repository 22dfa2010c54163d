import { UnprocessableEntityException } from '@nestjs/common';
import { imageSize } from 'image-size';

/**
 * Pixel dimensions from the image header only (image-size parses headers, never pixels), so
 * decompression bombs are refused before anything decodes them, and the API does not load
 * libvips at all. Full decoding is the analysis worker's job.
 */
export function readImageHeader(head: Buffer, maxPixels: number): { width: number; height: number } {
  let width: number | undefined;
  let height: number | undefined;
  try {
    ({ width, height } = imageSize(head));
  } catch {
    // unparseable: below
  }
  if (!width || !height) throw new UnprocessableEntityException('The image header could not be parsed.');
  if (width * height > maxPixels) {
    throw new UnprocessableEntityException(`Image is ${width}×${height} pixels, over the limit of ${maxPixels} pixels.`);
  }
  return { width, height };
}
