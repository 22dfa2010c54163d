/**
 * What this process can decode, for the worker's start-up log: sharp's loaders that read from a
 * buffer (its libheif reads AVIF only, so 'heif' is listed as 'avif'), plus HEIC through libheif-js,
 * which is loaded here so a broken WebAssembly install shows at start, not on the first iPhone photo.
 */
import sharp from 'sharp';
import { libheifVersion, loadLibheif } from './heic.js';

export interface DecodableFormats {
  formats: string[];
  /** One line for the log, e.g. "jpeg, png, …, avif (libvips 8.17.3); heic (libheif-js 1.23.2, WebAssembly)". */
  summary: string;
}

export async function decodableFormats(): Promise<DecodableFormats> {
  const fromSharp = Object.values(sharp.format)
    .filter((f) => f.input.buffer && f.id !== 'raw')
    .map((f) => (f.id === 'heif' ? 'avif' : f.id));
  await loadLibheif();
  const formats = [...fromSharp, 'heic'];
  const summary = `${fromSharp.join(', ')} (libvips ${sharp.versions.vips}); heic (libheif-js ${libheifVersion()}, WebAssembly)`;
  return { formats, summary };
}
