// Generated test images (sharp) and multipart bodies for POST /api/uploads.
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';

/** `count` small PNGs of random pixels: every one (and every run's) has different bytes. */
export async function uniquePngs(count, size = 64) {
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await sharp(randomBytes(size * size * 3), { raw: { width: size, height: size, channels: 3 } })
        .png({ compressionLevel: 1 })
        .toBuffer(),
    );
  }
  return out;
}

/**
 * `count` photo-like JPEGs: a random coarse colour field upscaled smoothly (large soft shapes),
 * plus fine grain, so they decode and compress like camera pictures rather than flat colour.
 */
export async function photoJpegs(count, width = 1600, height = 1200, quality = 85) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const coarse = await sharp(randomBytes(16 * 12 * 3), { raw: { width: 16, height: 12, channels: 3 } })
      .resize(width, height, { kernel: 'cubic' })
      .raw()
      .toBuffer();
    const grain = randomBytes(coarse.length);
    for (let p = 0; p < coarse.length; p++) coarse[p] = Math.max(0, Math.min(255, coarse[p] + (grain[p] & 15) - 8));
    out.push(
      await sharp(coarse, { raw: { width, height, channels: 3 } })
        .jpeg({ quality })
        .toBuffer(),
    );
  }
  return out;
}

/** A multipart/form-data body with one file part (`file`) and optional text fields. */
export function multipartBody(file, { filename = 'image.png', contentType = 'image/png', fields = {} } = {}) {
  const boundary = `----echobench${randomBytes(8).toString('hex')}`;
  const chunks = [];
  for (const [name, value] of Object.entries(fields)) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  chunks.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`,
    ),
  );
  chunks.push(file, Buffer.from(`\r\n--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** POSTs each JPEG to /api/uploads, `concurrency` at a time; any answer but 201 fails the run. */
export async function uploadAll(baseUrl, token, images, concurrency) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, images.length) }, async () => {
      while (next < images.length) {
        const i = next++;
        const { body, contentType } = multipartBody(images[i], {
          filename: `photo-${i}.jpg`,
          contentType: 'image/jpeg',
        });
        const res = await fetch(`${baseUrl}/api/uploads`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
          body,
        });
        if (res.status !== 201) throw new Error(`upload ${i} failed: HTTP ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }
    }),
  );
}
