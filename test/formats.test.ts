/**
 * The images people upload, made by encoders Echo did not write (heif-enc, exiftool, ImageMagick,
 * sharp/libvips), each with a known answer: first the analyzer on its own, then upload → analysis
 * through the API and the worker.
 *
 * Orientation ground truth: a 400×200 image whose quadrants are red, green / blue, yellow. For each
 * EXIF orientation the upright corners are fixed by the EXIF spec (table below); a JPEG tagged by
 * exiftool and a HEIC with the equivalent irot/imir must both come out that way.
 */
import { execFileSync } from 'node:child_process';
import { crc32 } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  UnrecoverableImageError,
  analyzeImage,
  hammingDistance,
  parseExif,
  type AnalysisResult,
} from '../libs/visual-analysis/src/analyzer/index.js';
import type { Analysis } from '../libs/visual-analysis/src/analyzer/analyze-image.js';
import { readImageHeader } from '../libs/uploads/src/intake/image-header.js';
import { decodeHeic, heicDecodeStats } from '../libs/visual-analysis/src/analyzer/heic.js';
import { decodableFormats } from '../libs/visual-analysis/src/analyzer/formats.js';
import { exiftool, heifEnc, heifEncMany, imageMagickConvert, skipWithout } from './support/encoders.js';
import { withGrid, withHeifTransforms, withPrimaryItem, type HeifTransform } from './support/heif-boxes.js';
import { multipart } from './support/images.js';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { register, type Session } from './support/users.js';
import { waitFor } from './support/wait.js';
import { distBuilt } from './support/processes.js';

const opts = { maxPixels: 50_000_000 };
const R = [255, 0, 0];
const G = [0, 255, 0];
const B = [0, 0, 255];
const Y = [255, 255, 0];

/** Upright [top-left, top-right, bottom-left, bottom-right] for each EXIF orientation of the stored R G / B Y. */
const UPRIGHT: Record<number, number[][]> = {
  1: [R, G, B, Y],
  2: [G, R, Y, B],
  3: [Y, B, G, R],
  4: [B, Y, R, G],
  5: [R, B, G, Y],
  6: [B, R, Y, G],
  7: [Y, G, B, R],
  8: [G, Y, R, B],
};

/** HEIF transforms (in the order applied) equivalent to each EXIF orientation. */
const HEIF_FOR: Record<number, HeifTransform[]> = {
  1: [],
  2: [{ imir: 1 }],
  3: [{ irot: 2 }],
  4: [{ imir: 0 }],
  5: [{ irot: 1 }, { imir: 0 }],
  6: [{ irot: 3 }],
  7: [{ irot: 3 }, { imir: 0 }],
  8: [{ irot: 1 }],
};

function quadrants(w = 400, h = 200): Sharp {
  const d = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) d.set(y < h / 2 ? (x < w / 2 ? R : G) : x < w / 2 ? B : Y, (y * w + x) * 3);
  }
  return sharp(d, { raw: { width: w, height: h, channels: 3 } });
}

function photoSvg(width: number, height: number): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#1e3c72"/><stop offset="1" stop-color="#f5af19"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${width * 0.3}" cy="${height * 0.4}" r="${height * 0.22}" fill="#e94e77"/>
    <rect x="${width * 0.55}" y="${height * 0.5}" width="${width * 0.3}" height="${height * 0.35}" fill="#2ecc71"/></svg>`);
}

/** The colours near the four corners of a (thumbnail) image. */
async function corners(image: Buffer): Promise<number[][]> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) =>
    Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
  const m = 4;
  return [at(m, m), at(info.width - 1 - m, m), at(m, info.height - 1 - m), at(info.width - 1 - m, info.height - 1 - m)];
}

function expectColours(actual: number[][], expected: number[][], tol = 48): void {
  const ok = actual.every((c, i) => c.every((v, k) => Math.abs(v - expected[i][k]) <= tol));
  expect(ok, `corners ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`).toBe(true);
}

/**
 * A CMYK JPEG without a profile has no single right sRGB answer (libvips converts through its
 * default CMYK profile; #3366cc comes back near #395d8f): its blue must stay the dominant hue.
 */
function blueDominant(hex: string): boolean {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return b > g && g > r && b >= 128;
}

function channelClose(hex: string, expected: string, tol: number): boolean {
  const parse = (h: string) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  const a = parse(hex);
  return parse(expected).every((v, i) => Math.abs(v - a[i]) <= tol);
}

const solid = (w: number, h: number, background: string, channels: 3 | 4 = 3) =>
  sharp({ create: { width: w, height: h, channels, background } });

/** Three 60×40 frames: red, green, blue. */
async function frames(): Promise<Buffer[]> {
  return Promise.all(['#ff0000', '#00ff00', '#0000ff'].map((c) => solid(60, 40, c).png().toBuffer()));
}

const CAMERA_TAGS = [
  '-Make=Apple',
  '-Model=iPhone 15 Pro',
  '-DateTimeOriginal=2024:07:14 18:30:05',
  '-OffsetTimeOriginal=+02:00',
  '-GPSLatitude=48.8584',
  '-GPSLatitudeRef=N',
  '-GPSLongitude=2.2945',
  '-GPSLongitudeRef=E',
];

it("the worker's start-up list of decodable formats includes HEIC and what sharp reads", async () => {
  const { formats, summary } = await decodableFormats();
  for (const f of ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heic']) expect(formats).toContain(f);
  expect(formats).not.toContain('heif');
  expect(summary).toMatch(/heic \(libheif-js \d+\.\d+\.\d+, WebAssembly\)$/);
});

it.skipIf(!distBuilt('api'))(
  "the API's module graph loads neither sharp nor libheif-js (decoding is the worker's)",
  () => {
    const probe = `
    await import('./dist/apps/api/src/create-api-app.js');
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => /node_modules\\/(libheif-js|sharp)\\//.test(k));
    console.log(JSON.stringify(loaded));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual([]);
  },
);

describe.skipIf(skipWithout('heifEnc', 'exiftool', 'imageMagick'))('formats from real encoders', () => {
  describe('EXIF orientation 1–8 (exiftool), both byte orders', () => {
    for (const order of ['II', 'MM'] as const) {
      it(`JPEG, ${order}: orientation, oriented size, upright thumbnail, camera fields`, async () => {
        const base = await quadrants().jpeg({ quality: 95 }).toBuffer();
        for (let o = 1; o <= 8; o++) {
          const jpeg = await exiftool(base, 'jpg', [`-ExifByteOrder=${order}`, `-Orientation#=${o}`, ...CAMERA_TAGS]);
          const { result, thumbnail } = await analyzeImage(jpeg, opts);
          expect(result).toMatchObject({
            format: 'jpeg',
            width: 400,
            height: 200,
            orientation: o,
            oriented_width: o >= 5 ? 200 : 400,
            oriented_height: o >= 5 ? 400 : 200,
            exif: { make: 'Apple', model: 'iPhone 15 Pro', taken_at: '2024-07-14T18:30:05+02:00', gps: true },
          });
          expectColours(await corners(thumbnail), UPRIGHT[o]);
        }
      });
    }
  });

  describe('EXIF taken_at falls back in the order cameras write it', () => {
    let base: Buffer;
    beforeAll(async () => {
      base = await solid(32, 32, '#808080').jpeg().toBuffer();
    });
    const takenAt = async (tags: string[]) =>
      (await analyzeImage(await exiftool(base, 'jpg', tags), opts)).result.exif.taken_at;

    it('DateTimeOriginal first, with OffsetTimeOriginal', async () => {
      expect(
        await takenAt([
          '-DateTimeOriginal=2020:01:02 03:04:05',
          '-OffsetTimeOriginal=-05:00',
          '-CreateDate=2021:01:01 00:00:00',
          '-ModifyDate=2022:01:01 00:00:00',
        ]),
      ).toBe('2020-01-02T03:04:05-05:00');
    });
    it('then CreateDate (DateTimeDigitized), with its own offset or OffsetTimeOriginal', async () => {
      expect(
        await takenAt([
          '-CreateDate=2021:06:07 08:09:10',
          '-OffsetTimeDigitized=+09:00',
          '-ModifyDate=2022:01:01 00:00:00',
        ]),
      ).toBe('2021-06-07T08:09:10+09:00');
      expect(await takenAt(['-CreateDate=2021:06:07 08:09:10', '-OffsetTimeOriginal=+01:00'])).toBe(
        '2021-06-07T08:09:10+01:00',
      );
    });
    it('then DateTime (ModifyDate); an invalid DateTimeOriginal does not hide it', async () => {
      expect(await takenAt(['-ModifyDate=2022:11:12 13:14:15', '-OffsetTime=+05:30'])).toBe(
        '2022-11-12T13:14:15+05:30',
      );
      expect(await takenAt(['-DateTimeOriginal=0000:00:00 00:00:00', '-ModifyDate=2022:11:12 13:14:15'])).toBe(
        '2022-11-12T13:14:15',
      );
    });
    it('no date at all: no taken_at', async () => {
      expect(await takenAt(['-Make=Echo'])).toBeUndefined();
    });
  });

  describe('HEIC (heif-enc, HEVC)', () => {
    let jpeg: Buffer;
    let heic: Buffer;
    beforeAll(async () => {
      jpeg = await quadrants().jpeg({ quality: 95 }).toBuffer();
      heic = await heifEnc(jpeg, 90);
    });

    it('is decoded: format heic, stored size, upright thumbnail', async () => {
      const { result, thumbnail } = await analyzeImage(heic, opts);
      expect(result).toMatchObject({
        format: 'heic',
        width: 400,
        height: 200,
        orientation: 1,
        oriented_width: 400,
        oriented_height: 200,
        frames: 1,
      });
      expect((await sharp(thumbnail).metadata()).format).toBe('webp');
      expectColours(await corners(thumbnail), UPRIGHT[1]);
    });

    it('applies the container orientation (irot/imir) for all 8 orientations', async () => {
      for (let o = 1; o <= 8; o++) {
        const { result, thumbnail } = await analyzeImage(withHeifTransforms(heic, HEIF_FOR[o]), opts);
        expect(result, `orientation ${o}`).toMatchObject({
          format: 'heic',
          width: 400,
          height: 200,
          orientation: o,
          oriented_width: o >= 5 ? 200 : 400,
          oriented_height: o >= 5 ? 400 : 200,
        });
        expectColours(await corners(thumbnail), UPRIGHT[o]);
      }
    });

    it("a HEIC's EXIF Orientation is not applied on top of irot (phones write both)", async () => {
      const tagged = await exiftool(jpeg, 'jpg', ['-Orientation#=6', ...CAMERA_TAGS]);
      const phone = withHeifTransforms(await heifEnc(tagged, 90), HEIF_FOR[6]);
      const { result, thumbnail } = await analyzeImage(phone, opts);
      expect(result).toMatchObject({ orientation: 6, oriented_width: 200, oriented_height: 400 });
      expectColours(await corners(thumbnail), UPRIGHT[6]);
    });

    for (const order of ['II', 'MM'] as const) {
      it(`reads make, model, taken_at and GPS from the HEIF's EXIF block (${order})`, async () => {
        const tagged = await exiftool(jpeg, 'jpg', [`-ExifByteOrder=${order}`, ...CAMERA_TAGS]);
        const { result } = await analyzeImage(await heifEnc(tagged, 80), opts);
        expect(result.exif).toEqual({
          make: 'Apple',
          model: 'iPhone 15 Pro',
          taken_at: '2024-07-14T18:30:05+02:00',
          gps: true,
        });
      });
    }

    it('libheif reads the same EXIF block and bit depth as sharp (used when libvips cannot read the header)', async () => {
      const tagged = await exiftool(jpeg, 'jpg', ['-ExifByteOrder=MM', ...CAMERA_TAGS]);
      const file = await heifEnc(tagged, 80);
      const decoded = await decodeHeic(file, opts.maxPixels);
      expect(decoded.bitDepth).toBe(8);
      expect(parseExif(decoded.exif)).toEqual({
        make: 'Apple',
        model: 'iPhone 15 Pro',
        taken_at: '2024-07-14T18:30:05+02:00',
        gps: true,
      });
      expect(decoded.exif?.toString('latin1', 0, 2)).toBe('MM');
      expect((await decodeHeic(heic, opts.maxPixels)).exif).toBeUndefined();
    });

    it('a HEIC whose header libvips does not recognise is still read by libheif (size, orientation, EXIF)', async () => {
      // Major brand 'mif2' (HEIF 2nd edition): libvips only knows 'mif1'/'heic'/…, libheif reads it.
      const tagged = await exiftool(jpeg, 'jpg', ['-Orientation#=6', ...CAMERA_TAGS]);
      const file = withHeifTransforms(await heifEnc(tagged, 80), HEIF_FOR[6]);
      file.write('mif2', 8, 'latin1');
      await expect(sharp(file).metadata()).rejects.toThrow();
      const { result, thumbnail } = await analyzeImage(file, opts);
      expect(result).toMatchObject({
        format: 'heic',
        width: 400,
        height: 200,
        orientation: 6,
        oriented_width: 200,
        oriented_height: 400,
        color_space: 'srgb',
        has_alpha: false,
        bit_depth: 8,
        frames: 1,
        exif: { make: 'Apple', model: 'iPhone 15 Pro', taken_at: '2024-07-14T18:30:05+02:00', gps: true },
      });
      expectColours(await corners(thumbnail), UPRIGHT[6]);
      const tooBig = await analyzeImage(file, { maxPixels: 79_999 }).catch((e: unknown) => e);
      expect((tooBig as Error).message).toBe('Image is 200×400 pixels, over the 79999 pixel limit.');
    });

    it('a solid HEIC has its colour as the dominant colour', async () => {
      const { result } = await analyzeImage(await heifEnc(await solid(320, 240, '#3366cc').png().toBuffer(), 90), opts);
      expect(result.format).toBe('heic');
      expect(channelClose(result.dominant_color, '#3366cc', 6), result.dominant_color).toBe(true);
    });

    it('HEIC with alpha: transparent pixels do not count towards colours', async () => {
      const w = 100;
      const h = 50;
      const data = Buffer.alloc(w * h * 4);
      for (let y = 0; y < h; y++) for (let x = 0; x < w / 2; x++) data.set([0, 255, 0, 255], (y * w + x) * 4);
      const png = await sharp(data, { raw: { width: w, height: h, channels: 4 } })
        .png()
        .toBuffer();
      const { result, thumbnail } = await analyzeImage(await heifEnc(png, 90), opts);
      expect(result).toMatchObject({ format: 'heic', has_alpha: true, width: 100, height: 50 });
      expect(channelClose(result.dominant_color, '#00ff00', 4), result.dominant_color).toBe(true);
      expect(result.palette).toHaveLength(1);
      expect((await sharp(thumbnail).metadata()).hasAlpha).toBe(true);
    });

    it('10-bit HEIC (heif-enc -b 10 of a 16-bit PNG): bit_depth 10, colours in 8-bit sRGB', async () => {
      const png16 = await solid(64, 48, '#3366cc').toColourspace('rgb16').png().toBuffer();
      const { result } = await analyzeImage(await heifEnc(png16, 90, ['-b', '10']), opts);
      expect(result).toMatchObject({ format: 'heic', bit_depth: 10, width: 64, height: 48 });
      expect(channelClose(result.dominant_color, '#3366cc', 6), result.dominant_color).toBe(true);
    });

    it('a HEIC and its JPEG original are near-duplicates (pHash distance ≤ 10)', async () => {
      const original = await sharp(photoSvg(1024, 768)).jpeg({ quality: 90 }).toBuffer();
      const [a, b] = await Promise.all([analyzeImage(original, opts), analyzeImage(await heifEnc(original, 60), opts)]);
      const d = hammingDistance(a.result.phash, b.result.phash);
      console.log(`pHash distance HEIC (q60) vs its JPEG original: ${d}`);
      expect(d).toBeLessThanOrEqual(10);
    });

    it('a multi-image file: the primary image is analysed, not the first; the image count is reported', async () => {
      const red = await solid(64, 48, '#ff0000').jpeg().toBuffer();
      const green = await solid(80, 40, '#00ff00').jpeg().toBuffer();
      // heif-enc writes both images (items 2 and 4) with the first as primary; make the second primary.
      const two = await heifEncMany([red, green], 80);
      const first = await analyzeImage(two, opts);
      expect(first.result).toMatchObject({ format: 'heic', width: 64, height: 48, frames: 2 });
      const { result } = await analyzeImage(withPrimaryItem(two, 4), opts);
      expect(result).toMatchObject({ format: 'heic', width: 80, height: 40, frames: 2 });
      expect(channelClose(result.dominant_color, '#00ff00', 8), result.dominant_color).toBe(true);
    });

    it('a grid of tiles (as phones store photos): the whole primary image is assembled', async () => {
      const colours = ['#ff0000', '#00ff00', '#0000ff', '#ffff00'];
      const tiles = await Promise.all(colours.map((c) => solid(128, 128, c).jpeg({ quality: 95 }).toBuffer()));
      // 2×2 tiles of 128 px, output 240×200: the last column and row are cropped, as libheif must.
      const grid = withGrid(await heifEncMany(tiles, 90), 2, 2, 240, 200);
      const { result, thumbnail } = await analyzeImage(grid, opts);
      expect(result).toMatchObject({
        format: 'heic',
        width: 240,
        height: 200,
        orientation: 1,
        oriented_width: 240,
        oriented_height: 200,
        frames: 1,
      });
      expectColours(await corners(thumbnail), [R, G, B, Y]);
    });

    it('the pixel limit is checked on the header, before decoding', async () => {
      const err = await analyzeImage(heic, { maxPixels: 79_999 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnrecoverableImageError);
      expect((err as UnrecoverableImageError).message).toBe('Image is 400×200 pixels, over the 79999 pixel limit.');
    });

    it('decodes one HEIC at a time per process, however many analyses run', async () => {
      const before = heicDecodeStats().decodes;
      // Started in the same tick, so without the semaphore the second would begin while the first
      // awaits its pixels (two images in the wasm heap at once).
      const all = await Promise.all([0, 1, 2, 3].map(() => decodeHeic(heic, opts.maxPixels)));
      expect(all.map((p) => [p.width, p.height, p.channels])).toEqual(Array(4).fill([400, 200, 3]));
      await Promise.all([0, 1].map(() => analyzeImage(heic, opts)));
      expect(heicDecodeStats().decodes - before).toBe(6);
      expect(heicDecodeStats().peakInFlight).toBe(1);
    });

    it('failures say which format and why, never a decoder offset', async () => {
      const cut = await analyzeImage(heic.subarray(0, Math.floor(heic.length * 0.6)), opts).catch((e: unknown) => e);
      expect(cut).toBeInstanceOf(UnrecoverableImageError);
      console.log(`truncated HEIC → ${(cut as Error).message}`);
      expect((cut as Error).message).toMatch(/^The image could not be decoded: .*HEIC/);
      expect((cut as Error).message).not.toMatch(/\d{3,}/);

      // The same file with its image item declared as JPEG-coded (as some cameras write HEIF), which
      // neither libvips nor libheif-js here can decode.
      const jpegCoded = Buffer.from(heic);
      jpegCoded.write('jpeg', jpegCoded.indexOf('hvc1', 0, 'latin1'), 'latin1');
      const err = await analyzeImage(jpegCoded, opts).catch((e: unknown) => e);
      console.log(`JPEG-coded HEIF → ${(err as Error).message}`);
      expect(err).toBeInstanceOf(UnrecoverableImageError);
      expect((err as Error).message).toMatch(/^The image could not be decoded: HEI[CF] with an unsupported codec/);
    });
  });

  describe('other real-world formats', () => {
    it('CMYK JPEG (ImageMagick)', async () => {
      const cmyk = await imageMagickConvert(await solid(120, 80, '#3366cc').png().toBuffer(), 'png', 'jpg', [
        '{in}',
        '-colorspace',
        'CMYK',
        '{out}',
      ]);
      const { result } = await analyzeImage(cmyk, opts);
      expect(result).toMatchObject({ format: 'jpeg', color_space: 'cmyk', width: 120, height: 80 });
      expect(blueDominant(result.dominant_color), result.dominant_color).toBe(true);
    });

    it('progressive JPEG (ImageMagick -interlace Plane)', async () => {
      const prog = await imageMagickConvert(await quadrants().png().toBuffer(), 'png', 'jpg', [
        '{in}',
        '-interlace',
        'Plane',
        '-quality',
        '92',
        '{out}',
      ]);
      expect((await sharp(prog).metadata()).isProgressive).toBe(true);
      const { result, thumbnail } = await analyzeImage(prog, opts);
      expect(result).toMatchObject({ format: 'jpeg', width: 400, height: 200 });
      expectColours(await corners(thumbnail), UPRIGHT[1]);
    });

    it('grayscale JPEG', async () => {
      const grey = await solid(100, 100, '#808080').toColourspace('b-w').jpeg().toBuffer();
      const { result } = await analyzeImage(grey, opts);
      expect(result).toMatchObject({ format: 'jpeg', color_space: 'b-w' });
      expect(channelClose(result.dominant_color, '#808080', 2)).toBe(true);
    });

    it('animated GIF and WebP: first frame analysed, frame count reported', async () => {
      for (const [format, image] of [
        [
          'gif',
          await sharp(await frames(), { join: { animated: true } })
            .gif()
            .toBuffer(),
        ],
        [
          'webp',
          await sharp(await frames(), { join: { animated: true } })
            .webp({ lossless: true })
            .toBuffer(),
        ],
      ] as const) {
        const { result, thumbnail } = await analyzeImage(image, opts);
        expect(result, format).toMatchObject({ format, width: 60, height: 40, frames: 3, dominant_color: '#ff0000' });
        expect((await sharp(thumbnail).metadata()).height).toBe(40);
      }
    });

    it('multi-page TIFF (ImageMagick): first page analysed, page count reported', async () => {
      // Page 1 the red frame, page 2 a green copy of it.
      const [red] = await frames();
      const tiff = await imageMagickConvert(red, 'png', 'tif', [
        '{in}',
        '(',
        '{in}',
        '-fill',
        '#00ff00',
        '-colorize',
        '100',
        ')',
        '-compress',
        'lzw',
        '{out}',
      ]);
      const { result } = await analyzeImage(tiff, opts);
      expect(result).toMatchObject({ format: 'tiff', width: 60, height: 40, frames: 2, dominant_color: '#ff0000' });
    });

    it('AVIF (libvips/aom)', async () => {
      const { result } = await analyzeImage(await solid(64, 48, '#3366cc').avif({ quality: 80 }).toBuffer(), opts);
      expect(result).toMatchObject({ format: 'avif', width: 64, height: 48 });
      expect(channelClose(result.dominant_color, '#3366cc', 8), result.dominant_color).toBe(true);
    });
  });
});

/** Two frames: red, then green (a multi-page TIFF from ImageMagick). */
async function twoPageTiff(): Promise<Buffer> {
  const [red] = await frames();
  return imageMagickConvert(red, 'png', 'tif', [
    '{in}',
    '(',
    '{in}',
    '-fill',
    '#00ff00',
    '-colorize',
    '100',
    ')',
    '{out}',
  ]);
}

/** The centre pixel of an image, sRGB 8-bit. */
async function centre(image: Buffer): Promise<number[]> {
  const { data, info } = await sharp(image)
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const at = (Math.floor(info.height / 2) * info.width + Math.floor(info.width / 2)) * info.channels;
  return Array.from(data.subarray(at, at + 3));
}

const near = (a: number[], b: number[], tol: number) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

/**
 * What every preview must be: the original's bytes when it displays as is, else a WebP whose long
 * edge is min(2048, the displayed long edge), shaped like the displayed size (and the thumbnail),
 * 8-bit sRGB with no profile left to interpret.
 */
async function expectPreview(input: Buffer, analysis: Analysis, original: boolean, label: string): Promise<Buffer> {
  const { result, thumbnail, preview } = analysis;
  expect(preview === 'original', `${label}: preview is the original`).toBe(original);
  // The analysis' displayed size is what intake reports for the same bytes.
  expect(readImageHeader(input, opts.maxPixels), `${label}: intake size`).toEqual({
    width: result.oriented_width,
    height: result.oriented_height,
  });
  if (preview === 'original') return input;
  const meta = await sharp(preview).metadata();
  const thumb = await sharp(thumbnail).metadata();
  const long = Math.max(result.oriented_width, result.oriented_height);
  expect(meta.format, label).toBe('webp');
  expect(Math.max(meta.width!, meta.height!), `${label}: long edge`).toBe(Math.min(2048, long));
  expect(
    Math.abs(meta.width! / meta.height! - result.oriented_width / result.oriented_height),
    `${label}: shape`,
  ).toBeLessThan(0.01);
  expect(meta.width! >= meta.height!, `${label}: like the thumbnail`).toBe(thumb.width! >= thumb.height!);
  expect([meta.space, meta.hasProfile ?? false, meta.pages ?? 1], `${label}: sRGB, one frame`).toEqual([
    'srgb',
    false,
    1,
  ]);
  return preview;
}

describe.skipIf(skipWithout('heifEnc', 'exiftool', 'imageMagick'))('the preview of every format (analyzer)', () => {
  let quadJpeg: Buffer;
  let heic: Buffer;
  beforeAll(async () => {
    quadJpeg = await quadrants().jpeg({ quality: 95 }).toBuffer();
    heic = await heifEnc(quadJpeg, 90);
  });

  it('a small 8-bit sRGB JPEG, PNG or WebP (no profile, or an sRGB one) is its own preview', async () => {
    for (const [label, file] of [
      ['jpeg', quadJpeg],
      ['jpeg with an sRGB profile', await quadrants().withIccProfile('srgb').jpeg().toBuffer()],
      ['png', await quadrants().png().toBuffer()],
      ['png with alpha', await solid(50, 50, '#00ff00', 4).png().toBuffer()],
      ['webp', await quadrants().webp().toBuffer()],
      ['jpeg 2048 px', await solid(2048, 1000, '#336699').jpeg().toBuffer()],
    ] as const) {
      await expectPreview(file, await analyzeImage(file, opts), true, label);
    }
  });

  it('JPEG with EXIF orientation 6: an upright WebP (corners as the EXIF spec says)', async () => {
    const jpeg = await exiftool(quadJpeg, 'jpg', ['-Orientation#=6']);
    const preview = await expectPreview(jpeg, await analyzeImage(jpeg, opts), false, 'jpeg o6');
    expect((await sharp(preview).metadata()).width).toBe(200);
    expectColours(await corners(preview), UPRIGHT[6]);
  });

  it('PNG, WebP and TIFF with EXIF orientation 6 are upright too, and measured so at intake', async () => {
    for (const [ext, file] of [
      ['png', await quadrants().png().toBuffer()],
      ['webp', await quadrants().webp({ lossless: true }).toBuffer()],
      ['tif', await quadrants().tiff().toBuffer()],
    ] as const) {
      const tagged = await exiftool(file, ext, ['-Orientation#=6']);
      const analysis = await analyzeImage(tagged, opts);
      expect(analysis.result, ext).toMatchObject({ orientation: 6, oriented_width: 200, oriented_height: 400 });
      expectColours(await corners(await expectPreview(tagged, analysis, false, ext)), UPRIGHT[6]);
    }
  });

  it('larger than 2048 px: scaled to a 2048 px long edge, never enlarged', async () => {
    const big = await sharp(photoSvg(3000, 2000)).jpeg({ quality: 85 }).toBuffer();
    const preview = await expectPreview(big, await analyzeImage(big, opts), false, 'big');
    expect([(await sharp(preview).metadata()).width, (await sharp(preview).metadata()).height]).toEqual([2048, 1365]);
  });

  it('wide gamut to sRGB: a Display P3 JPEG and P3 HEICs (ICC or nclx colr) come out as the sRGB colour', async () => {
    // sRGB #ff3000 stored as Display P3 values (≈ #ea3a1e): shown untagged it would look dull.
    const p3Jpeg = await solid(64, 48, '#ff3000').withIccProfile('p3').jpeg({ quality: 95 }).toBuffer();
    for (const [label, file] of [
      ['p3 jpeg', p3Jpeg],
      ['p3 heic', await heifEnc(p3Jpeg, 95)],
    ] as const) {
      const preview = await expectPreview(file, await analyzeImage(file, opts), false, label);
      const got = await centre(preview);
      expect(near(got, [255, 48, 0], 12), `${label}: ${got}`).toBe(true);
    }
    // Display P3 declared by nclx primaries (12) instead of an ICC profile, as newer phones write it.
    const p3Values = await sharp(p3Jpeg).keepIccProfile().raw().toBuffer({ resolveWithObject: true });
    const untagged = await sharp(p3Values.data, { raw: p3Values.info }).png().toBuffer();
    const nclxP3 = withHeifTransforms(await heifEnc(untagged, 95), [
      { nclx: { primaries: 12, transfer: 13, matrix: 6 } },
    ]);
    expect((await decodeHeic(nclxP3, opts.maxPixels)).colour).toEqual({ primaries: 12 });
    const fromNclx = await centre(await expectPreview(nclxP3, await analyzeImage(nclxP3, opts), false, 'nclx p3'));
    expect(near(fromNclx, [255, 48, 0], 12), `nclx p3: ${fromNclx}`).toBe(true);
    // The same values declared BT.709/sRGB primaries are left as they are.
    const asSrgb = withHeifTransforms(await heifEnc(untagged, 95), [
      { nclx: { primaries: 1, transfer: 13, matrix: 6 } },
    ]);
    expect((await decodeHeic(asSrgb, opts.maxPixels)).colour).toEqual({ primaries: 1 });
    const kept = await centre(await expectPreview(asSrgb, await analyzeImage(asSrgb, opts), false, 'nclx srgb'));
    expect(near(kept, Array.from(p3Values.data.subarray(0, 3)), 8), `nclx srgb: ${kept}`).toBe(true);

    // What libheif hands over is still in P3 (the conversion above is the preview's work).
    const raw = Array.from((await decodeHeic(await heifEnc(p3Jpeg, 95), opts.maxPixels)).data.subarray(0, 3));
    expect(near(raw, [255, 48, 0], 12), `decoded HEIC pixels: ${raw}`).toBe(false);
  });

  it('CMYK, greyscale and 16-bit originals become 8-bit sRGB WebPs of the same colour', async () => {
    const cmyk = await imageMagickConvert(await solid(120, 80, '#3366cc').png().toBuffer(), 'png', 'jpg', [
      '{in}',
      '-colorspace',
      'CMYK',
      '{out}',
    ]);
    const cmykPreview = await expectPreview(cmyk, await analyzeImage(cmyk, opts), false, 'cmyk');
    const c = await centre(cmykPreview);
    expect(c[2] > c[1] && c[1] > c[0], `cmyk → ${c}`).toBe(true);
    const grey = await solid(100, 80, '#808080').toColourspace('b-w').jpeg().toBuffer();
    expect(
      near(await centre(await expectPreview(grey, await analyzeImage(grey, opts), false, 'grey')), [128, 128, 128], 3),
    ).toBe(true);
    const png16 = await solid(64, 48, '#3366cc').toColourspace('rgb16').png().toBuffer();
    expect(
      near(
        await centre(await expectPreview(png16, await analyzeImage(png16, opts), false, 'png16')),
        [0x33, 0x66, 0xcc],
        4,
      ),
    ).toBe(true);
  });

  it('animated GIF and WebP, multi-page TIFF and an APNG: the first frame, as a still WebP', async () => {
    const apng = await quadrants().png().toBuffer();
    // An acTL chunk before IDAT makes it an APNG to a browser (libvips reads the default image only).
    const actl = Buffer.alloc(20);
    actl.writeUInt32BE(8, 0);
    actl.write('acTL', 4, 'latin1');
    actl.writeUInt32BE(1, 8);
    actl.writeUInt32BE(crc32(actl.subarray(4, 16)), 16);
    const animatedPng = Buffer.concat([apng.subarray(0, 33), actl, apng.subarray(33)]);
    for (const [label, file, colour] of [
      [
        'gif',
        await sharp(await frames(), { join: { animated: true } })
          .gif()
          .toBuffer(),
        R,
      ],
      [
        'webp',
        await sharp(await frames(), { join: { animated: true } })
          .webp({ lossless: true })
          .toBuffer(),
        R,
      ],
      ['tiff', await twoPageTiff(), R],
    ] as const) {
      const preview = await expectPreview(file, await analyzeImage(file, opts), false, label);
      expect(near(await centre(preview), colour, 8), label).toBe(true);
    }
    const preview = await expectPreview(animatedPng, await analyzeImage(animatedPng, opts), false, 'apng');
    expectColours(await corners(preview), UPRIGHT[1]);
  });

  it('HEIC: upright (irot/imir, all 8 orientations), 10-bit, with alpha', async () => {
    for (let o = 1; o <= 8; o++) {
      const file = withHeifTransforms(heic, HEIF_FOR[o]);
      expectColours(
        await corners(await expectPreview(file, await analyzeImage(file, opts), false, `heic o${o}`)),
        UPRIGHT[o],
      );
    }
    const tenBit = await heifEnc(await solid(64, 48, '#3366cc').toColourspace('rgb16').png().toBuffer(), 90, [
      '-b',
      '10',
    ]);
    expect(
      near(
        await centre(await expectPreview(tenBit, await analyzeImage(tenBit, opts), false, '10-bit')),
        [0x33, 0x66, 0xcc],
        6,
      ),
    ).toBe(true);
    // Left half opaque green, right half transparent.
    const rgba = Buffer.alloc(40 * 30 * 4);
    for (let y = 0; y < 30; y++) for (let x = 0; x < 20; x++) rgba.set([0, 255, 0, 255], (y * 40 + x) * 4);
    const alpha = await heifEnc(
      await sharp(rgba, { raw: { width: 40, height: 30, channels: 4 } })
        .png()
        .toBuffer(),
      90,
    );
    const withAlpha = await expectPreview(alpha, await analyzeImage(alpha, opts), false, 'alpha');
    expect((await sharp(withAlpha).metadata()).hasAlpha).toBe(true);
  });
});

describe.skipIf(skipWithout('heifEnc'))('displayed size: intake, analysis and preview agree', () => {
  const blue = (w: number, h: number) => solid(w, h, '#336699').jpeg({ quality: 90 }).toBuffer();

  it('heif-enc of a 720×477 photo (a 1×1 grid over a 720×478 tile): 720×477 everywhere', async () => {
    const file = await heifEnc(await blue(720, 477), 80);
    const analysis = await analyzeImage(file, opts);
    expect(analysis.result).toMatchObject({ width: 720, height: 477, oriented_width: 720, oriented_height: 477 });
    const preview = await expectPreview(file, analysis, false, 'grid');
    expect([(await sharp(preview).metadata()).width, (await sharp(preview).metadata()).height]).toEqual([720, 477]);
  });

  it('a clean aperture (clap) crops the coded 720×478 to 720×477, before a quarter turn (irot)', async () => {
    const coded = await heifEnc(await blue(720, 478), 80);
    const clap = { clap: { width: 720, height: 477, coded: [720, 478] as [number, number] } };
    for (const [label, transforms, shown] of [
      ['clap', [clap], [720, 477]],
      ['clap + irot', [clap, { irot: 3 as const }], [477, 720]],
    ] as const) {
      const file = withHeifTransforms(coded, [...transforms]);
      const analysis = await analyzeImage(file, opts);
      // Stored size is the coded one; the displayed size is the crop's, turned.
      expect(analysis.result, label).toMatchObject({
        width: 720,
        height: 478,
        oriented_width: shown[0],
        oriented_height: shown[1],
      });
      const preview = await expectPreview(file, analysis, false, label);
      const meta = await sharp(preview).metadata();
      expect([meta.width, meta.height], label).toEqual([...shown]);
    }
  });

  it('the pixel limit counts the coded size, not the crop (a clap over a larger image costs the larger image)', async () => {
    const coded = await heifEnc(await blue(720, 478), 80);
    // 700×460 = 322,000 shown, 720×478 = 344,160 decoded.
    const file = withHeifTransforms(coded, [{ clap: { width: 700, height: 460, coded: [720, 478] } }]);
    expect(() => readImageHeader(file, 330_000)).toThrow(/720×478 pixels, over the limit of 330000/);
    const err = await analyzeImage(file, { maxPixels: 330_000 }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('Image is 720×478 pixels, over the 330000 pixel limit.');
    expect((await analyzeImage(file, opts)).result).toMatchObject({ oriented_width: 700, oriented_height: 460 });
  });
});

interface Fixture {
  name: string;
  file: () => Promise<Buffer>;
  expect: Partial<AnalysisResult> & Record<string, unknown>;
  colour?: [string, number];
  check?: (result: AnalysisResult) => boolean;
  /** The original is its own preview (a small 8-bit sRGB JPEG/PNG/WebP, upright, one frame). */
  original?: true;
}

describe.skipIf(!servicesUp() || skipWithout('heifEnc', 'exiftool', 'imageMagick'))(
  'upload → analysis for every format (API + worker)',
  () => {
    let stack: TestStack;
    let alice: Session;

    beforeAll(async () => {
      stack = await startStack('formats', { WORKER_CONCURRENCY: '2' }, { worker: true });
      alice = await register(stack.api, 'alice');
    });
    afterAll(() => stack?.close());

    const camera = () =>
      quadrants()
        .jpeg({ quality: 92 })
        .toBuffer()
        .then((j: Buffer) => exiftool(j, 'jpg', ['-Orientation#=6', ...CAMERA_TAGS]));
    const exifExpect = {
      make: 'Apple',
      model: 'iPhone 15 Pro',
      taken_at: '2024-07-14T18:30:05+02:00',
      gps: true as const,
    };
    const fixtures: Fixture[] = [
      {
        name: 'iPhone-style HEIC (irot + EXIF)',
        file: async () => withHeifTransforms(await heifEnc(await camera(), 80), HEIF_FOR[6]),
        expect: {
          format: 'heic',
          width: 400,
          height: 200,
          orientation: 6,
          oriented_width: 200,
          oriented_height: 400,
          frames: 1,
          exif: exifExpect,
        },
      },
      {
        name: 'solid HEIC',
        file: async () => heifEnc(await solid(300, 200, '#3366cc').png().toBuffer(), 90),
        expect: { format: 'heic', oriented_width: 300 },
        colour: ['#3366cc', 6],
      },
      {
        name: 'camera JPEG (exiftool)',
        file: camera,
        expect: { format: 'jpeg', orientation: 6, oriented_width: 200, oriented_height: 400, exif: exifExpect },
      },
      {
        name: 'CMYK JPEG (ImageMagick)',
        file: async () =>
          imageMagickConvert(await solid(120, 80, '#3366cc').png().toBuffer(), 'png', 'jpg', [
            '{in}',
            '-colorspace',
            'CMYK',
            '{out}',
          ]),
        expect: { format: 'jpeg', color_space: 'cmyk', oriented_width: 120 },
        check: (r) => blueDominant(r.dominant_color),
      },
      {
        name: 'grayscale JPEG',
        file: () => solid(90, 60, '#808080').toColourspace('b-w').jpeg().toBuffer(),
        expect: { format: 'jpeg', color_space: 'b-w' },
        colour: ['#808080', 2],
      },
      {
        name: '16-bit PNG',
        file: () => solid(64, 64, '#808080').toColourspace('rgb16').png().toBuffer(),
        expect: { format: 'png', bit_depth: 16 },
        colour: ['#808080', 1],
      },
      {
        name: 'PNG with alpha',
        file: () => solid(50, 50, '#00ff00', 4).png().toBuffer(),
        expect: { format: 'png', has_alpha: true },
        colour: ['#00ff00', 0],
        original: true,
      },
      {
        name: 'animated GIF',
        file: async () =>
          sharp(await frames(), { join: { animated: true } })
            .gif()
            .toBuffer(),
        expect: { format: 'gif', frames: 3, oriented_height: 40 },
        colour: ['#ff0000', 0],
      },
      {
        name: 'animated WebP',
        file: async () =>
          sharp(await frames(), { join: { animated: true } })
            .webp({ lossless: true })
            .toBuffer(),
        expect: { format: 'webp', frames: 3 },
        colour: ['#ff0000', 0],
      },
      {
        name: 'multi-page TIFF (ImageMagick)',
        file: async () =>
          imageMagickConvert((await frames())[0], 'png', 'tif', [
            '{in}',
            '(',
            '{in}',
            '-fill',
            '#00ff00',
            '-colorize',
            '100',
            ')',
            '{out}',
          ]),
        expect: { format: 'tiff', frames: 2 },
        colour: ['#ff0000', 0],
      },
      {
        name: 'AVIF',
        file: () => solid(64, 48, '#3366cc').avif({ quality: 80 }).toBuffer(),
        expect: { format: 'avif', oriented_width: 64 },
        colour: ['#3366cc', 8],
      },
      {
        name: '10-bit HEIC',
        file: async () =>
          heifEnc(await solid(64, 48, '#3366cc').toColourspace('rgb16').png().toBuffer(), 90, ['-b', '10']),
        expect: { format: 'heic', bit_depth: 10, oriented_width: 64 },
        colour: ['#3366cc', 6],
      },
      {
        name: 'HEIC cropped (clap 720×477 of 720×478) and turned (irot)',
        file: async () =>
          withHeifTransforms(await heifEnc(await solid(720, 478, '#336699').jpeg().toBuffer(), 80), [
            { clap: { width: 720, height: 477, coded: [720, 478] } },
            { irot: 3 },
          ]),
        expect: { format: 'heic', width: 720, height: 478, oriented_width: 477, oriented_height: 720 },
      },
      {
        name: 'heif-enc 720×477 (1×1 grid over a 720×478 tile)',
        file: async () => heifEnc(await solid(720, 477, '#336699').jpeg().toBuffer(), 80),
        expect: { format: 'heic', oriented_width: 720, oriented_height: 477 },
      },
      {
        name: 'small sRGB JPEG',
        file: () => quadrants().jpeg({ quality: 90 }).toBuffer(),
        expect: { format: 'jpeg', orientation: 1, oriented_width: 400 },
        original: true,
      },
      {
        name: 'still WebP',
        file: () => solid(80, 60, '#3366cc').webp().toBuffer(),
        expect: { format: 'webp', frames: 1 },
        original: true,
      },
      {
        name: 'JPEG over 2048 px',
        file: () => sharp(photoSvg(3000, 2000)).jpeg({ quality: 80 }).toBuffer(),
        expect: { format: 'jpeg', oriented_width: 3000, oriented_height: 2000 },
      },
    ];

    it(
      'each fixture completes with the expected result, a thumbnail and a preview that decode, and one displayed size',
      { timeout: 180_000 },
      async () => {
        const api = stack.api;
        const uploaded = [];
        for (const f of fixtures) {
          const form = multipart([{ name: 'file', filename: 'x', data: await f.file() }]);
          const res = await api.inject({
            method: 'POST',
            url: '/api/uploads',
            headers: { ...alice.auth, ...form.headers },
            payload: form.payload,
          });
          expect(res.statusCode, `${f.name}: ${res.body}`).toBe(201);
          uploaded.push({ f, up: res.json() });
        }
        for (const { f, up } of uploaded) {
          const done = await waitFor(
            async () => {
              const a = (
                await api.inject({ method: 'GET', url: `/api/visual-analysis/${up.analysis.id}`, headers: alice.auth })
              ).json();
              return a.status === 'completed' || a.status === 'failed' ? a : undefined;
            },
            30_000,
            f.name,
          );
          expect(done.status, `${f.name}: ${done.error}`).toBe('completed');
          expect(done.result, f.name).toMatchObject(f.expect);
          if (f.check) expect(f.check(done.result), `${f.name}: ${done.result.dominant_color}`).toBe(true);
          if (f.colour)
            expect(
              channelClose(done.result.dominant_color, f.colour[0], f.colour[1]),
              `${f.name}: ${done.result.dominant_color}`,
            ).toBe(true);
          const thumb = await api.inject({
            method: 'GET',
            url: `/api/uploads/${up.id}/thumbnail`,
            headers: alice.auth,
          });
          expect(thumb.statusCode, f.name).toBe(200);
          const meta = await sharp(thumb.rawPayload).metadata();
          expect(meta.format, f.name).toBe('webp');
          const long = Math.max(done.result.oriented_width, done.result.oriented_height);
          expect(Math.max(meta.width!, meta.height!), f.name).toBe(Math.min(256, long));
          expect(meta.width! >= meta.height!, f.name).toBe(done.result.oriented_width >= done.result.oriented_height);

          // One displayed size: at intake (the POST's answer), in the analysis, on the upload after it.
          const shown = { width: done.result.oriented_width, height: done.result.oriented_height };
          expect({ width: up.width, height: up.height }, `${f.name}: intake`).toEqual(shown);
          const after = (await api.inject({ method: 'GET', url: `/api/uploads/${up.id}`, headers: alice.auth })).json();
          expect({ width: after.width, height: after.height }, `${f.name}: after analysis`).toEqual(shown);

          // The preview: the original's bytes, or an upright sRGB WebP no larger than 2048 px.
          const preview = await api.inject({ method: 'GET', url: after.preview_url });
          expect(preview.statusCode, f.name).toBe(200);
          const original = await api.inject({ method: 'GET', url: after.file_url });
          if (f.original) {
            expect(preview.headers['content-type'], f.name).toBe(up.content_type);
            expect(preview.rawPayload.equals(original.rawPayload), f.name).toBe(true);
            continue;
          }
          expect(preview.headers['content-type'], f.name).toBe('image/webp');
          const pm = await sharp(preview.rawPayload).metadata();
          expect(pm.format, f.name).toBe('webp');
          expect(Math.max(pm.width!, pm.height!), f.name).toBe(Math.min(2048, long));
          expect(pm.width! >= pm.height!, `${f.name}: upright like the thumbnail`).toBe(meta.width! >= meta.height!);
          expect([pm.space, pm.hasProfile ?? false, pm.pages ?? 1], f.name).toEqual(['srgb', false, 1]);
          if (f.colour) {
            const [r, g, b] = await centre(preview.rawPayload);
            const hex = `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
            expect(channelClose(hex, f.colour[0], f.colour[1] + 4), `${f.name}: preview ${hex}`).toBe(true);
          }
        }
      },
    );
  },
);
