import { Readable } from 'node:stream';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalysisDispatcher } from '@echo/visual-analysis';
import { analyzeImage, UnrecoverableImageError } from '../libs/visual-analysis/src/analyzer/index.js';
import { UploadIntake } from '../libs/uploads/src/intake/upload-intake.service.js';
import { startEmbedded, type TestStack } from './support/app.js';
import { animatedWebp, multiPageTiff } from './support/frame-bombs.js';
import { multipart } from './support/images.js';
import { PASSWORD, register, type Session } from './support/users.js';
import { waitFor } from './support/wait.js';

/**
 * Issue 26 §3.1: an animated WebP of many 1×1 frames (libvips walks them in quadratic time) and a
 * TIFF of many pages, both "1×1" by their header. Refused before any decoder; every analysis has a
 * deadline; embedded analyses leave the API its libuv threads.
 */
describe('frame bombs (embedded)', () => {
  let stack: TestStack;
  let alice: Session;

  beforeAll(async () => {
    stack = await startEmbedded('frame-bombs');
    alice = await register(stack.api, 'fb');
  });
  afterAll(() => stack?.close());

  const upload = (data: Buffer, name: string) => {
    const form = multipart([{ name: 'file', filename: name, data }]);
    return stack.api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...alice.auth, ...form.headers },
      payload: form.payload,
    });
  };
  const analysisOf = async (uploadId: string) =>
    (await stack.api.inject({ method: 'GET', url: `/api/uploads/${uploadId}`, headers: alice.auth })).json().analysis;

  it('refuses a WebP of 128,000 1×1 frames (6 MB) at intake with a 422, before storing or decoding it', async () => {
    const started = performance.now();
    const res = await upload(animatedWebp(128_000), 'bomb.webp');
    const ms = performance.now() - started;
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toEqual({ detail: 'The image has more than 1000 frames or pages; the limit is 1000.' });
    console.log(`128,000-frame WebP refused in ${ms.toFixed(0)} ms`);
    const list = await stack.api.inject({ method: 'GET', url: '/api/uploads', headers: alice.auth });
    expect(list.json().count).toBe(0);
  });

  it('refuses a TIFF of 150,000 pages at intake, in either byte order', async () => {
    for (const bigEndian of [false, true]) {
      const res = await upload(multiPageTiff(150_000, { bigEndian }), 'pages.tif');
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json().detail).toMatch(/more than 1000 frames or pages/);
    }
  });

  it('accepts an animation under the limit, and analyses it', async () => {
    const res = await upload(animatedWebp(1000), 'ok.webp');
    expect(res.statusCode, res.body).toBe(201);
    await waitFor(async () => (await analysisOf(res.json().id))?.status === 'completed');
  });

  it('a TIFF that got past intake (IFDs pointing backwards) fails its analysis with the reason, at once', async () => {
    // Intake's count follows IFD pointers only within the chunk at hand; read in 64 KiB chunks (as a
    // finished tus upload is), a chain that runs backwards gets through, and the analyzer refuses it.
    const tiff = multiPageTiff(2000, { reversed: true }); // 204 KB: its first IFD (last in the file) in the header bytes
    const chunks = Array.from({ length: Math.ceil(tiff.length / 65536) }, (_, i) =>
      tiff.subarray(i * 65536, (i + 1) * 65536),
    );
    const { body } = await stack.api.get(UploadIntake).ingest(alice.id, Readable.from(chunks), 'back.tif', '');
    const failed = await waitFor(async () => {
      const a = await analysisOf(body.id);
      return a?.status === 'failed' && a;
    }, 10_000);
    const full = await stack.api.inject({
      method: 'GET',
      url: `/api/visual-analysis/${failed.id}`,
      headers: alice.auth,
    });
    expect(full.json().error).toBe('The image has more than 1000 frames or pages; the limit is 1000.');
  });

  it('the analyzer refuses a frame bomb before decoding, whoever calls it', async () => {
    const started = performance.now();
    const err = await analyzeImage(animatedWebp(128_000), { maxPixels: 50_000_000, maxFrames: 1000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ reason: 'too_many_frames' });
    console.log(`analyzer refused the 128,000-frame WebP in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it('an analysis past its deadline fails with a reason (the analyzer stops it)', async () => {
    const slow = await sharp({ create: { width: 7000, height: 7000, channels: 3, background: '#336699' } })
      .png({ progressive: true }) // interlaced: decoded whole, ~1.5–2 s here
      .toBuffer();
    const err = await analyzeImage(slow, { maxPixels: 50_000_000, timeoutSeconds: 0.1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableImageError);
    expect(err).toMatchObject({ reason: 'timeout', message: expect.stringMatching(/took longer than 0.1 s/) });
  });

  it('a login answers while heavy analyses run: embedded mode runs one at a time', async () => {
    const dispatcher = stack.api.get(AnalysisDispatcher);
    const ids: string[] = [];
    for (const colour of ['#112233', '#445566', '#778899', '#aabbcc']) {
      const png = await sharp({ create: { width: 5000, height: 5000, channels: 3, background: colour } })
        .png({ progressive: true })
        .toBuffer();
      const res = await upload(png, 'heavy.png');
      expect(res.statusCode, res.body).toBe(201);
      ids.push(res.json().id);
    }
    let peak = 0;
    const sample = setInterval(() => {
      void dispatcher.counts().then((c) => (peak = Math.max(peak, Object.values(c)[0].active)));
    }, 20);
    try {
      const started = performance.now();
      const login = await stack.api.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: alice.username, password: PASSWORD },
      });
      console.log(`login during 4 heavy analyses: ${(performance.now() - started).toFixed(0)} ms`);
      expect(login.statusCode, login.body).toBe(200);
      for (const id of ids) await waitFor(async () => (await analysisOf(id))?.status === 'completed', 30_000);
    } finally {
      clearInterval(sample);
    }
    expect(peak).toBe(1);
  });
});
