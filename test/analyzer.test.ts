/**
 * Image-analysis core (libs/visual-analysis/src/analyzer): every image is generated in-test with sharp
 * and has a known answer. Pure: no Nest, no DB, no services.
 *
 * Tolerances: colours from lossless PNGs must match exactly; colours from JPEGs may differ by ≤ 4 per
 * channel (chroma subsampling + DCT quantisation).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { thumbHashToRGBA } from 'thumbhash';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANALYZER_VERSION,
  NEAR_DUPLICATE_MAX_DISTANCE,
  UnrecoverableImageError,
  analyzeImage,
  hammingDistance,
  parseExif,
  type AnalysisResult,
} from '../libs/visual-analysis/src/analyzer/index.js';
import { mulberry32 } from '../apps/cli/src/seed/random.js';

const MAX_PIXELS = 50_000_000;
const opts = { maxPixels: MAX_PIXELS };

function solid(width: number, height: number, background: string, channels: 3 | 4 = 3) {
  return sharp({ create: { width, height, channels, background } });
}

/** Raw RGB buffer built pixel by pixel. */
function rawImage(width: number, height: number, px: (x: number, y: number) => [number, number, number]) {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = px(x, y);
      const o = (y * width + x) * 3;
      data[o] = r;
      data[o + 1] = g;
      data[o + 2] = b;
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** Deterministic PRNG so generated "noise" is identical on every run. */
const prng = mulberry32;

function photoSvg(width: number, height: number, variant: 'a' | 'b'): Buffer {
  const body =
    variant === 'a'
      ? `<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
           <stop offset="0" stop-color="#1e3c72"/><stop offset="1" stop-color="#f5af19"/></linearGradient></defs>
         <rect width="100%" height="100%" fill="url(#g)"/>
         <circle cx="${width * 0.3}" cy="${height * 0.4}" r="${height * 0.22}" fill="#e94e77"/>
         <rect x="${width * 0.55}" y="${height * 0.5}" width="${width * 0.3}" height="${height * 0.35}" fill="#2ecc71"/>
         <polygon points="${width * 0.1},${height * 0.95} ${width * 0.45},${height * 0.6} ${width * 0.6},${height * 0.95}" fill="#34495e"/>`
      : `<defs><linearGradient id="g" x1="1" y1="0" x2="0" y2="0">
           <stop offset="0" stop-color="#0b0b0b"/><stop offset="1" stop-color="#dcdcdc"/></linearGradient></defs>
         <rect width="100%" height="100%" fill="url(#g)"/>
         <rect x="${width * 0.05}" y="${height * 0.05}" width="${width * 0.25}" height="${height * 0.9}" fill="#ffffff"/>
         <circle cx="${width * 0.75}" cy="${height * 0.25}" r="${height * 0.15}" fill="#000000"/>
         <ellipse cx="${width * 0.6}" cy="${height * 0.8}" rx="${width * 0.2}" ry="${height * 0.1}" fill="#c0392b"/>`;
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`);
}

/** A tiny PNG whose IHDR claims width×height (CRC fixed), i.e. a decompression-bomb header. */
async function pngHeaderBomb(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await solid(1, 1, '#000000').png().toBuffer());
  // 8-byte signature, then the IHDR chunk: length(4) 'IHDR'(4) width(4) height(4) … crc(4)
  expect(png.toString('latin1', 12, 16)).toBe('IHDR');
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29); // CRC over type + 13 data bytes
  return png;
}

async function expectUnrecoverable(p: Promise<unknown>): Promise<UnrecoverableImageError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnrecoverableImageError);
  return err as UnrecoverableImageError;
}

function channelClose(hex: string, expected: string, tol: number): boolean {
  const parse = (h: string) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  const a = parse(hex);
  const b = parse(expected);
  return a.every((v, i) => Math.abs(v - b[i]) <= tol);
}

describe('analyzeImage', () => {
  it('exports a version', () => {
    expect(ANALYZER_VERSION).toBe('1.1.0');
  });

  describe('solid #ff0000 PNG 300×200', () => {
    let result: AnalysisResult;
    let input: Buffer;
    beforeAll(async () => {
      input = await solid(300, 200, '#ff0000').png().toBuffer();
      ({ result } = await analyzeImage(input, opts));
    });

    it('reports header facts', () => {
      expect(result).toMatchObject({
        format: 'png',
        width: 300,
        height: 200,
        orientation: 1,
        oriented_width: 300,
        oriented_height: 200,
        color_space: 'srgb',
        has_alpha: false,
        bit_depth: 8,
        size: input.length,
        exif: {},
        thumbnail: true,
      });
    });

    it('has the exact dominant colour and palette (lossless input, no tolerance)', () => {
      expect(result.dominant_color).toBe('#ff0000');
      expect(result.palette).toEqual(['#ff0000']);
    });

    it('is flat: contrast 0, entropy 0, sharpness 0, all-zero phash', () => {
      expect(result.contrast).toBeCloseTo(0, 6);
      expect(result.entropy).toBeCloseTo(0, 6);
      expect(result.sharpness).toBeCloseTo(0, 6);
      expect(result.phash).toBe('0000000000000000');
      // Rec. 601 luma of pure red: 0.299 × 255 = 76.2 → 76/255
      expect(result.brightness).toBeCloseTo(76 / 255, 6);
    });

    it('has a 16-hex phash and a decodable thumbhash placeholder', () => {
      expect(result.phash).toMatch(/^[0-9a-f]{16}$/);
      const decoded = thumbHashToRGBA(Buffer.from(result.placeholder, 'base64'));
      expect(decoded.w).toBeGreaterThan(0);
      expect(decoded.h).toBeGreaterThan(0);
      expect(decoded.rgba.length).toBe(decoded.w * decoded.h * 4);
      // Mostly red
      expect(decoded.rgba[0]).toBeGreaterThan(200);
      expect(decoded.rgba[1]).toBeLessThan(60);
    });
  });

  it('solid JPEG: dominant colour within ±4 per channel', async () => {
    const input = await solid(300, 200, '#3366cc').jpeg({ quality: 90 }).toBuffer();
    const { result } = await analyzeImage(input, opts);
    expect(result.format).toBe('jpeg');
    expect(channelClose(result.dominant_color, '#3366cc', 4)).toBe(true);
    expect(channelClose(result.palette[0], '#3366cc', 4)).toBe(true);
  });

  it('PNG with alpha → has_alpha true; transparent pixels do not count towards colours', async () => {
    // Left half opaque green, right half fully transparent black.
    const w = 100;
    const h = 50;
    const data = Buffer.alloc(w * h * 4);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 4;
        if (x < w / 2) data.set([0, 255, 0, 255], o);
      }
    }
    const input = await sharp(data, { raw: { width: w, height: h, channels: 4 } })
      .png()
      .toBuffer();
    const { result, thumbnail } = await analyzeImage(input, opts);
    expect(result.has_alpha).toBe(true);
    expect(result.dominant_color).toBe('#00ff00');
    expect(result.palette).toEqual(['#00ff00']);
    const thumbMeta = await sharp(thumbnail).metadata();
    expect(thumbMeta.hasAlpha).toBe(true);
  });

  it('half black / half white → brightness 0.5, contrast 1, entropy 1 bit', async () => {
    const input = await rawImage(200, 100, (x) => (x < 100 ? [0, 0, 0] : [255, 255, 255]))
      .png()
      .toBuffer();
    const { result } = await analyzeImage(input, opts);
    expect(result.brightness).toBeCloseTo(0.5, 3);
    expect(result.contrast).toBeGreaterThan(0.95);
    expect(result.entropy).toBeCloseTo(1, 3);
    expect(result.palette).toHaveLength(2);
    expect(new Set(result.palette)).toEqual(new Set(['#000000', '#ffffff']));
  });

  it('16-bit PNG → bit_depth 16', async () => {
    const input = await solid(64, 64, '#808080').toColourspace('rgb16').png().toBuffer();
    const { result } = await analyzeImage(input, opts);
    expect(result.bit_depth).toBe(16);
    expect(result.color_space).toBe('rgb16');
    expect(channelClose(result.dominant_color, '#808080', 1)).toBe(true);
  });

  describe('JPEG 400×200 with EXIF orientation 6', () => {
    let result: AnalysisResult;
    let thumbnail: Buffer;
    beforeAll(async () => {
      // Left half red, right half blue: orientation 6 (rotate 90° clockwise to display) puts red on top.
      const input = await rawImage(400, 200, (x) => (x < 200 ? [255, 0, 0] : [0, 0, 255]))
        .jpeg({ quality: 90 })
        // sharp overwrites an IFD0 Orientation given to withExif() with its own orientation
        // (1 unless set): withMetadata({ orientation }) is what actually writes the tag.
        .withExif({
          IFD0: { Orientation: '6', Make: 'Echo', Model: 'TestCam' },
          IFD2: { DateTimeOriginal: '2021:03:04 05:06:07', OffsetTimeOriginal: '+02:00' },
          IFD3: { GPSLatitudeRef: 'N' },
        })
        .withMetadata({ orientation: 6 })
        .toBuffer();
      expect((await sharp(input).metadata()).orientation).toBe(6);
      ({ result, thumbnail } = await analyzeImage(input, opts));
    });

    it('reports stored and oriented dimensions', () => {
      expect(result).toMatchObject({
        format: 'jpeg',
        width: 400,
        height: 200,
        orientation: 6,
        oriented_width: 200,
        oriented_height: 400,
      });
    });

    it('reads make, model, taken_at and gps from EXIF', () => {
      expect(result.exif).toEqual({
        make: 'Echo',
        model: 'TestCam',
        taken_at: '2021-03-04T05:06:07+02:00',
        gps: true,
      });
    });

    it('thumbnail is an oriented 128×256 WebP', async () => {
      const meta = await sharp(thumbnail).metadata();
      expect(meta.format).toBe('webp');
      expect([meta.width, meta.height]).toEqual([128, 256]);
      expect(meta.orientation ?? 1).toBe(1);
      const { data } = await sharp(thumbnail).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const top = [data[0], data[1], data[2]];
      const bottomOffset = (255 * 128 + 64) * 3;
      const bottom = [data[bottomOffset], data[bottomOffset + 1], data[bottomOffset + 2]];
      expect(top[0]).toBeGreaterThan(200); // red on top
      expect(top[2]).toBeLessThan(60);
      expect(bottom[2]).toBeGreaterThan(200); // blue at the bottom
      expect(bottom[0]).toBeLessThan(60);
    });
  });

  it('sharp API canary: withExif({ IFD0: { Orientation } }) alone does not set the orientation', async () => {
    const input = await solid(40, 20, '#000000')
      .jpeg()
      .withExif({ IFD0: { Orientation: '6' } })
      .toBuffer();
    expect((await sharp(input).metadata()).orientation ?? 1).toBe(1);
  });

  it('sharpness: a sharp checkerboard+noise scores > 5× its blurred copy', async () => {
    const rnd = prng(42);
    const base = () =>
      rawImage(512, 512, (x, y) => {
        const v = ((x >> 3) + (y >> 3)) % 2 === 0 ? 40 : 215;
        const n = Math.round((rnd() - 0.5) * 40);
        return [v + n, v + n, v + n];
      });
    const crisp = await base().png().toBuffer();
    const blurred = await base().blur(8).png().toBuffer();
    const [a, b] = await Promise.all([analyzeImage(crisp, opts), analyzeImage(blurred, opts)]);
    console.log(`sharpness: crisp ${a.result.sharpness.toFixed(1)}, blur(8) ${b.result.sharpness.toFixed(2)}`);
    expect(a.result.sharpness).toBeGreaterThan(5 * b.result.sharpness);
    expect(a.result.sharpness).toBeGreaterThan(100);
  });

  describe('phash near-duplicates', () => {
    let original: AnalysisResult;
    let resized: AnalysisResult;
    let recompressed: AnalysisResult;
    let other: AnalysisResult;
    beforeAll(async () => {
      const big = await sharp(photoSvg(1024, 768, 'a'))
        .jpeg({ quality: 90 })
        .toBuffer();
      const small = await sharp(big).resize(512, 384).jpeg({ quality: 80 }).toBuffer();
      const lowQ = await sharp(big).webp({ quality: 40 }).toBuffer();
      const diff = await sharp(photoSvg(1024, 768, 'b'))
        .jpeg({ quality: 90 })
        .toBuffer();
      [original, resized, recompressed, other] = (
        await Promise.all([big, small, lowQ, diff].map((b) => analyzeImage(b, opts)))
      ).map((r) => r.result);
    });

    it('is 16 hex chars', () => {
      for (const r of [original, resized, other]) expect(r.phash).toMatch(/^[0-9a-f]{16}$/);
    });

    it('a resize or re-encode is a near-duplicate; a different image is not', () => {
      const dResize = hammingDistance(original.phash, resized.phash);
      const dRecompress = hammingDistance(original.phash, recompressed.phash);
      const dOther = hammingDistance(original.phash, other.phash);
      console.log(`phash distances: resize ${dResize}, webp q40 ${dRecompress}, different ${dOther}`);
      expect(dResize).toBeLessThanOrEqual(NEAR_DUPLICATE_MAX_DISTANCE);
      expect(dRecompress).toBeLessThanOrEqual(NEAR_DUPLICATE_MAX_DISTANCE);
      expect(dOther).toBeGreaterThan(NEAR_DUPLICATE_MAX_DISTANCE);
    });

    it('photo-like image has sensible statistics', () => {
      console.log('photo-like 1024×768 JPEG:', JSON.stringify(original));
      expect(original.palette.length).toBeGreaterThanOrEqual(3);
      expect(original.palette.length).toBeLessThanOrEqual(5);
      expect(new Set(original.palette).size).toBe(original.palette.length);
      expect(original.palette[0]).toBe(original.dominant_color);
      expect(original.entropy).toBeGreaterThan(4);
      expect(original.entropy).toBeLessThanOrEqual(8);
      for (const v of [original.brightness, original.contrast]) {
        expect(v).toBeGreaterThan(0);
        expect(v).toBeLessThan(1);
      }
    });
  });

  it('thumbnail: long edge 256 for a large input, not enlarged for a small one', async () => {
    const big = await sharp(photoSvg(1024, 768, 'a'))
      .png()
      .toBuffer();
    const small = await solid(100, 50, '#123456').png().toBuffer();
    const [a, b] = await Promise.all([analyzeImage(big, opts), analyzeImage(small, opts)]);
    const ma = await sharp(a.thumbnail).metadata();
    const mb = await sharp(b.thumbnail).metadata();
    expect(ma.format).toBe('webp');
    expect([ma.width, ma.height]).toEqual([256, 192]);
    expect(mb.format).toBe('webp');
    expect([mb.width, mb.height]).toEqual([100, 50]);
  });

  describe('file path input', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'echo-analyzer-'));
    });
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('analyses a file; size is the file size', async () => {
      const buf = await solid(120, 80, '#00ff00').webp({ lossless: true }).toBuffer();
      const path = join(dir, 'a.webp');
      await writeFile(path, buf);
      const { result } = await analyzeImage(path, opts);
      expect(result.format).toBe('webp');
      expect(result.size).toBe(buf.length);
      expect(result.dominant_color).toBe('#00ff00');
    });

    it('a missing file is NOT an UnrecoverableImageError (infrastructure, may be retried)', async () => {
      const err = await analyzeImage(join(dir, 'missing.jpg'), opts).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(UnrecoverableImageError);
      expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    });
  });

  describe('rejections', () => {
    it('20000×20000 header bomb → UnrecoverableImageError naming the pixel limit, without decoding', async () => {
      const bomb = await pngHeaderBomb(20000, 20000);
      expect((await sharp(bomb, { limitInputPixels: false }).metadata()).width).toBe(20000);
      const started = performance.now();
      const err = await expectUnrecoverable(analyzeImage(bomb, opts));
      const ms = performance.now() - started;
      expect(err.message).toBe('Image is 20000×20000 pixels, over the 50000000 pixel limit.');
      expect(err.reason).toBe('too_large');
      expect(ms).toBeLessThan(500);
    });

    it('the pixel limit is applied exactly (width × height > maxPixels)', async () => {
      const input = await solid(100, 100, '#000000').png().toBuffer();
      await expect(analyzeImage(input, { maxPixels: 10_000 })).resolves.toMatchObject({
        result: { width: 100, height: 100 },
      });
      const err = await expectUnrecoverable(analyzeImage(input, { maxPixels: 9_999 }));
      expect(err.message).toContain('pixel limit');
    });

    it('random bytes → UnrecoverableImageError with a readable reason', async () => {
      const err = await expectUnrecoverable(analyzeImage(randomBytes(4096), opts));
      expect(err.reason).toBe('undecodable');
      expect(err.message).toBe('The image could not be decoded: the file is not an image in a format Echo can read.');
    });

    it('empty buffer → UnrecoverableImageError', async () => {
      const err = await expectUnrecoverable(analyzeImage(Buffer.alloc(0), opts));
      expect(err.reason).toBe('undecodable');
    });

    it('truncated JPEG (header readable, data cut) → UnrecoverableImageError', async () => {
      const rnd = prng(7);
      const full = await rawImage(400, 300, () => {
        const v = Math.floor(rnd() * 256);
        return [v, 255 - v, (v * 7) & 255];
      })
        .jpeg()
        .toBuffer();
      const cut = full.subarray(0, Math.floor(full.length / 2));
      const err = await expectUnrecoverable(analyzeImage(cut, opts));
      expect(err.reason).toBe('undecodable');
      expect(err.message).toBe(
        'The image could not be decoded: a truncated JPEG (the file ends before its image data does).',
      );
    });

    it('truncated PNG → names the format, never a decoder offset', async () => {
      const rnd = prng(8);
      const full = await rawImage(300, 200, () => [Math.floor(rnd() * 256), 0, 0])
        .png()
        .toBuffer();
      const err = await expectUnrecoverable(analyzeImage(full.subarray(0, Math.floor(full.length / 2)), opts));
      console.log(`truncated PNG → ${err.message}`);
      expect(err.message).toMatch(/^The image could not be decoded: a (truncated|damaged) PNG/);
      expect(err.message).not.toMatch(/\d{3,}/);
    });

    it('rejects a nonsensical maxPixels as a programming error', async () => {
      const input = await solid(10, 10, '#000000').png().toBuffer();
      await expect(analyzeImage(input, { maxPixels: 0 })).rejects.toBeInstanceOf(RangeError);
    });
  });

  it('onProgress is called with increasing values ending ≥ 90', async () => {
    const seen: number[] = [];
    const input = await sharp(photoSvg(640, 480, 'a'))
      .jpeg()
      .toBuffer();
    await analyzeImage(input, {
      maxPixels: MAX_PIXELS,
      onProgress: async (pct) => {
        seen.push(pct);
      },
    });
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
    expect(seen[seen.length - 1]).toBeGreaterThanOrEqual(90);
  });

  it('throughput sanity (printed, not asserted): 20 × 1600×1200 JPEGs', { timeout: 180_000 }, async () => {
    const images: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      const rnd = prng(1000 + i);
      const noise = Buffer.alloc(200 * 150 * 3);
      for (let k = 0; k < noise.length; k++) noise[k] = Math.floor(rnd() * 256);
      const texture = await sharp(noise, { raw: { width: 200, height: 150, channels: 3 } })
        .resize(1600, 1200, { kernel: 'cubic' })
        .png()
        .toBuffer();
      images.push(
        await sharp(photoSvg(1600, 1200, i % 2 === 0 ? 'a' : 'b'))
          .composite([{ input: texture, blend: 'overlay' }])
          .jpeg({ quality: 85 })
          .toBuffer(),
      );
    }
    const avgKb = images.reduce((s, b) => s + b.length, 0) / images.length / 1024;

    let t = performance.now();
    for (const img of images) await analyzeImage(img, opts);
    const seqSeconds = (performance.now() - t) / 1000;

    t = performance.now();
    let next = 0;
    await Promise.all(
      [0, 1].map(async () => {
        while (next < images.length) await analyzeImage(images[next++], opts);
      }),
    );
    const parSeconds = (performance.now() - t) / 1000;

    console.log(
      `analyzer throughput (avg JPEG ${avgKb.toFixed(0)} KiB, sharp.concurrency=${sharp.concurrency()}): ` +
        `sequential ${(images.length / seqSeconds).toFixed(1)} img/s (${((seqSeconds / images.length) * 1000).toFixed(0)} ms/img), ` +
        `2 in flight ${(images.length / parSeconds).toFixed(1)} img/s`,
    );
  });
});

describe('hammingDistance', () => {
  it('counts differing bits', () => {
    expect(hammingDistance('0000000000000000', '0000000000000000')).toBe(0);
    expect(hammingDistance('0000000000000000', '000000000000000f')).toBe(4);
    expect(hammingDistance('ffffffffffffffff', '0000000000000000')).toBe(64);
    expect(hammingDistance('ABCDEF0123456789', 'abcdef0123456789')).toBe(0);
    expect(hammingDistance('8000000000000001', '0000000000000000')).toBe(2);
  });

  it('rejects malformed hashes', () => {
    expect(() => hammingDistance('abc', '0000000000000000')).toThrow(TypeError);
    expect(() => hammingDistance('zzzzzzzzzzzzzzzz', '0000000000000000')).toThrow(TypeError);
  });
});

describe('parseExif', () => {
  /** Hand-built big-endian TIFF: IFD0 { Make, Model, ExifIFD → { DateTimeOriginal } }, no GPS. */
  function bigEndianTiff(): Buffer {
    const make = Buffer.from('BigEndianCo\0', 'latin1'); // 12 bytes, stored out of line
    const model = Buffer.from('M1\0', 'latin1'); // 3 bytes, inline
    const dto = Buffer.from('2020:01:02 03:04:05\0', 'latin1'); // 20 bytes
    const ifd0 = 8;
    const ifd0Size = 2 + 3 * 12 + 4;
    const exifIfd = ifd0 + ifd0Size;
    const exifSize = 2 + 12 + 4;
    const makeOff = exifIfd + exifSize;
    const dtoOff = makeOff + make.length;
    const buf = Buffer.alloc(dtoOff + dto.length);
    buf.write('MM', 0, 'latin1');
    buf.writeUInt16BE(42, 2);
    buf.writeUInt32BE(ifd0, 4);
    buf.writeUInt16BE(3, ifd0);
    const entry = (at: number, tag: number, type: number, count: number, value: number | Buffer) => {
      buf.writeUInt16BE(tag, at);
      buf.writeUInt16BE(type, at + 2);
      buf.writeUInt32BE(count, at + 4);
      if (typeof value === 'number') buf.writeUInt32BE(value, at + 8);
      else value.copy(buf, at + 8);
    };
    entry(ifd0 + 2, 0x010f, 2, make.length, makeOff);
    entry(ifd0 + 14, 0x0110, 2, model.length, model);
    entry(ifd0 + 26, 0x8769, 4, 1, exifIfd);
    buf.writeUInt16BE(1, exifIfd);
    entry(exifIfd + 2, 0x9003, 2, dto.length, dtoOff);
    make.copy(buf, makeOff);
    dto.copy(buf, dtoOff);
    return buf;
  }

  it('reads big-endian TIFF, with or without the "Exif\\0\\0" prefix', () => {
    const tiff = bigEndianTiff();
    const expected = { make: 'BigEndianCo', model: 'M1', taken_at: '2020-01-02T03:04:05' };
    expect(parseExif(tiff)).toEqual(expected);
    expect(parseExif(Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]))).toEqual(expected);
  });

  it('returns {} for absent or garbage input and never throws on mutations', async () => {
    expect(parseExif(undefined)).toEqual({});
    expect(parseExif(Buffer.alloc(0))).toEqual({});
    expect(parseExif(randomBytes(300))).toEqual({});
    expect(parseExif(Buffer.from('Exif\0\0II*\0\xff\xff\xff\xff', 'latin1'))).toEqual({});

    const jpeg = await solid(8, 8, '#000000')
      .jpeg()
      .withExif({ IFD0: { Make: 'Echo', Model: 'TestCam' }, IFD2: { DateTimeOriginal: '2021:03:04 05:06:07' } })
      .toBuffer();
    const exif = (await sharp(jpeg).metadata()).exif!;
    expect(parseExif(exif)).toMatchObject({ make: 'Echo', model: 'TestCam', taken_at: '2021-03-04T05:06:07' });
    const rnd = prng(99);
    for (let i = 0; i < 2000; i++) {
      const m = Buffer.from(exif);
      const flips = 1 + Math.floor(rnd() * 8);
      for (let f = 0; f < flips; f++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      const cut = rnd() < 0.3 ? m.subarray(0, Math.floor(rnd() * m.length)) : m;
      const out = parseExif(cut);
      expect(typeof out).toBe('object');
      for (const v of [out.make, out.model, out.taken_at]) if (v !== undefined) expect(typeof v).toBe('string');
    }
  });

  it('drops invalid dates (e.g. the 0000:00:00 placeholder)', () => {
    const tiff = bigEndianTiff();
    const at = tiff.indexOf('2020:01:02', 0, 'latin1');
    tiff.write('0000:00:00 00:00:00', at, 'latin1');
    expect(parseExif(tiff)).toEqual({ make: 'BigEndianCo', model: 'M1' });
  });
});
