import { UnprocessableEntityException } from '@nestjs/common';
import sharp from 'sharp';

/**
 * Reads pixel dimensions from the image header only (sharp's metadata() never decodes pixels),
 * so decompression bombs are refused before anything decodes them. Full decoding is the
 * analysis worker's job.
 */
export async function readImageHeader(head: Buffer, maxPixels: number): Promise<{ width: number; height: number }> {
  let width: number | undefined;
  let height: number | undefined;
  try {
    const meta = await sharp(head, { limitInputPixels: false, failOn: 'none' }).metadata();
    width = meta.width;
    height = meta.height;
  } catch {
    // fall through: unparseable
  }
  if (!width || !height) throw new UnprocessableEntityException('The image header could not be parsed.');
  if (width * height > maxPixels) {
    throw new UnprocessableEntityException(`Image is ${width}×${height} pixels, over the limit of ${maxPixels} pixels.`);
  }
  return { width, height };
}
