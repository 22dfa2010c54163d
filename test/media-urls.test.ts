import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@echo/config';
import { MediaUrls } from '@echo/uploads';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { register, registerAdmin, type Session } from './support/users.js';
import sharp from 'sharp';
import { cameraJpeg, multipart, solidJpeg, solidPng } from './support/images.js';
import { waitFor } from './support/wait.js';
import { postUpload } from './support/uploads.js';

const TTL = 600;

/** Signed media URLs: what an `<img src>` uses, with no Authorization header. */
describe.skipIf(!servicesUp())('media URLs (MariaDB + Redis + worker)', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let alice: Session;
  let admin: Session;
  let photo: Buffer;
  let up: { id: string; file_url: string; thumbnail_url: string; preview_url: string; sha256: string };

  const upload = async (s: Session, data: Buffer, contentType = 'image/jpeg') => {
    const form = multipart([{ name: 'file', filename: 'x.jpg', contentType, data }]);
    return postUpload(api, s, form);
  };
  const get = (url: string, headers: Record<string, string> = {}) => api.inject({ method: 'GET', url, headers });
  const withParam = (url: string, name: string, value: string) => {
    const u = new URL(url, 'http://x');
    u.searchParams.set(name, value);
    return `${u.pathname}?${u.searchParams}`;
  };

  beforeAll(async () => {
    stack = await startStack('media', { MEDIA_URL_TTL_SECONDS: String(TTL) }, { worker: true });
    api = stack.api;
    alice = await register(api, 'alice');
    admin = await registerAdmin(api);
    photo = await solidJpeg(640, 480, '#884422');
    up = await upload(alice, photo);
  });
  afterAll(() => stack?.close());

  it('upload objects carry signed file_url, thumbnail_url and preview_url', () => {
    expect(up.file_url).toMatch(new RegExp(`^/api/media/uploads/${up.id}/file\\?exp=\\d+&sig=[A-Za-z0-9_-]{43}$`));
    expect(up.thumbnail_url).toMatch(
      new RegExp(`^/api/media/uploads/${up.id}/thumbnail\\?exp=\\d+&sig=[A-Za-z0-9_-]{43}$`),
    );
    expect(up.preview_url).toMatch(
      new RegExp(`^/api/media/uploads/${up.id}/preview\\?exp=\\d+&sig=[A-Za-z0-9_-]{43}$`),
    );
  });

  it('file_url serves the bytes without Authorization, with ETag, Range and a max-age within the expiry', async () => {
    const res = await get(up.file_url);
    expect(res.statusCode, res.body).toBe(200);
    expect(createHash('sha256').update(res.rawPayload).digest('hex')).toBe(up.sha256);
    expect(res.headers['content-type']).toBe('image/jpeg');
    expect(res.headers.etag).toBe(`"${up.sha256}"`);
    const exp = Number(new URL(up.file_url, 'http://x').searchParams.get('exp'));
    const maxAge = Number(/^private, max-age=(\d+)$/.exec(String(res.headers['cache-control']))?.[1]);
    const left = exp - Math.floor(Date.now() / 1000);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(left + 1);

    const part = await get(up.file_url, { range: 'bytes=0-99' });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 0-99/${photo.length}`);
    expect(part.rawPayload.equals(photo.subarray(0, 100))).toBe(true);

    const again = await get(up.file_url, { 'if-none-match': res.headers.etag as string });
    expect(again.statusCode).toBe(304);
  });

  it('thumbnail_url serves the WebP once the analysis made it; 404 before', async () => {
    const thumb = await waitFor(
      async () => {
        const res = await get(up.thumbnail_url);
        expect([200, 404]).toContain(res.statusCode);
        return res.statusCode === 200 ? res : undefined;
      },
      30_000,
      'thumbnail',
    );
    expect(thumb.headers['content-type']).toBe('image/webp');
    expect(thumb.rawPayload.subarray(8, 12).toString()).toBe('WEBP');
    expect(thumb.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
    const etag = thumb.headers.etag as string;
    expect(etag).toBeTruthy();
    expect((await get(up.thumbnail_url, { 'if-none-match': etag })).statusCode).toBe(304);
  });

  it('preview_url of a small sRGB JPEG is the original: its bytes, type and ETag, with Range and 304', async () => {
    const res = await waitFor(
      async () => {
        const r = await get(up.preview_url);
        expect([200, 404]).toContain(r.statusCode);
        return r.statusCode === 200 ? r : undefined;
      },
      30_000,
      'preview',
    );
    expect(res.headers['content-type']).toBe('image/jpeg');
    expect(res.rawPayload.equals(photo)).toBe(true);
    expect(res.headers.etag).toBe(`"${up.sha256}"`);
    const part = await get(up.preview_url, { range: 'bytes=10-19' });
    expect(part.statusCode).toBe(206);
    expect(part.rawPayload.equals(photo.subarray(10, 20))).toBe(true);
    expect((await get(up.preview_url, { 'if-none-match': res.headers.etag as string })).statusCode).toBe(304);
  });

  it('preview_url of a rotated camera JPEG serves an upright WebP rendition (ETag, Range, 304); the owner route too', async () => {
    const camera = await upload(alice, await cameraJpeg(300, 200, 6));
    expect([camera.width, camera.height]).toEqual([200, 300]); // the displayed size, from the header
    const res = await waitFor(
      async () => {
        const r = await get(camera.preview_url);
        return r.statusCode === 200 ? r : undefined;
      },
      30_000,
      'preview',
    );
    expect(res.headers['content-type']).toBe('image/webp');
    expect(res.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
    const meta = await sharp(res.rawPayload).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 200, 300]);
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^"p[0-9a-f]+-[0-9a-f]+"$/);
    expect((await get(camera.preview_url, { 'if-none-match': etag })).statusCode).toBe(304);
    const part = await get(camera.preview_url, { range: 'bytes=0-11' });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 0-11/${res.rawPayload.length}`);
    expect(part.rawPayload.equals(res.rawPayload.subarray(0, 12))).toBe(true);
    expect((await get(camera.preview_url, { range: `bytes=${res.rawPayload.length}-` })).statusCode).toBe(416);

    const own = await get(`/api/uploads/${camera.id}/preview`, alice.auth);
    expect(own.statusCode).toBe(200);
    expect(own.rawPayload.equals(res.rawPayload)).toBe(true);
    expect((await get(`/api/uploads/${camera.id}/preview`)).statusCode).toBe(401);
    const bob = await register(api, 'bob');
    expect((await get(`/api/uploads/${camera.id}/preview`, bob.auth)).statusCode).toBe(404);
    // After the analysis, the upload object says the same displayed size.
    expect((await get(`/api/uploads/${camera.id}`, alice.auth)).json()).toMatchObject({ width: 200, height: 300 });
  });

  it('preview_url is 404 while no analysis has made a preview (here: the analysis failed)', async () => {
    // The header is whole, the scan data cut: accepted at upload, undecodable for the worker.
    const whole = await solidJpeg(320, 240, '#225588');
    const cut = await upload(alice, whole.subarray(0, Math.floor(whole.length * 0.4)));
    await waitFor(
      async () => {
        const a = (await get(`/api/visual-analysis/${cut.analysis.id}`, alice.auth)).json();
        return a.status === 'failed' ? a : undefined;
      },
      30_000,
      'analysis failed',
    );
    const res = await get(cut.preview_url);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ detail: 'No preview yet: the analysis has not completed.' });
    expect((await get(`/api/uploads/${cut.id}/preview`, alice.auth)).statusCode).toBe(404);
  });

  it('a tampered, swapped, foreign or expired URL is 403 with a DRF body', async () => {
    const other = await upload(alice, await solidPng(50, 40), 'image/png');
    const sig = new URL(up.file_url, 'http://x').searchParams.get('sig')!;
    const exp = new URL(up.file_url, 'http://x').searchParams.get('exp')!;
    const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    const psig = new URL(up.preview_url, 'http://x').searchParams.get('sig')!;
    const expired = api.get(MediaUrls).url(up.id, 'file', Math.floor(Date.now() / 1000) - 1);
    const cases = [
      withParam(up.file_url, 'sig', flipped), // tampered signature
      withParam(up.file_url, 'exp', String(Number(exp) + 900)), // extended expiry
      `/api/media/uploads/${up.id}/thumbnail?exp=${exp}&sig=${sig}`, // file's signature on the thumbnail
      `/api/media/uploads/${up.id}/preview?exp=${exp}&sig=${sig}`, // … and on the preview
      withParam(up.preview_url, 'sig', (psig[0] === 'A' ? 'B' : 'A') + psig.slice(1)), // tampered preview signature
      `/api/media/uploads/${up.id}/preview`, // unsigned preview
      `/api/media/uploads/${other.id}/file?exp=${exp}&sig=${sig}`, // another upload
      expired,
      `/api/media/uploads/${up.id}/file`, // unsigned
      `${up.file_url}&sig=${sig}`, // repeated parameter
      `/api/media/uploads/not-a-uuid/file?exp=${exp}&sig=${sig}`,
    ];
    for (const url of cases) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(403);
      expect(res.json(), url).toEqual({ detail: 'Invalid or expired media URL.' });
    }
    // The same bytes with a valid URL of the other upload still work: the refusals were the signature's.
    expect((await get(other.file_url)).statusCode).toBe(200);
    expect((await get(up.preview_url)).statusCode).toBe(200);
  });

  it('expiries are rounded to a window: listings give the same URL on every request within it', async () => {
    const a = (await get('/api/uploads', alice.auth)).json();
    const b = (await get('/api/uploads', alice.auth)).json();
    const item = a.results.find((r: { id: string }) => r.id === up.id);
    expect(item.file_url).toBe(b.results.find((r: { id: string }) => r.id === up.id).file_url);
    const exp = Number(new URL(item.file_url, 'http://x').searchParams.get('exp'));
    const window = TTL / 4;
    expect(exp % window).toBe(0);
    const left = exp - Date.now() / 1000;
    expect(left).toBeGreaterThanOrEqual(TTL - 1);
    expect(left).toBeLessThanOrEqual(TTL + window);
    // The same window gives the same URL to the detail route too.
    expect((await get(`/api/uploads/${up.id}`, alice.auth)).json().file_url).toBe(item.file_url);
  });

  it("admin views (listing and detail) carry working URLs for anyone's upload", async () => {
    const list = (await get(`/api/admin/users/${alice.id}/uploads`, admin.auth)).json();
    const item = list.results.find((r: { id: string }) => r.id === up.id);
    expect(item.username).toBe(alice.username);
    expect((await get(item.file_url)).statusCode).toBe(200);
    const detail = await get(`/api/admin/uploads/${up.id}`, admin.auth);
    expect(detail.statusCode).toBe(200);
    expect(detail.json()).toMatchObject({
      id: up.id,
      username: alice.username,
      file_url: expect.stringContaining(`/api/media/uploads/${up.id}/file?`),
    });
    expect((await get(`/api/admin/uploads/${up.id}`, alice.auth)).statusCode).toBe(403);
  });

  it("a deleted upload's URL is 404 (signature fine, object gone)", async () => {
    const gone = await upload(alice, await solidPng(30, 30, '#00ff00'), 'image/png');
    expect(
      (await api.inject({ method: 'DELETE', url: `/api/uploads/${gone.id}`, headers: alice.auth })).statusCode,
    ).toBe(204);
    expect((await get(gone.file_url)).statusCode).toBe(404);
    expect((await get(gone.preview_url)).statusCode).toBe(404);
  });
});

describe('MediaUrls (signing, no services)', () => {
  const make = (env: Record<string, string> = {}) =>
    new MediaUrls(loadConfig({ NODE_ENV: 'test', MEDIA_URL_TTL_SECONDS: '3600', ...env }));
  const id = '0b6a2c1e-1111-4222-8333-444455556666';
  const sigOf = (url: string) => new URL(url, 'http://x').searchParams.get('sig')!;

  it('binds the signature to the key: a derived key differs from MEDIA_URL_SECRET, and each verifies only its own', () => {
    const derived = make();
    const separate = make({ MEDIA_URL_SECRET: 'x'.repeat(40) });
    const exp = derived.expiry();
    const a = sigOf(derived.url(id, 'file', exp));
    const b = sigOf(separate.url(id, 'file', exp));
    expect(a).not.toBe(b);
    expect(derived.verify(id, 'file', String(exp), a)).toBe(true);
    expect(separate.verify(id, 'file', String(exp), a)).toBe(false);
    expect(make({ JWT_SECRET: 'y'.repeat(40) }).verify(id, 'file', String(exp), a)).toBe(false);
  });

  it('rounds expiries up to a quarter of the TTL: one URL per 15-minute window, living 60–75 minutes', () => {
    const urls = make();
    const t0 = Date.UTC(2026, 10, 26, 12, 0, 0);
    expect(urls.expiry(t0)).toBe(t0 / 1000 + 3600);
    expect(urls.expiry(t0 + 1000)).toBe(t0 / 1000 + 3600 + 900);
    expect(urls.expiry(t0 + 899_000)).toBe(t0 / 1000 + 3600 + 900);
    expect(urls.expiry(t0 + 900_000)).toBe(t0 / 1000 + 3600 + 900);
    expect(urls.expiry(t0 + 901_000)).toBe(t0 / 1000 + 3600 + 1800);
  });

  it('refuses malformed input without throwing', () => {
    const urls = make();
    for (const [exp, sig] of [
      [undefined, undefined],
      ['', ''],
      ['12x', 'a'.repeat(43)],
      ['9'.repeat(13), 'a'.repeat(43)],
      [String(urls.expiry()), 'short'],
      [String(urls.expiry()), '%'.repeat(43)],
    ]) {
      expect(urls.verify(id, 'file', exp, sig)).toBe(false);
    }
  });

  it("a short MEDIA_URL_SECRET or an out-of-range TTL stops the process with the variable's name", () => {
    expect(() => make({ MEDIA_URL_SECRET: 'short' })).toThrow(/MEDIA_URL_SECRET/);
    expect(() => make({ MEDIA_URL_TTL_SECONDS: '10' })).toThrow(/MEDIA_URL_TTL_SECONDS/);
  });
});
