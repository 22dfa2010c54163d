import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource, type EntityManager } from 'typeorm';
import { ConfigModule } from '@echo/config';
import { DatabaseModule } from '@echo/database';
import { CacheModule } from '@echo/cache';
import { STORAGE, StorageModule, type StorageDriver } from '@echo/storage';
import { UsersModule } from '@echo/users';
import { ANALYSIS_SUMMARY_READER, UploadEvents, UploadsModule, UploadsService } from '@echo/uploads';
import { UploadIntake } from '../libs/uploads/src/intake/upload-intake.service.js';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { multipart, solidPng } from './support/images.js';
import { register, type Session } from './support/users.js';

/**
 * The Uploads ↔ VisualAnalysis seam: UploadEvents handlers run inside the upload's transaction
 * (their writes commit or roll back with it), several may listen, their after-commit work runs
 * once the row is visible; Uploads works with no ANALYSIS_SUMMARY_READER provider.
 */
describe.skipIf(!servicesUp())('upload seam (MariaDB)', () => {
  let stack: TestStack;
  let db: DataSource;
  let storage: StorageDriver;
  let events: UploadEvents;
  let alice: Session;

  beforeAll(async () => {
    stack = await startStack('seam');
    db = stack.api.get(DataSource);
    storage = stack.api.get<StorageDriver>(STORAGE);
    events = stack.api.get(UploadEvents);
    alice = await register(stack.api, 'seam');
  });
  afterAll(() => stack?.close());

  const post = async (s: Session, data: Buffer) => {
    const form = multipart([{ name: 'file', filename: 'a.png', data }]);
    return stack.api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...s.auth, ...form.headers },
      payload: form.payload,
    });
  };
  const count = async (sql: string, params: unknown[]) =>
    Number(((await db.query(sql, params)) as { n: number | string }[])[0].n);
  const keys = async (prefix: string) => {
    const found: string[] = [];
    for await (const key of storage.listOlderThan(prefix, new Date(Date.now() + 60_000))) found.push(key);
    return found;
  };

  it("a second committed listener runs in the upload's transaction, after the analysis row, and its after-commit work sees the commit", async () => {
    const seen: { inTransaction: boolean; ownRows: number; othersSee: number; afterCommitSees?: number }[] = [];
    const off = events.on('committed', async ({ manager, upload }) => {
      const entry = {
        inTransaction: manager.queryRunner?.isTransactionActive === true,
        // The analysis listener (registered first) already wrote its row on this transaction.
        ownRows: await countOn(manager, 'SELECT COUNT(*) AS n FROM visual_analysis_results WHERE upload_id = ?', [
          upload.id,
        ]),
        // Another connection does not see the uncommitted upload yet.
        othersSee: await count('SELECT COUNT(*) AS n FROM uploads WHERE id = ?', [upload.id]),
      };
      seen.push(entry);
      return async () => {
        (entry as { afterCommitSees?: number }).afterCommitSees = await count(
          'SELECT COUNT(*) AS n FROM uploads WHERE id = ?',
          [upload.id],
        );
      };
    });
    onTestFinished(off);
    const res = await post(alice, await solidPng(20, 20, '#112233'));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().analysis).toMatchObject({ status: 'queued' });
    expect(seen).toEqual([{ inTransaction: true, ownRows: 1, othersSee: 0, afterCommitSees: 1 }]);
  });

  it('a committed listener that throws rolls back the upload and its analysis: no row, no file', async () => {
    const off = events.on('committed', async () => {
      throw new Error('listener refused');
    });
    onTestFinished(off);
    const before = await count('SELECT COUNT(*) AS n FROM uploads WHERE user_id = ?', [alice.id]);
    const res = await post(alice, await solidPng(21, 21, '#445566'));
    expect(res.statusCode).toBe(500);
    expect(await count('SELECT COUNT(*) AS n FROM uploads WHERE user_id = ?', [alice.id])).toBe(before);
    expect(await count('SELECT COUNT(*) AS n FROM visual_analysis_results WHERE user_id = ?', [alice.id])).toBe(before);
    expect(await keys('tmp/')).toEqual([]);
    expect(await keys(`${alice.id}/`)).toHaveLength(before);
  });

  it('a deleted listener that throws keeps the upload and its analyses (one transaction)', async () => {
    const up = (await post(alice, await solidPng(22, 22, '#778899'))).json();
    const off = events.on('deleted', async () => {
      throw new Error('listener refused');
    });
    const res = await stack.api.inject({ method: 'DELETE', url: `/api/uploads/${up.id}`, headers: alice.auth });
    off();
    expect(res.statusCode).toBe(500);
    expect(await count('SELECT COUNT(*) AS n FROM uploads WHERE id = ?', [up.id])).toBe(1);
    expect(await count('SELECT COUNT(*) AS n FROM visual_analysis_results WHERE upload_id = ?', [up.id])).toBe(1);
    // Without it, the delete goes through and takes the analyses along.
    expect(
      (await stack.api.inject({ method: 'DELETE', url: `/api/uploads/${up.id}`, headers: alice.auth })).statusCode,
    ).toBe(204);
    expect(await count('SELECT COUNT(*) AS n FROM visual_analysis_results WHERE upload_id = ?', [up.id])).toBe(0);
  });

  it('a removed listener is not called again; several listeners each run once per event', async () => {
    const calls: string[] = [];
    const offA = events.on('committed', async () => void calls.push('a'));
    const offB = events.on('committed', async () => void calls.push('b'));
    expect((await post(alice, await solidPng(23, 23, '#aabbcc'))).statusCode).toBe(201);
    offA();
    expect((await post(alice, await solidPng(24, 24, '#ddeeff'))).statusCode).toBe(201);
    offB();
    expect(calls).toEqual(['a', 'b', 'b']);
  });

  it('Uploads without VisualAnalysis (no summary reader): intake, listing and delete work, upload objects have no analysis', async () => {
    const config = stack.config;
    @Module({
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(config),
        CacheModule.forRoot(config),
        StorageModule.forRoot(config),
        UsersModule.register(config, { http: false }),
        UploadsModule.register({ http: false, sweep: false }),
      ],
    })
    class UploadsOnly {}
    const app = await NestFactory.createApplicationContext(UploadsOnly, { logger: false });
    onTestFinished(() => app.close());
    expect(() => app.get(ANALYSIS_SUMMARY_READER, { strict: false })).toThrow();
    const intake = app.get(UploadIntake, { strict: false });
    const uploads = app.get(UploadsService, { strict: false });
    const png = await solidPng(25, 25, '#010203');
    const { status, body } = await intake.ingest(alice.id, Readable.from(png), 'solo.png', 'solo');
    expect(status).toBe(201);
    expect(body).not.toHaveProperty('analysis');
    expect(await count('SELECT COUNT(*) AS n FROM visual_analysis_results WHERE upload_id = ?', [body.id])).toBe(0);
    const page = await uploads.list(alice.id, {}, { mode: 'page', page: 1, size: 200 });
    const item = page.items.find((u) => u.id === body.id);
    expect(item).toBeDefined();
    expect(item).not.toHaveProperty('analysis');
    await uploads.delete(alice.id, body.id);
    expect(await count('SELECT COUNT(*) AS n FROM uploads WHERE id = ?', [body.id])).toBe(0);
  });
});

async function countOn(manager: EntityManager, sql: string, params: unknown[]): Promise<number> {
  return Number(((await manager.query(sql, params)) as { n: number | string }[])[0].n);
}
