import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { previewKey, STORAGE, thumbnailKey, type StorageDriver } from '@echo/storage';
import { UploadsService } from '@echo/uploads';
import { AnalysisRunner } from '@echo/visual-analysis';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { register, registerAdmin, type Session } from './support/users.js';
import { multipart, solidPng, solidPng16 } from './support/images.js';
import { postUpload } from './support/uploads.js';

async function upload(stack: TestStack, user: Session, data: Buffer): Promise<{ id: string }> {
  return postUpload(stack.api, user, multipart([{ name: 'file', filename: 'x.png', data }]));
}

/**
 * The upload is deleted at the worst moment, deterministically: a hook on the storage of the
 * process that runs analyses performs the DELETE (which removes the upload's files) just before
 * the run writes its thumbnail, or its preview rendition. The run then finds no row to complete.
 * The image is a 16-bit PNG, so the run does write a rendition (an 8-bit one would be its own preview).
 */
async function deleteDuringAnalysis(
  stack: TestStack,
  runnerApp: INestApplicationContext,
  user: Session,
  before: 'thumbnail' | 'preview',
) {
  const storage = runnerApp.get<StorageDriver>(STORAGE);
  const runner = runnerApp.get(AnalysisRunner);
  const put = storage.put.bind(storage);
  const runs: Promise<unknown>[] = [];
  const run = runner.run.bind(runner);
  let deleted = 0;
  let target = '';
  const putSpy = vi.spyOn(storage, 'put').mockImplementation(async (key, body, meta) => {
    const hooked = before === 'thumbnail' ? thumbnailKey(user.id, target) : previewKey(user.id, target);
    if (key === hooked) {
      const del = await stack.api.inject({ method: 'DELETE', url: `/api/uploads/${target}`, headers: user.auth });
      expect(del.statusCode).toBe(204);
      deleted++;
    }
    return put(key, body, meta);
  });
  const runSpy = vi.spyOn(runner, 'run').mockImplementation((...args) => {
    const p = run(...args);
    runs.push(p.catch(() => undefined));
    return p;
  });
  try {
    target = (await upload(stack, user, await solidPng16(64, 48, '#446688'))).id;
    await vi.waitFor(() => expect(deleted).toBe(1), { timeout: 20_000, interval: 50 });
    await vi.waitFor(() => expect(runs.length).toBeGreaterThan(0));
    expect(await runs[0]).toBe('skipped'); // the row was gone when the run finished
  } finally {
    putSpy.mockRestore();
    runSpy.mockRestore();
  }
  // The delete removed the file; nothing the run wrote afterwards is left either.
  expect(await storage.stat(thumbnailKey(user.id, target))).toBeNull();
  expect(await storage.stat(previewKey(user.id, target))).toBeNull();
  expect(await storage.stat(`${user.id}/${target}`)).toBeNull();
}

describe.skipIf(!servicesUp())('thumbnails whose upload is gone (MariaDB + worker, local storage)', () => {
  let stack: TestStack;
  let user: Session;

  beforeAll(async () => {
    stack = await startStack('thumb_orphans', {}, { worker: true });
    user = await register(stack.api, 'thumbs');
  });
  afterAll(() => stack?.close());

  it('an upload deleted while its analysis runs leaves no thumbnail', async () => {
    await deleteDuringAnalysis(stack, stack.worker!, user, 'thumbnail');
  });

  it('an upload deleted between its thumbnail and its preview leaves no preview', async () => {
    await deleteDuringAnalysis(stack, stack.worker!, user, 'preview');
  });

  it('deleting an upload, by its owner or an admin, removes its preview', async () => {
    const storage = stack.api.get<StorageDriver>(STORAGE);
    const admin = await registerAdmin(stack.api);
    for (const [i, by] of [user, admin].entries()) {
      const id = (await upload(stack, user, await solidPng16(40 + i, 30, '#336699'))).id;
      const key = previewKey(user.id, id);
      await vi.waitFor(async () => expect(await storage.stat(key)).not.toBeNull(), { timeout: 20_000 });
      const url = by === admin ? `/api/admin/uploads/${id}` : `/api/uploads/${id}`;
      const del = await stack.api.inject({ method: 'DELETE', url, headers: by.auth });
      expect(del.statusCode).toBe(204);
      expect(await storage.stat(key)).toBeNull();
      expect(await storage.stat(thumbnailKey(user.id, id))).toBeNull();
    }
  });

  it('the sweeper removes an orphan thumbnail past the minimum age, keeps a fresh one and one with an upload', async () => {
    const storage = stack.api.get<StorageDriver>(STORAGE);
    const root = stack.config.storage.dir;
    const age = async (key: string, ms: number) => {
      const t = new Date(Date.now() - ms);
      await utimes(join(root, ...key.split('/')), t, t);
    };
    const kept = (await upload(stack, user, await solidPng(30, 30, '#123456'))).id;
    const keptKey = thumbnailKey(user.id, kept);
    await vi.waitFor(async () => expect(await storage.stat(keptKey)).not.toBeNull(), { timeout: 20_000 });
    const old = thumbnailKey(user.id, crypto.randomUUID());
    const fresh = thumbnailKey(user.id, crypto.randomUUID());
    const partial = `${thumbnailKey(user.id, crypto.randomUUID())}.${crypto.randomUUID()}.partial`; // a crashed write
    const foreign = thumbnailKey(user.id + 1_000_000, kept); // a real upload id under another user's prefix
    for (const key of [old, fresh, partial, foreign]) await storage.put(key, Buffer.from('webp'));
    for (const key of [old, partial, foreign, keptKey]) await age(key, 2 * 3600_000);

    const swept = await stack.api.get(UploadsService).sweepOrphans();
    expect(swept.thumbnails).toBe(3);
    for (const key of [old, partial, foreign]) expect(await storage.stat(key), key).toBeNull();
    expect(await storage.stat(fresh)).not.toBeNull(); // younger than the minimum age: maybe being written
    expect(await storage.stat(keptKey)).not.toBeNull();
  });

  it('the sweeper removes orphan previews the same way, and keeps a rendition whose upload exists', async () => {
    const storage = stack.api.get<StorageDriver>(STORAGE);
    const root = stack.config.storage.dir;
    const age = async (key: string, ms: number) => {
      const t = new Date(Date.now() - ms);
      await utimes(join(root, ...key.split('/')), t, t);
    };
    const kept = (await upload(stack, user, await solidPng16(30, 20, '#654321'))).id;
    const keptKey = previewKey(user.id, kept);
    await vi.waitFor(async () => expect(await storage.stat(keptKey)).not.toBeNull(), { timeout: 20_000 });
    const old = previewKey(user.id, crypto.randomUUID());
    const fresh = previewKey(user.id, crypto.randomUUID());
    const partial = `${previewKey(user.id, crypto.randomUUID())}.${crypto.randomUUID()}.partial`;
    const foreign = previewKey(user.id + 1_000_000, kept);
    for (const key of [old, fresh, partial, foreign]) await storage.put(key, Buffer.from('webp'));
    for (const key of [old, partial, foreign, keptKey]) await age(key, 2 * 3600_000);

    const swept = await stack.api.get(UploadsService).sweepOrphans();
    expect(swept.previews).toBe(3);
    for (const key of [old, partial, foreign]) expect(await storage.stat(key), key).toBeNull();
    expect(await storage.stat(fresh)).not.toBeNull();
    expect(await storage.stat(keptKey)).not.toBeNull();
  });
});

describe.skipIf(!servicesUp())('thumbnails whose upload is gone (embedded: SQLite, in-process jobs)', () => {
  let stack: TestStack;
  let user: Session;

  beforeAll(async () => {
    stack = await startEmbedded('thumb_orphans');
    user = await register(stack.api, 'thumbs');
  });
  afterAll(() => stack?.close());

  it('an upload deleted while its analysis runs leaves no thumbnail', async () => {
    await deleteDuringAnalysis(stack, stack.api, user, 'thumbnail');
  });

  it('an upload deleted between its thumbnail and its preview leaves no preview', async () => {
    await deleteDuringAnalysis(stack, stack.api, user, 'preview');
  });
});
