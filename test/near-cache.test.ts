import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { CacheService } from '@echo/cache';
import { secondApi, servicesUp, startStack, type TestStack } from './support/app.js';
import { multipart, solidPng } from './support/images.js';
import { deactivate, register, registerAdmin } from './support/users.js';
import { waitFor } from './support/wait.js';

/**
 * Two API processes' worth of apps on one database and one Redis: what one changes, the other's
 * in-process first tier (user records, list versions) must stop serving at once.
 */
describe.skipIf(!servicesUp())('in-process cache tier across API processes (MariaDB + Redis)', () => {
  let stack: TestStack;
  let a: NestFastifyApplication;
  let b: NestFastifyApplication;

  beforeAll(async () => {
    stack = await startStack('near-cache', { CACHE_NEAR_TTL_MS: '5000' });
    a = stack.api;
    b = await secondApi(stack);
  });
  afterAll(async () => {
    await b?.close();
    await stack?.close();
  });

  /** First request whose answer satisfies `ok`, within `ms`; returns how long it took. */
  const within = async (ms: number, request: () => Promise<boolean>) => {
    const started = Date.now();
    await waitFor(async () => (await request()) || undefined, ms, 'the other process to see the change');
    return Date.now() - started;
  };

  it('serves the user record from memory on repeat (no Redis read), and a deactivation on A is refused on B', async () => {
    const admin = await registerAdmin(a);
    for (let run = 0; run < 10; run++) {
      const alice = await register(a, 'near');
      // First read loads it into Redis, the second copies it into B's memory, the third stays there.
      expect((await b.inject({ method: 'GET', url: '/api/users/me', headers: alice.auth })).statusCode).toBe(200);
      expect((await b.inject({ method: 'GET', url: '/api/users/me', headers: alice.auth })).statusCode).toBe(200);
      const near = b.get(CacheService).stats.nearHits;
      expect((await b.inject({ method: 'GET', url: '/api/users/me', headers: alice.auth })).statusCode).toBe(200);
      expect(b.get(CacheService).stats.nearHits).toBe(near + 1);

      const res = await deactivate(a, admin, alice.id);
      expect(res.statusCode).toBe(200);
      const took = await within(
        500,
        async () => (await b.inject({ method: 'GET', url: '/api/users/me', headers: alice.auth })).statusCode === 401,
      );
      expect(took).toBeLessThan(500);
    }
  });

  it('a profile edit on A shows on B; logout-all on A ends the session on B', async () => {
    const s = await register(a, 'edit');
    // Twice: the record is then in B's memory.
    await b.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
    await b.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
    await a.inject({ method: 'PATCH', url: '/api/users/me', headers: s.auth, payload: { display_name: 'Renamed' } });
    await within(
      500,
      async () =>
        (await b.inject({ method: 'GET', url: '/api/users/me', headers: s.auth })).json().display_name === 'Renamed',
    );
    await b.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
    await a.inject({ method: 'POST', url: '/api/auth/logout-all', headers: s.auth });
    await within(
      500,
      async () => (await b.inject({ method: 'GET', url: '/api/users/me', headers: s.auth })).statusCode === 401,
    );
  });

  it('a list whose version was never bumped is served without a version read on repeat; its first upload on A shows on B', async () => {
    const s = await register(a, 'fresh');
    const list = async () =>
      (await b.inject({ method: 'GET', url: '/api/uploads', headers: s.auth })).json().count as number;
    // Twice: the user record then is in B's memory too (the first read may find it only in the
    // database, and a value loaded there reaches memory on its next read from Redis).
    expect(await list()).toBe(0);
    expect(await list()).toBe(0);
    const near = b.get(CacheService).stats.nearHits;
    expect(await list()).toBe(0);
    // The user record and the (absent, so 0) version both came from memory.
    expect(b.get(CacheService).stats.nearHits).toBeGreaterThanOrEqual(near + 2);
    const form = multipart([
      { name: 'file', filename: 'a.png', contentType: 'image/png', data: await solidPng(9, 9, '#0a0b0c') },
    ]);
    const res = await a.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...s.auth, ...form.headers },
      payload: form.payload,
    });
    expect(res.statusCode).toBe(201);
    await within(500, async () => (await list()) === 1);
  });

  it('an upload on A appears in the list B serves (its cached page version moves)', async () => {
    const s = await register(a, 'list');
    const list = async () =>
      (await b.inject({ method: 'GET', url: '/api/uploads', headers: s.auth })).json().count as number;
    const upload = async (color: string) => {
      const form = multipart([
        { name: 'file', filename: 'a.png', contentType: 'image/png', data: await solidPng(9, 9, color) },
      ]);
      expect(
        (
          await a.inject({
            method: 'POST',
            url: '/api/uploads',
            headers: { ...s.auth, ...form.headers },
            payload: form.payload,
          })
        ).statusCode,
      ).toBe(201);
    };
    await upload('#010203'); // the list's version counter exists from here on
    await within(500, async () => (await list()) === 1);
    const near = b.get(CacheService).stats.nearHits;
    expect(await list()).toBe(1);
    expect(await list()).toBe(1);
    expect(b.get(CacheService).stats.nearHits).toBeGreaterThan(near); // the version came from memory
    await upload('#040506');
    await within(500, async () => (await list()) === 2);
  });
});
