import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DataSource } from 'typeorm';
import type { Queue } from 'bullmq';
import { getQueueToken } from '@nestjs/bullmq';
import * as yauzl from 'yauzl';
import { DataExport } from '@echo/account-data';
import { QUEUES } from '@echo/queue';
import { objectKey, STORAGE, type StorageDriver } from '@echo/storage';
import { MediaUrls, Upload } from '@echo/uploads';
import { ExportRunner } from '../libs/account-data/src/export/export-runner.js';
import { ExportSweeper } from '../libs/account-data/src/export/export-sweeper.js';
import { ExportUrls } from '../libs/account-data/src/export/export-urls.js';
import { ZipWriter } from '../libs/account-data/src/export/zip-writer.js';
import { S3StorageDriver } from '../libs/storage/src/s3-storage.driver.js';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { multipart, noisePng, solidJpeg, solidPng } from './support/images.js';
import { S3_CREDENTIALS, startLoopbackS3 } from './support/s3.js';
import { SseReader } from './support/sse.js';
import { postUpload } from './support/uploads.js';
import { PASSWORD, register, type Session } from './support/users.js';
import { waitFor } from './support/wait.js';

interface ExportObject {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  progress: number;
  size: number | null;
  error: string | null;
  download_url: string | null;
  expires_at: string | null;
  created_at: string;
}

const EXPORT_KEYS = [
  'completed_at',
  'created_at',
  'download_url',
  'error',
  'expires_at',
  'id',
  'progress',
  'size',
  'started_at',
  'status',
];

/** Every entry of a ZIP held in memory: bytes and compression method (0 stored, 8 deflated). */
async function readZip(zip: Buffer): Promise<Map<string, { data: Buffer; method: number }>> {
  const file = await yauzl.fromBufferPromise(zip, { lazyEntries: true });
  const entries = new Map<string, { data: Buffer; method: number }>();
  await new Promise<void>((resolve, reject) => {
    file.on('entry', (entry: yauzl.Entry) => {
      file.openReadStream(entry, async (err, stream) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        entries.set(entry.fileName, { data: Buffer.concat(chunks), method: entry.compressionMethod });
        file.readEntry();
      });
    });
    file.on('end', resolve);
    file.on('error', reject);
    file.readEntry();
  });
  return entries;
}

async function requestExport(stack: TestStack, who: Session): Promise<ExportObject> {
  const res = await stack.api.inject({ method: 'POST', url: '/api/users/me/export', headers: who.auth });
  expect(res.statusCode, res.body).toBe(202);
  return res.json();
}

async function getExport(stack: TestStack, who: Session, id: string) {
  return stack.api.inject({ method: 'GET', url: `/api/users/me/export/${id}`, headers: who.auth });
}

async function waitCompleted(stack: TestStack, who: Session, id: string, timeoutMs = 60_000): Promise<ExportObject> {
  return waitFor(
    async () => {
      const body = (await getExport(stack, who, id)).json() as ExportObject;
      if (body.status === 'failed') throw new Error(`export failed: ${body.error}`);
      return body.status === 'completed' && body;
    },
    timeoutMs,
    `export ${id} completed`,
  );
}

async function download(stack: TestStack, url: string, headers: Record<string, string> = {}) {
  return stack.api.inject({ method: 'GET', url, headers });
}

/** Uploads through the API (real images, chosen names); returns name → bytes, in upload order. */
async function uploadImages(stack: TestStack, who: Session, files: Array<{ name: string; data: Buffer }>) {
  const uploads: Array<{ id: string; name: string; data: Buffer }> = [];
  for (const file of files) {
    const form = multipart([{ name: 'file', filename: file.name, data: file.data }]);
    const up = await postUpload(stack.api, who, form);
    uploads.push({ id: up.id, name: file.name, data: file.data });
  }
  return uploads;
}

/** Inserts `count` uploads straight into the database and storage (small distinct objects). */
async function seedUploads(
  stack: TestStack,
  userId: number,
  count: number,
  bytes = 2048,
): Promise<Array<{ id: string; at: number }>> {
  const storage = stack.api.get<StorageDriver>(STORAGE);
  const ds = stack.api.get(DataSource);
  const rows: Upload[] = [];
  const base = Date.now() - count * 1000;
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    const data = randomBytes(bytes);
    await storage.put(objectKey(userId, id), data);
    rows.push(
      ds.getRepository(Upload).create({
        id,
        userId,
        title: '',
        originalName: i % 3 === 0 ? 'same.jpg' : `seed-${i}.jpg`,
        contentType: 'image/jpeg',
        size: bytes,
        sha256: createHash('sha256').update(data).digest('hex'),
        width: 10,
        height: 10,
        storageKey: objectKey(userId, id),
        // Several rows share a created_at: the keyset must order them by id too.
        createdAt: new Date(base + Math.floor(i / 4) * 1000),
        takenAt: new Date(base),
      }),
    );
  }
  // Read before the insert, which may rewrite the entities' values in the driver's format.
  const seeded = rows.map((r) => ({ id: r.id, at: r.createdAt.getTime() }));
  for (let i = 0; i < rows.length; i += 200) await ds.getRepository(Upload).insert(rows.slice(i, i + 200));
  return seeded;
}

/** The whole export contract on one stack (MariaDB + Redis + worker, or embedded). */
function exportContract(label: string, start: () => Promise<TestStack>, opts: { worker: boolean }) {
  let stack: TestStack;
  let base: string;
  let alice: Session;
  let bob: Session;
  let images: Array<{ id: string; name: string; data: Buffer }>;

  beforeAll(async () => {
    stack = await start();
    await stack.api.listen(0, '127.0.0.1');
    base = (await stack.api.getUrl()).replace('[::1]', '127.0.0.1');
    alice = await register(stack.api, `${label}a`);
    bob = await register(stack.api, `${label}b`);
    images = await uploadImages(stack, alice, [
      { name: 'photo.jpg', data: await solidJpeg(120, 80, '#336699') },
      { name: 'photo.jpg', data: await solidJpeg(120, 80, '#996633') },
      { name: 'Photo.JPG', data: await solidJpeg(64, 64, '#123456') },
      { name: 'scan', data: await solidPng(50, 40, '#00ff00') },
      { name: 'noise.png', data: await noisePng(200, 150) },
    ]);
    // Wait for the analyses, so uploads.json carries their results.
    await waitFor(
      async () => {
        const res = await stack.api.inject({ method: 'GET', url: '/api/visual-analysis', headers: alice.auth });
        const page = res.json() as { results: Array<{ status: string }> };
        return page.results.length === images.length && page.results.every((a) => a.status === 'completed');
      },
      60_000,
      'analyses completed',
    );
  });
  afterAll(() => stack?.close().catch(() => undefined));

  it('streams queued → running → completed on SSE, and the archive holds profile.json, uploads.json and every original byte for byte', async () => {
    const sse = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
    expect(sse.status).toBe(200);
    const created = await requestExport(stack, alice);
    expect(Object.keys(created).sort()).toEqual(EXPORT_KEYS);
    expect(created).toMatchObject({ status: 'queued', progress: 0, download_url: null, expires_at: null, size: null });

    const done = await waitCompleted(stack, alice, created.id);
    expect(done.progress).toBe(100);
    expect(done.download_url).toMatch(new RegExp(`^/api/media/exports/${done.id}\\?exp=\\d+&sig=[\\w-]{43}$`));
    const ttlMs = new Date(done.expires_at!).getTime() - Date.now();
    expect(ttlMs).toBeGreaterThan(47.9 * 3600_000);
    expect(ttlMs).toBeLessThanOrEqual(48 * 3600_000);

    const events = await sse.waitFor(
      (r) => {
        const mine = r.messages
          .filter((m) => m.event === 'export')
          .map((m) => JSON.parse(m.data) as ExportObject & { at: string })
          .filter((e) => e.id === created.id);
        return mine.some((e) => e.status === 'completed') && mine;
      },
      20_000,
      'export events',
    );
    sse.close();
    const statuses = events.map((e) => e.status).filter((s, i, all) => s !== all[i - 1]);
    expect(statuses).toEqual(['queued', 'running', 'completed']);
    // A client reconnecting after the first event gets the rest replayed, still as `export` events.
    const firstId = sse.messages.find((m) => m.event === 'export')!.id!;
    const again = await SseReader.open(`${base}/api/visual-analysis/events`, {
      ...alice.auth,
      'last-event-id': firstId,
    });
    const replayed = await again.waitFor(
      (r) => r.messages.some((m) => m.event === 'export' && JSON.parse(m.data).status === 'completed') && r.messages,
      10_000,
      'replayed export events',
    );
    again.close();
    expect(replayed.filter((m) => m.event === 'export').map((m) => JSON.parse(m.data).status)).toEqual(
      events.slice(1).map((e) => e.status),
    );
    const last = events.at(-1)!;
    expect(last).toMatchObject({ status: 'completed', progress: 100, download_url: done.download_url });
    expect(Object.keys(last).sort()).toEqual([...EXPORT_KEYS, 'at'].sort());

    const res = await download(stack, done.download_url!);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="echo-export-\d{4}-\d\d-\d\d\.zip"$/);
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers['cache-control']).toBe('private, no-store');
    expect(res.rawPayload.length).toBe(done.size);

    const entries = await readZip(res.rawPayload);
    expect([...entries.keys()].sort()).toEqual(
      [
        'photos/Photo (3).JPG',
        'photos/noise.png',
        'photos/photo (2).jpg',
        'photos/photo.jpg',
        'photos/scan.png',
        'profile.json',
        'uploads.json',
      ].sort(),
    );
    const profile = JSON.parse(entries.get('profile.json')!.data.toString());
    expect(profile.user).toMatchObject({
      id: alice.id,
      username: alice.username,
      email: `${alice.username}@example.com`,
    });
    expect(JSON.stringify(profile)).not.toMatch(/password|hash|token_version/);

    const json = JSON.parse(entries.get('uploads.json')!.data.toString());
    expect(json).toMatchObject({ export_id: created.id, count: images.length, missing_files: 0 });
    expect(json.uploads.map((u: { id: string }) => u.id)).toEqual(images.map((i) => i.id));
    for (const record of json.uploads) {
      const image = images.find((i) => i.id === record.id)!;
      expect(record.original_name).toBe(image.name);
      expect(record.sha256).toBe(createHash('sha256').update(image.data).digest('hex'));
      expect(record.analysis).toMatchObject({ status: 'completed' });
      expect(record.analysis.result).toMatchObject({ width: expect.any(Number), dominant_color: expect.any(String) });
      const entry = entries.get(record.file)!;
      expect(entry.data.equals(image.data), record.file).toBe(true);
      expect(entry.method).toBe(0);
    }
    expect(entries.get('uploads.json')!.method).toBe(8);
  });

  it('one export at a time: parallel POSTs while one is queued (or running) all return the same export; then the cooldown', async () => {
    const user = await register(stack.api, `${label}p`);
    const queue = opts.worker ? stack.api.get<Queue>(getQueueToken(QUEUES.exports)) : undefined;
    // With the worker the queue is paused; in-process, enough files keep the export running
    // (~1 s) while the requests arrive together.
    if (queue) await uploadImages(stack, user, [{ name: 'one.jpg', data: await solidJpeg(40, 40, '#aa0000') }]);
    else await seedUploads(stack, user.id, 300, 64 * 1024);
    await queue?.pause();
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => requestExport(stack, user)));
      const ids = new Set(results.map((r) => r.id));
      expect(ids.size).toBe(1);
      const rows = await stack.api.get(DataSource).getRepository(DataExport).countBy({ userId: user.id });
      expect(rows).toBe(1);
      const [id] = ids;
      if (queue) {
        // A running one too (the worker's claim is what makes it running; here it waits paused).
        await stack.api.get(DataSource).getRepository(DataExport).update({ id }, { status: 'running' });
        expect((await requestExport(stack, user)).id).toBe(id);
        await stack.api.get(DataSource).getRepository(DataExport).update({ id }, { status: 'queued' });
      }
      await queue?.resume();
      const done = await waitCompleted(stack, user, id);
      // Within EXPORT_COOLDOWN_MINUTES (60) of its completion a request answers with it — the same
      // 202 and export object, now completed with its link — and builds nothing.
      const soon = await requestExport(stack, user);
      expect(soon).toMatchObject({ id: done.id, status: 'completed', download_url: done.download_url });
      const repo = stack.api.get(DataSource).getRepository(DataExport);
      expect(await repo.countBy({ userId: user.id })).toBe(1);
      // Past the cooldown: the next request is a new export.
      await repo.update({ id: done.id }, { completedAt: new Date(Date.now() - 61 * 60_000) });
      const next = await requestExport(stack, user);
      expect(next.id).not.toBe(done.id);
      await waitCompleted(stack, user, next.id);
      // The newer archive replaces the older.
      expect((await getExport(stack, user, done.id)).statusCode).toBe(404);
      const list = await stack.api.inject({ method: 'GET', url: '/api/users/me/export', headers: user.auth });
      expect(list.json().results.map((e: ExportObject) => e.id)).toEqual([next.id]);
    } finally {
      await queue?.resume();
    }
  });

  it('Range resumes a broken download (206, Content-Range); If-Range of another version gets it whole; past the end is 416', async () => {
    const [latest] = (
      await stack.api.inject({ method: 'GET', url: '/api/users/me/export', headers: alice.auth })
    ).json().results as ExportObject[];
    const url = latest.download_url!;
    const whole = (await download(stack, url)).rawPayload;
    const cut = Math.floor(whole.length / 3);
    const first = await download(stack, url, { range: `bytes=0-${cut - 1}` });
    expect(first.statusCode).toBe(206);
    expect(first.headers['content-range']).toBe(`bytes 0-${cut - 1}/${whole.length}`);
    const etag = first.headers.etag as string;
    const rest = await download(stack, url, { range: `bytes=${cut}-`, 'if-range': etag });
    expect(rest.statusCode).toBe(206);
    expect(rest.headers['content-range']).toBe(`bytes ${cut}-${whole.length - 1}/${whole.length}`);
    expect(Buffer.concat([first.rawPayload, rest.rawPayload]).equals(whole)).toBe(true);
    const changed = await download(stack, url, { range: `bytes=${cut}-`, 'if-range': '"another"' });
    expect(changed.statusCode).toBe(200);
    expect(changed.rawPayload.equals(whole)).toBe(true);
    const past = await download(stack, url, { range: `bytes=${whole.length + 10}-` });
    expect(past.statusCode).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${whole.length}`);
  });

  it('refuses a bad or tampered signature and an expired URL (403); another user’s export is 404', async () => {
    const [latest] = (
      await stack.api.inject({ method: 'GET', url: '/api/users/me/export', headers: alice.auth })
    ).json().results as ExportObject[];
    const url = new URL(latest.download_url!, 'http://x');
    const exp = url.searchParams.get('exp')!;
    const sig = url.searchParams.get('sig')!;
    const flipped = sig.slice(0, -1) + (sig.endsWith('A') ? 'B' : 'A');
    for (const bad of [
      `${url.pathname}?exp=${exp}&sig=${flipped}`,
      `${url.pathname}?exp=${Number(exp) + 1}&sig=${sig}`,
      `${url.pathname}?exp=${exp}`,
      `${url.pathname}?exp=${exp}&sig=${sig}&sig=${sig}`,
      `/api/media/exports/${randomUUID()}?exp=${exp}&sig=${sig}`,
    ]) {
      const res = await download(stack, bad);
      expect(res.statusCode, bad).toBe(403);
      expect(res.json()).toEqual({ detail: 'Invalid or expired download URL.' });
    }
    // A correctly signed URL whose time has passed.
    const urls = stack.api.get(ExportUrls);
    const expired = urls.url(latest.id, new Date(Date.now() - 1000));
    expect((await download(stack, expired)).statusCode).toBe(403);
    expect(urls.verify(latest.id, exp, sig)).toBe(true);
    // A media URL's signature for the same id is no download signature (own key and message).
    const media = new URL(stack.api.get(MediaUrls).url(latest.id, 'file', Number(exp)), 'http://x');
    expect(urls.verify(latest.id, exp, media.searchParams.get('sig'))).toBe(false);
    expect((await download(stack, `${url.pathname}?exp=${exp}&sig=${media.searchParams.get('sig')}`)).statusCode).toBe(
      403,
    );

    expect((await getExport(stack, bob, latest.id)).statusCode).toBe(404);
    expect((await getExport(stack, bob, 'not-a-uuid')).statusCode).toBe(404);
    const list = await stack.api.inject({ method: 'GET', url: '/api/users/me/export', headers: bob.auth });
    expect(list.json()).toEqual({ results: [] });
    expect((await stack.api.inject({ method: 'POST', url: '/api/users/me/export' })).statusCode).toBe(401);
  });

  it('after expiry the sweep removes the archive and the row: the URL then answers 404', async () => {
    const [latest] = (
      await stack.api.inject({ method: 'GET', url: '/api/users/me/export', headers: alice.auth })
    ).json().results as ExportObject[];
    const ds = stack.api.get(DataSource);
    const row = (await ds.getRepository(DataExport).findOneBy({ id: latest.id }))!;
    const storage = stack.api.get<StorageDriver>(STORAGE);
    expect(await storage.stat(row.storageKey!)).not.toBeNull();
    await ds.getRepository(DataExport).update({ id: latest.id }, { expiresAt: new Date(Date.now() - 1000) });
    // Past expires_at the route refuses at once, before any sweep.
    expect((await download(stack, latest.download_url!)).statusCode).toBe(404);
    const app = stack.worker ?? stack.api;
    const swept = await app.get(ExportSweeper).sweep();
    expect(swept.expired).toBeGreaterThanOrEqual(1);
    expect(await storage.stat(row.storageKey!)).toBeNull();
    expect(await ds.getRepository(DataExport).findOneBy({ id: latest.id })).toBeNull();
    expect((await getExport(stack, alice, latest.id)).statusCode).toBe(404);
    const res = await download(stack, latest.download_url!);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ detail: 'This export is no longer available.' });
  });

  it('a download link dies with the owner’s sessions: after “log out everywhere”, and once the account is leaving, 404', async () => {
    const user = await register(stack.api, `${label}r`);
    await uploadImages(stack, user, [{ name: 'r.jpg', data: await solidJpeg(30, 30, '#00aaaa') }]);
    const first = await waitCompleted(stack, user, (await requestExport(stack, user)).id);
    expect((await download(stack, first.download_url!)).statusCode).toBe(200);
    const out = await stack.api.inject({ method: 'POST', url: '/api/auth/logout-all', headers: user.auth });
    expect(out.statusCode).toBe(204);
    const revoked = await download(stack, first.download_url!);
    expect(revoked.statusCode).toBe(404);
    expect(revoked.json()).toEqual({ detail: 'This export is no longer available.' });

    // Signed in again: a new export downloads; scheduling the account's deletion revokes it too.
    const login = await stack.api.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: user.username, password: PASSWORD },
    });
    expect(login.statusCode).toBe(200);
    const auth = { authorization: `Bearer ${login.json().access}` };
    const again = { ...user, auth };
    // The revoked export is still listed (until it expires), without a link.
    const listed = (await getExport(stack, again, first.id)).json() as ExportObject;
    expect(listed).toMatchObject({ id: first.id, status: 'completed', download_url: null });
    const second = await waitCompleted(stack, again, (await requestExport(stack, again)).id);
    expect(second.id).not.toBe(first.id);
    expect((await download(stack, second.download_url!)).statusCode).toBe(200);
    const leaving = await stack.api.inject({
      method: 'DELETE',
      url: '/api/users/me',
      headers: auth,
      payload: { current_password: PASSWORD },
    });
    expect(leaving.statusCode).toBe(202);
    expect((await download(stack, second.download_url!)).statusCode).toBe(404);
  });

  it('pages past 500 uploads in (created_at, id) order, equal timestamps included', async () => {
    const user = await register(stack.api, `${label}s`);
    const rows = await seedUploads(stack, user.id, 1010, 512);
    const sse = await SseReader.open(`${base}/api/visual-analysis/events`, user.auth);
    const created = await requestExport(stack, user);
    const done = await waitCompleted(stack, user, created.id, 120_000);
    // Progress events in steps of ≥ 5 %, never backwards: a bounded share of the replay window.
    const events = await sse.waitFor(
      (r) => {
        const mine = r.messages.filter((m) => m.event === 'export').map((m) => JSON.parse(m.data) as ExportObject);
        return mine.some((e) => e.status === 'completed') && mine;
      },
      20_000,
      'completed event',
    );
    sse.close();
    expect(events.length).toBeLessThanOrEqual(23);
    const progress = events.map((e) => e.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(events.at(-1)).toMatchObject({ status: 'completed', progress: 100 });
    const entries = await readZip((await download(stack, done.download_url!)).rawPayload);
    const json = JSON.parse(entries.get('uploads.json')!.data.toString());
    // Time order; within one time, the database's order of ids (its collation: MariaDB's
    // utf8mb4_unicode_ci does not sort '-' as bytes do), as long as every upload comes once.
    const got = json.uploads.map((u: { id: string }) => u.id) as string[];
    expect(new Set(got).size).toBe(1010);
    const at = new Map(rows.map((r) => [r.id, r.at]));
    expect(got.map((id) => at.get(id))).toEqual(rows.map((r) => r.at).sort((a, b) => a - b));
    expect(entries.size).toBe(1010 + 2);
    // 337 rows are named same.jpg: one keeps it, the rest are numbered.
    expect(entries.has('photos/same.jpg')).toBe(true);
    expect(entries.has('photos/same (337).jpg')).toBe(true);
    expect(entries.has('photos/same (338).jpg')).toBe(false);
  });

  it('a failed export records a reason the owner can read, and expires like a finished one', async () => {
    const user = await register(stack.api, `${label}f`);
    await uploadImages(stack, user, [{ name: 'f.jpg', data: await solidJpeg(30, 30, '#aa00aa') }]);
    // A file where the user's exports directory should be: every write under it fails.
    const blocker = join(stack.config.storage.dir, 'exports', String(user.id));
    await mkdir(dirname(blocker), { recursive: true });
    await writeFile(blocker, 'not a directory');
    const id = randomUUID();
    try {
      await stack.api
        .get(DataSource)
        .getRepository(DataExport)
        .insert({ id, userId: user.id, status: 'queued', createdAt: new Date() });
      // The last attempt (the queue's retries are its business): the run records the failure.
      const runner = (stack.worker ?? stack.api).get(ExportRunner);
      expect(await runner.run(id, { final: true })).toBe('failed');
      const res = await getExport(stack, user, id);
      expect(res.json()).toMatchObject({
        status: 'failed',
        error: 'The archive could not be written to storage. Request a new export later.',
        download_url: null,
      });
      expect(new Date(res.json().expires_at).getTime()).toBeGreaterThan(Date.now() + 47 * 3600_000);
    } finally {
      await rm(blocker, { force: true });
    }
    // A failed export is not pending: the next request starts a new one. (Storage is writable again
    // first: a run failing on the blocker would retry with backoff for ~30 s, and in-process exports
    // run one at a time, so the next test's export would wait behind it.)
    const next = await requestExport(stack, user);
    expect(next.id).not.toBe(id);
    await waitCompleted(stack, user, next.id);
  });

  it('two runs of one export (a job run again after its lock lapsed): the loser leaves the winner’s archive alone', async () => {
    const user = await register(stack.api, `${label}d`);
    await seedUploads(stack, user.id, 60, 16 * 1024);
    const ds = stack.api.get(DataSource);
    const id = randomUUID();
    await ds.getRepository(DataExport).insert({ id, userId: user.id, status: 'queued', createdAt: new Date() });
    // Both claim it (the second claim takes the running row again, as a stalled job's rerun does).
    const runner = (stack.worker ?? stack.api).get(ExportRunner);
    const outcomes = await Promise.all([runner.run(id, { final: true }), runner.run(id, { final: true })]);
    expect([...outcomes].sort()).toEqual(['cancelled', 'completed']);
    const done = (await getExport(stack, user, id)).json() as ExportObject;
    expect(done.status).toBe('completed');
    const res = await download(stack, done.download_url!);
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.length).toBe(done.size);
    expect((await readZip(res.rawPayload)).size).toBe(60 + 2);
    // Only the archive the row names is left: the loser removed its own.
    const row = (await ds.getRepository(DataExport).findOneBy({ id }))!;
    const keys: string[] = [];
    const storage = stack.api.get<StorageDriver>(STORAGE);
    for await (const key of storage.listOlderThan(`exports/${user.id}/`, new Date(Date.now() + 60_000))) keys.push(key);
    expect(keys).toEqual([row.storageKey]);
  });

  it('a purge mid-export stops the run: nothing of the export is left in storage', async () => {
    const user = await register(stack.api, `${label}x`);
    await seedUploads(stack, user.id, 400, 64 * 1024);
    const created = await requestExport(stack, user);
    const ds = stack.api.get(DataSource);
    await waitFor(
      async () => (await ds.getRepository(DataExport).findOneBy({ id: created.id }))?.status === 'running',
      30_000,
      'running',
    );
    // What the account purge does to the rows: the export rows first (it does not rely on ON DELETE
    // CASCADE, which SQLite applies only with its foreign_keys pragma), then the user.
    await ds.query('DELETE FROM exports WHERE user_id = ?', [user.id]);
    await ds.query('DELETE FROM users WHERE id = ?', [user.id]);
    const storage = stack.api.get<StorageDriver>(STORAGE);
    const leftover = async () => {
      const keys: string[] = [];
      for await (const key of storage.listOlderThan(`exports/${user.id}/`, new Date(Date.now() + 60_000)))
        keys.push(key);
      return keys;
    };
    // The run notices at its next progress write (≤ 250 ms) and removes what it wrote.
    await waitFor(async () => (await leftover()).length === 0 && !(await busy(stack)), 30_000, 'run stopped');
    await new Promise((r) => setTimeout(r, 500));
    expect(await leftover()).toEqual([]);
  }, 90_000);
}

/** True while an export job is waiting or running (worker), or in-process. */
async function busy(stack: TestStack): Promise<boolean> {
  if (!stack.worker) return false;
  const counts = await stack.api.get<Queue>(getQueueToken(QUEUES.exports)).getJobCounts('waiting', 'active');
  return counts.waiting + counts.active > 0;
}

describe.skipIf(!servicesUp())('data export: MariaDB + Redis + worker', () => {
  exportContract('xw', () => startStack('export', {}, { worker: true }), { worker: true });
});

describe('data export: embedded (SQLite, in-process)', () => {
  exportContract('xe', () => startEmbedded('export_embedded'), { worker: false });

  it('an export left running by a process that died is run again at the next start', async () => {
    const first = await startEmbedded('export_resume');
    const user = await register(first.api, 'xr');
    await uploadImages(first, user, [{ name: 'kept.jpg', data: await solidJpeg(30, 30, '#0000aa') }]);
    const id = randomUUID();
    // As a crash leaves it: running, 40 %, no archive.
    await first.api
      .get(DataSource)
      .getRepository(DataExport)
      .insert({ id, userId: user.id, status: 'running', progress: 40, createdAt: new Date(), startedAt: new Date() });
    await first.close();
    const second = await startEmbedded('export_resume', {
      SQLITE_PATH: first.env.SQLITE_PATH,
      STORAGE_DIR: first.env.STORAGE_DIR,
    });
    try {
      const done = await waitCompleted(second, user, id);
      const entries = await readZip((await download(second, done.download_url!)).rawPayload);
      expect(entries.has('photos/kept.jpg')).toBe(true);
    } finally {
      await second.close();
    }
  });
});

describe.skipIf(!servicesUp())('data export on S3 storage (s3rver)', () => {
  let s3: Awaited<ReturnType<typeof startLoopbackS3>>;
  let stack: TestStack;
  let alice: Session;

  beforeAll(async () => {
    s3 = await startLoopbackS3('echo-exports');
    stack = await startStack(
      'export_s3',
      {
        STORAGE_DRIVER: 's3',
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: s3.endpoint,
        S3_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
        S3_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
      },
      { worker: true },
    );
    alice = await register(stack.api, 'x3');
  });
  afterAll(async () => {
    await stack?.close();
    await s3?.close();
  });

  it('builds the archive in the bucket (exports/<user>/<id>.<run>.zip) and serves it with ranges', async () => {
    const images = await uploadImages(stack, alice, [
      { name: 'a.jpg', data: await solidJpeg(90, 60, '#224466') },
      { name: 'a.jpg', data: await solidJpeg(90, 60, '#664422') },
    ]);
    const created = await requestExport(stack, alice);
    const done = await waitCompleted(stack, alice, created.id);
    const storage = stack.api.get<StorageDriver>(STORAGE);
    const row = (await stack.api.get(DataSource).getRepository(DataExport).findOneBy({ id: done.id }))!;
    expect(row.storageKey).toMatch(new RegExp(`^exports/${alice.id}/${done.id}\\.[0-9a-f]{8}\\.zip$`));
    expect(await storage.stat(row.storageKey!)).toMatchObject({ size: done.size });
    const whole = (await download(stack, done.download_url!)).rawPayload;
    const entries = await readZip(whole);
    expect(entries.get('photos/a.jpg')!.data.equals(images[0].data)).toBe(true);
    expect(entries.get('photos/a (2).jpg')!.data.equals(images[1].data)).toBe(true);
    const part = await download(stack, done.download_url!, { range: 'bytes=10-99' });
    expect(part.statusCode).toBe(206);
    expect(part.rawPayload.equals(whole.subarray(10, 100))).toBe(true);
  });

  it('putStream sends a multipart upload; a failing source leaves no object', async () => {
    const driver = new S3StorageDriver({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      ...S3_CREDENTIALS,
      multipartPartSize: 5 * 1024 * 1024,
    });
    try {
      // 12 MiB in 64 KiB chunks: three parts of 5, 5 and 2 MiB.
      const commands: string[] = [];
      const send = driver.client.send.bind(driver.client);
      vi.spyOn(driver.client, 'send').mockImplementation(((command: { constructor: { name: string } }) => {
        commands.push(command.constructor.name);
        return send(command as never);
      }) as never);
      const data = randomBytes(12 * 1024 * 1024 + 7);
      const chunks = [];
      for (let i = 0; i < data.length; i += 65536) chunks.push(data.subarray(i, i + 65536));
      expect(await driver.putStream('exports/0/multipart.zip', Readable.from(chunks))).toEqual({ size: data.length });
      const back = Buffer.concat(await (await driver.get('exports/0/multipart.zip')).toArray());
      expect(back.equals(data)).toBe(true);
      expect(commands.filter((c) => c !== 'GetObjectCommand')).toEqual([
        'CreateMultipartUploadCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'CompleteMultipartUploadCommand',
      ]);

      let sent = 0;
      const failing = new Readable({
        read() {
          if ((sent += 1) > 3) return this.destroy(new Error('source failed'));
          this.push(randomBytes(4 * 1024 * 1024));
        },
      });
      await expect(driver.putStream('exports/0/failed.zip', failing)).rejects.toThrow('source failed');
      expect(await driver.stat('exports/0/failed.zip')).toBeNull();
    } finally {
      driver.onApplicationShutdown();
    }
  });
});

/**
 * ZIP64 past 4 GiB, without 4 GiB of disk: a 4.1 GiB entry of zeros goes through ZipWriter (the
 * export's writer, on yazl) into a sink that keeps only the first and last 64 KiB. yauzl then
 * reads the archive through a random-access reader that serves those ends and zeros between, so
 * the central directory, the ZIP64 end records and the offsets it follows are the real ones.
 * ~12 s of CPU (yazl's CRC-32 over every byte).
 */
describe('ZIP64 past 4 GiB', () => {
  it('an entry and an offset over 0xffffffff are written in ZIP64 form and read back', async () => {
    const big = Math.floor(4.1 * 1024 ** 3);
    const chunk = Buffer.alloc(1024 * 1024);
    let produced = 0;
    const zeros = new Readable({
      read() {
        if (produced >= big) return this.push(null);
        const n = Math.min(chunk.length, big - produced);
        produced += n;
        this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      },
    });
    const KEEP = 64 * 1024;
    let head = Buffer.alloc(0);
    let tail = Buffer.alloc(0);
    let total = 0;
    const sink = new Writable({
      write(data: Buffer, _enc, done) {
        if (head.length < KEEP) head = Buffer.concat([head, data.subarray(0, KEEP - head.length)]);
        tail = Buffer.concat([tail, data]).subarray(-KEEP);
        total += data.length;
        done();
      },
    });
    const zip = new ZipWriter();
    const written = pipeline(zip.output, sink);
    written.catch(() => undefined); // awaited below; a failure shows there
    const mtime = new Date('2024-01-01T00:00:00Z');
    await zip.addStream('big.bin', zeros, { compress: false, mtime, size: big });
    zip.addBuffer('after.txt', Buffer.from('after'), mtime);
    await zip.end();
    await written;
    expect(total).toBeGreaterThan(big);
    // ZIP64 end of central directory record and locator before the classic record.
    expect(tail.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06]))).toBe(true);
    expect(tail.includes(Buffer.from([0x50, 0x4b, 0x06, 0x07]))).toBe(true);

    class EndsReader extends yauzl.RandomAccessReader {
      override _readStreamForRange(start: number, end: number): Readable {
        const parts: Buffer[] = [];
        for (let at = start; at < end;) {
          if (at < head.length) {
            const n = Math.min(end, head.length) - at;
            parts.push(head.subarray(at, at + n));
            at += n;
          } else if (at >= total - tail.length) {
            const from = at - (total - tail.length);
            parts.push(tail.subarray(from, from + (end - at)));
            at = end;
          } else {
            const n = Math.min(end, total - tail.length) - at;
            parts.push(Buffer.alloc(Math.min(n, 1024 * 1024)));
            at += Math.min(n, 1024 * 1024);
          }
        }
        return Readable.from(parts);
      }
    }
    const file = await yauzl.fromRandomAccessReaderPromise(new EndsReader(), total, {
      lazyEntries: true,
      autoClose: false,
    });
    const entries: yauzl.Entry[] = [];
    await new Promise<void>((resolve, reject) => {
      file.on('entry', (entry: yauzl.Entry) => {
        entries.push(entry);
        file.readEntry();
      });
      file.on('end', resolve);
      file.on('error', reject);
      file.readEntry();
    });
    expect(entries.map((e) => [e.fileName, e.uncompressedSize])).toEqual([
      ['big.bin', big],
      ['after.txt', 5],
    ]);
    expect(entries[1].relativeOffsetOfLocalHeader).toBeGreaterThan(0xffffffff);
    const after = await file.openReadStreamPromise(entries[1]);
    expect(Buffer.concat(await after.toArray()).toString()).toBe('after');
    file.close();
  }, 120_000);
});
