import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { STORAGE, type StorageDriver } from '@echo/storage';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { register, registerAdmin, type Session } from './support/users.js';
import { cameraJpeg, multipart, noisePng, solidPng } from './support/images.js';
import { waitFor } from './support/wait.js';
import { createWorkerApp } from '../apps/worker/src/create-worker-app.js';
import { postUpload } from './support/uploads.js';

const ANALYSIS_KEYS = [
  'analyzer_version',
  'attempts',
  'completed_at',
  'created_at',
  'error',
  'id',
  'progress',
  'result',
  'started_at',
  'status',
  'upload_id',
];
const RESULT_KEYS = [
  'bit_depth',
  'brightness',
  'color_space',
  'contrast',
  'dominant_color',
  'entropy',
  'exif',
  'format',
  'frames',
  'has_alpha',
  'height',
  'near_duplicates',
  'orientation',
  'oriented_height',
  'oriented_width',
  'palette',
  'phash',
  'placeholder',
  'sharpness',
  'size',
  'thumbnail',
  'width',
];

/** A photo-like image: gradient plus shapes, deterministic per seed. */
function photo(width: number, height: number, seed = 1): Promise<Buffer> {
  const svg = `<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#203040"/><stop offset="1" stop-color="#e0c090"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${(width * (0.2 + 0.1 * seed)) % width}" cy="${height * 0.4}" r="${height / 5}" fill="#c03030"/>
    <rect x="${width * 0.55}" y="${height * 0.5}" width="${width / 4}" height="${height / 3}" fill="#30a060"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 88 }).toBuffer();
}

describe.skipIf(!servicesUp())('visual analysis (API + worker on MariaDB + Redis)', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let db: DataSource;
  let alice: Session;

  const upload = async (s: Session, data: Buffer, filename = 'a.png') => {
    const form = multipart([{ name: 'file', filename, data }]);
    return postUpload(api, s, form);
  };
  const analysis = async (s: Session, id: string) =>
    (await api.inject({ method: 'GET', url: `/api/visual-analysis/${id}`, headers: s.auth })).json();
  const settled = (s: Session, id: string, timeout = 20_000) =>
    waitFor(
      async () => {
        const a = await analysis(s, id);
        return a.status === 'completed' || a.status === 'failed' ? a : undefined;
      },
      timeout,
      `analysis ${id}`,
    );

  beforeAll(async () => {
    stack = await startStack('analysis', { WORKER_CONCURRENCY: '2' }, { worker: true });
    api = stack.api;
    db = api.get(DataSource);
    alice = await register(api, 'alice');
  });
  afterAll(() => stack?.close());

  it('an upload gets a queued analysis in the same transaction, completed by the worker with the right values', async () => {
    const up = await upload(alice, await solidPng(300, 200, '#ff0000'));
    expect(up.analysis).toEqual({
      id: expect.any(String),
      status: expect.stringMatching(/queued|processing|completed/),
    });
    const done = await settled(alice, up.analysis.id);
    expect(Object.keys(done).sort()).toEqual(ANALYSIS_KEYS);
    expect(done).toMatchObject({
      upload_id: up.id,
      status: 'completed',
      progress: 100,
      attempts: 1,
      error: null,
      analyzer_version: '1.1.0',
    });
    expect(Object.keys(done.result).sort()).toEqual(RESULT_KEYS);
    expect(done.result).toMatchObject({
      format: 'png',
      width: 300,
      height: 200,
      orientation: 1,
      oriented_width: 300,
      oriented_height: 200,
      has_alpha: false,
      dominant_color: '#ff0000',
      exif: {},
      thumbnail: true,
      near_duplicates: [],
    });
    expect(done.result.palette[0]).toBe('#ff0000');
    expect(done.result.contrast).toBeCloseTo(0, 3);
    expect(done.result.phash).toMatch(/^[0-9a-f]{16}$/);
    expect(new Date(done.completed_at).getTime()).toBeGreaterThanOrEqual(new Date(done.started_at).getTime());

    const item = (await api.inject({ method: 'GET', url: `/api/uploads/${up.id}`, headers: alice.auth })).json();
    expect(item.analysis).toEqual({ id: done.id, status: 'completed' });

    const thumb = await api.inject({ method: 'GET', url: `/api/uploads/${up.id}/thumbnail`, headers: alice.auth });
    expect(thumb.statusCode).toBe(200);
    expect(thumb.headers['content-type']).toBe('image/webp');
    const meta = await sharp(thumb.rawPayload).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 256, 171]);
  });

  it('reads EXIF orientation and camera fields from a camera JPEG', async () => {
    const up = await upload(alice, await cameraJpeg(400, 200, 6), 'IMG_1.JPG');
    const done = await settled(alice, up.analysis.id);
    expect(done.result).toMatchObject({
      format: 'jpeg',
      orientation: 6,
      oriented_width: 200,
      oriented_height: 400,
      exif: { make: 'Echo', model: 'TestCam' },
    });
  });

  it('finds a resized copy as a near-duplicate of the original', async () => {
    const original = await upload(alice, await photo(1024, 768), 'orig.jpg');
    await settled(alice, original.analysis.id);
    const copy = await upload(
      alice,
      await sharp(await photo(1024, 768))
        .resize(512, 384)
        .jpeg({ quality: 70 })
        .toBuffer(),
      'small.jpg',
    );
    const done = await settled(alice, copy.analysis.id);
    expect(done.result.near_duplicates).toContain(original.id);
    const other = await upload(alice, await noisePng(64, 64), 'noise.png');
    expect((await settled(alice, other.analysis.id)).result.near_duplicates).not.toContain(original.id);
  });

  it('a corrupt image fails at once with a readable reason, no retry', async () => {
    const valid = await photo(800, 600, 3);
    const corrupt = valid.subarray(0, Math.floor(valid.length * 0.6)); // header intact, data cut off
    const up = await upload(alice, corrupt, 'broken.jpg');
    const done = await settled(alice, up.analysis.id);
    expect(done.status).toBe('failed');
    expect(done.attempts).toBe(1);
    expect(done.error).toMatch(/could not be decoded/);
    expect(done.result).toBeNull();
  });

  it('a transient failure is retried and then completes', async () => {
    const storage = stack.worker!.get<StorageDriver>(STORAGE);
    const spy = vi
      .spyOn(storage, 'get')
      .mockRejectedValueOnce(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    try {
      const up = await upload(alice, await solidPng(50, 60, '#00ff00'));
      const done = await settled(alice, up.analysis.id, 30_000);
      expect(done).toMatchObject({ status: 'completed', attempts: 2, error: null });
      expect(done.result.dominant_color).toBe('#00ff00');
    } finally {
      spy.mockRestore();
    }
  });

  describe('API rules', () => {
    let bob: Session;
    let mine: { id: string; analysis: { id: string } };
    beforeAll(async () => {
      bob = await register(api, 'bob');
      mine = await upload(alice, await solidPng(33, 33, '#123123'));
      await settled(alice, mine.analysis.id);
    });

    it("another user's analysis id is 404", async () => {
      const res = await api.inject({
        method: 'GET',
        url: `/api/visual-analysis/${mine.analysis.id}`,
        headers: bob.auth,
      });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ detail: 'Not found.' });
    });

    it('a bad upload_id is 400 naming the field', async () => {
      for (const upload_id of ['not-a-uuid', '00000000-0000-4000-8000-000000000000', mine.id]) {
        const res = await api.inject({
          method: 'POST',
          url: '/api/visual-analysis',
          headers: bob.auth,
          payload: { upload_id },
        });
        expect(res.statusCode, upload_id).toBe(400);
        expect(res.json()).toHaveProperty('upload_id');
      }
      const missing = await api.inject({ method: 'POST', url: '/api/visual-analysis', headers: bob.auth, payload: {} });
      expect(missing.statusCode).toBe(400);
    });

    it('POST re-analyses (202); while one is pending the same one comes back', async () => {
      const first = await api.inject({
        method: 'POST',
        url: '/api/visual-analysis',
        headers: alice.auth,
        payload: { upload_id: mine.id },
      });
      expect(first.statusCode).toBe(202);
      expect(first.json()).toMatchObject({ upload_id: mine.id, status: 'queued', attempts: 0 });
      const second = await api.inject({
        method: 'POST',
        url: '/api/visual-analysis',
        headers: alice.auth,
        payload: { upload_id: mine.id },
      });
      const firstId = first.json().id;
      if (second.json().status !== 'completed') expect([firstId]).toContain(second.json().id);
      const done = await settled(alice, firstId);
      expect(done.status).toBe('completed');
      // The upload item shows its latest analysis.
      const item = (await api.inject({ method: 'GET', url: `/api/uploads/${mine.id}`, headers: alice.auth })).json();
      expect(item.analysis.id).toBe(firstId);
    });

    it('lists own analyses, paginated, filtered by status and upload_id', async () => {
      const res = await api.inject({
        method: 'GET',
        url: `/api/visual-analysis?upload_id=${mine.id}`,
        headers: alice.auth,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.count).toBe(2);
      expect(body.results.every((a: { upload_id: string }) => a.upload_id === mine.id)).toBe(true);
      const failed = await api.inject({
        method: 'GET',
        url: '/api/visual-analysis?status=failed',
        headers: alice.auth,
      });
      expect(failed.json().results.every((a: { status: string }) => a.status === 'failed')).toBe(true);
      const bobs = await api.inject({ method: 'GET', url: '/api/visual-analysis', headers: bob.auth });
      expect(bobs.json().count).toBe(0);
      const bad = await api.inject({ method: 'GET', url: '/api/visual-analysis?status=done', headers: alice.auth });
      expect(bad.statusCode).toBe(400);
    });

    it('serves a completed result from the cache', async () => {
      await analysis(alice, mine.analysis.id);
      await db.query('UPDATE visual_analysis_results SET progress = 42 WHERE id = ?', [mine.analysis.id]);
      expect((await analysis(alice, mine.analysis.id)).progress).toBe(100); // immutable once completed: cached
    });
  });

  describe('admin', () => {
    it('shows queue counts and retries a failed analysis', async () => {
      const admin = await registerAdmin(api);
      const counts = await api.inject({ method: 'GET', url: '/api/admin/queues', headers: admin.auth });
      expect(counts.statusCode).toBe(200);
      expect(Object.keys(counts.json()['visual-analysis']).sort()).toEqual([
        'active',
        'completed',
        'delayed',
        'failed',
        'waiting',
      ]);
      expect(counts.json()['visual-analysis'].completed).toBeGreaterThan(0);
      expect((await api.inject({ method: 'GET', url: '/api/admin/queues', headers: alice.auth })).statusCode).toBe(403);

      const valid = await photo(600, 400, 5);
      const up = await upload(alice, valid.subarray(0, Math.floor(valid.length * 0.5)), 'half.jpg');
      const failed = await settled(alice, up.analysis.id);
      expect(failed.status).toBe('failed');
      const retry = await api.inject({
        method: 'POST',
        url: `/api/admin/visual-analysis/${failed.id}/retry`,
        headers: admin.auth,
      });
      expect(retry.statusCode).toBe(202);
      expect(retry.json()).toMatchObject({ id: failed.id, status: 'queued', error: null });
      const again = await settled(alice, failed.id);
      expect(again.status).toBe('failed');
      expect(again.attempts).toBe(2);
      const notFailed = await api.inject({
        method: 'POST',
        url: `/api/admin/visual-analysis/${(await upload(alice, await solidPng(9, 9, '#999999'))).analysis.id}/retry`,
        headers: admin.auth,
      });
      expect([400, 202]).toContain(notFailed.statusCode);
    });
  });

  it('two workers on one queue: each analysis is done exactly once', async () => {
    const second = await createWorkerApp(stack.config, { logger: false });
    try {
      const s = await register(api, 'multi');
      const ups = [];
      for (let i = 0; i < 8; i++)
        ups.push(await upload(s, await solidPng(40 + i, 40, `#${(i * 30).toString(16).padStart(2, '0')}4080`)));
      const done = await Promise.all(ups.map((u) => settled(s, u.analysis.id, 30_000)));
      expect(done.every((a) => a.status === 'completed' && a.attempts === 1)).toBe(true);
    } finally {
      await second.close();
    }
  });
});
