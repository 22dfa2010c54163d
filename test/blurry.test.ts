import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLURRY_BELOW_SHARPNESS } from '@echo/uploads';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { multipart } from './support/images.js';
import { postUpload } from './support/uploads.js';
import { register, type Session } from './support/users.js';
import { waitFor } from './support/wait.js';

/**
 * `blurry=true|false` on real photos (test/fixtures/photos, see its README) through the API and the
 * worker: the threshold chosen by bench/blur-threshold.js puts each photo on the side a person would.
 * Sharp: the lowest-scoring sharp photo of the set (smooth wall), a mostly-sky one, a shallow depth of
 * field one and a portrait. Blurry: a photo shaken as taken, and Gaussian blurs of σ 5 px at 2048 px
 * (what the 256 px metric catches on ordinary scenes; milder blur is not, see the bench).
 */
const PHOTOS = join(import.meta.dirname, 'fixtures/photos');

/** A Gaussian blur of `sigma` px as if the photo were 2048 px on its long edge, as JPEG q85 (like the bench). */
async function blurredAt2048(file: string, sigma: number): Promise<Buffer> {
  const bytes = await readFile(join(PHOTOS, file));
  const { width, height } = await sharp(bytes).metadata();
  const scaled = (sigma * Math.max(width, height)) / 2048;
  // sharp's default minAmplitude truncates the mask: ask for a full one, as the bench does.
  return sharp(bytes).blur({ sigma: scaled, minAmplitude: 0.005, precision: 'float' }).jpeg({ quality: 85 }).toBuffer();
}

interface Case {
  key: string;
  blurry: boolean;
  bytes: () => Promise<Buffer>;
}

const fixture = (file: string) => () => readFile(join(PHOTOS, file));

const CASES: Case[] = [
  { key: 'lamp', blurry: false, bytes: fixture('indoor-lamp.jpg') },
  { key: 'sky', blurry: false, bytes: fixture('sky-bridge.jpg') },
  { key: 'dandelions', blurry: false, bytes: fixture('bokeh-dandelions.jpg') },
  { key: 'astronaut', blurry: false, bytes: fixture('people-astronaut.jpg') },
  { key: 'clock-shaken', blurry: true, bytes: fixture('blurry-clock-motion.jpg') },
  { key: 'lamp-blur5', blurry: true, bytes: () => blurredAt2048('indoor-lamp.jpg', 5) },
  { key: 'sky-blur5', blurry: true, bytes: () => blurredAt2048('sky-bridge.jpg', 5) },
  { key: 'sunset-blur5', blurry: true, bytes: () => blurredAt2048('lowlight-sunset.jpg', 5) },
];

describe.skipIf(!servicesUp())('blurry filter on real photos (API + worker on MariaDB + Redis)', () => {
  let stack: TestStack;
  let alice: Session;
  const ids: Record<string, string> = {};
  const sharpness: Record<string, number> = {};

  beforeAll(async () => {
    stack = await startStack('blurry', {}, { worker: true });
    alice = await register(stack.api, 'blurry');
    for (const c of CASES) {
      const upload = await postUpload(
        stack.api,
        alice,
        multipart([
          { name: 'title', value: c.key },
          { name: 'file', filename: `${c.key}.jpg`, contentType: 'image/jpeg', data: await c.bytes() },
        ]),
      );
      ids[c.key] = upload.id;
    }
    for (const c of CASES) {
      const analysis = await waitFor(
        async () => {
          const res = await stack.api.inject({
            method: 'GET',
            url: `/api/visual-analysis?upload_id=${ids[c.key]}`,
            headers: alice.auth,
          });
          const row = res.json().results?.[0];
          if (row?.status === 'failed') throw new Error(`analysis failed: ${row.error}`);
          return row?.status === 'completed' ? row : undefined;
        },
        60_000,
        `analysis of ${c.key}`,
      );
      sharpness[c.key] = analysis.result.sharpness;
    }
  }, 180_000);

  afterAll(async () => {
    await stack?.close();
  });

  it('each photo’s stored sharpness is on the side of BLURRY_BELOW_SHARPNESS a person would put it', () => {
    const side = Object.fromEntries(
      CASES.map((c) => [c.key, sharpness[c.key] < BLURRY_BELOW_SHARPNESS ? 'blurry' : 'sharp']),
    );
    const expected = Object.fromEntries(CASES.map((c) => [c.key, c.blurry ? 'blurry' : 'sharp']));
    expect(side, JSON.stringify(sharpness)).toEqual(expected);
    // The blur lowered the same photo's score: the filter follows the image, not the scene.
    expect(sharpness['lamp-blur5']).toBeLessThan(sharpness.lamp / 2);
    expect(sharpness['sky-blur5']).toBeLessThan(sharpness.sky / 2);
  });

  it('GET /api/uploads?blurry=true lists exactly the blurred ones, blurry=false exactly the sharp ones', async () => {
    const keyOf = new Map(Object.entries(ids).map(([key, id]) => [id, key]));
    const found = async (query: string) => {
      const res = await stack.api.inject({
        method: 'GET',
        url: `/api/uploads?page_size=100&${query}`,
        headers: alice.auth,
      });
      expect(res.statusCode, res.body).toBe(200);
      return (res.json().results as Array<{ id: string }>).map((u) => keyOf.get(u.id) ?? u.id).sort();
    };
    const keys = (blurry: boolean) =>
      CASES.filter((c) => c.blurry === blurry)
        .map((c) => c.key)
        .sort();
    expect(await found('blurry=true')).toEqual(keys(true));
    expect(await found('blurry=false')).toEqual(keys(false));
  });
});
