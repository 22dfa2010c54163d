import { crc32 } from 'node:zlib';
import sharp from 'sharp';

/** Test images made with sharp: known sizes and colours. */
export function solidPng(width: number, height: number, color = '#ff0000'): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: color } })
    .png()
    .toBuffer();
}

export function solidJpeg(width: number, height: number, color = '#3366cc'): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: color } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** A 16-bit PNG: accepted, but not what a browser gets as a preview (the analysis makes a WebP rendition). */
export function solidPng16(width: number, height: number, color = '#808080'): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: color } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
}

/** Random pixels: incompressible, so the byte size is predictable (≈ 3 × w × h for PNG). */
export function noisePng(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (Math.random() * 256) | 0;
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
}

/** A camera-style JPEG: EXIF make/model and an orientation tag (sharp needs withMetadata for it). */
export function cameraJpeg(width: number, height: number, orientation = 6): Promise<Buffer> {
  const svg = `<svg width="${width}" height="${height}"><rect width="100%" height="100%" fill="#446688"/><circle cx="${width / 3}" cy="${height / 2}" r="${height / 4}" fill="#ffcc00"/></svg>`;
  return sharp(Buffer.from(svg))
    .jpeg({ quality: 90 })
    .withExif({ IFD0: { Make: 'Echo', Model: 'TestCam' } })
    .withMetadata({ orientation })
    .toBuffer();
}

/** A tiny PNG whose IHDR claims width × height (CRC fixed): a decompression-bomb header. */
export async function pngHeaderBomb(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await solidPng(1, 1));
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

/** Builds a multipart/form-data body for app.inject. */
export function multipart(
  parts: Array<{ name: string; value?: string; filename?: string; contentType?: string; data?: Buffer }>,
): {
  payload: Buffer;
  headers: Record<string, string>;
} {
  const boundary = `----echo${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    head += '\r\n';
    if (part.data) head += `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`, 'latin1'), part.data ?? Buffer.from(part.value ?? ''), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
