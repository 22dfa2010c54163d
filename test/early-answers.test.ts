import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { dbQueriesSent } from '@echo/database';
import { PaginationInterceptor } from '@echo/pagination';
import { UsersController } from '../libs/users/src/users.controller.js';
import { secondApi, servicesUp, startStack, type TestStack } from './support/app.js';
import { multipart, solidPng } from './support/images.js';
import { postUpload } from './support/uploads.js';
import { deactivate, register, registerAdmin, type Session } from './support/users.js';
import { waitFor } from './support/wait.js';

/**
 * Reads answered before Nest's pipeline runs: a repeat GET /api/uploads from its cached bytes
 * (servePageBodiesEarly) and GET /api/users/me from the authenticated user (serveProfileEarly).
 * They must answer exactly what Nest would, and refuse exactly what the global guard refuses, on
 * this process and on another one (two apps, one Redis).
 */
describe.skipIf(!servicesUp())('own uploads page and profile served before Nest’s pipeline (MariaDB + Redis)', () => {
  let stack: TestStack;
  let a: NestFastifyApplication;
  let b: NestFastifyApplication;
  let intercept: ReturnType<typeof vi.spyOn>;

  beforeAll(async () => {
    stack = await startStack('page-early');
    a = stack.api;
    b = await secondApi(stack);
  });
  afterAll(async () => {
    await b?.close();
    await stack?.close();
  });
  afterEach(() => intercept?.mockRestore());

  it('GET /api/users/me skips the controller and answers what PATCH /api/users/me (through Nest) says the user is; refusals still go to Nest', async () => {
    const admin = await registerAdmin(a);
    const s = await register(a, 'profile');
    const patched = await a.inject({
      method: 'PATCH',
      url: '/api/users/me',
      headers: s.auth,
      payload: { display_name: 'Early Bird' },
    });
    expect(patched.statusCode).toBe(200);
    const me = vi.spyOn(UsersController.prototype, 'me');
    try {
      for (const app of [a, b, a]) {
        const res = await app.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(res.json()).toEqual(patched.json());
      }
      expect(me).not.toHaveBeenCalled();
      const refused = await a.inject({ method: 'GET', url: '/api/users/me' });
      expect(refused.statusCode).toBe(401);
      expect(refused.json()).toHaveProperty('detail');
      await deactivate(a, admin, s.id);
      expect((await a.inject({ method: 'GET', url: '/api/users/me', headers: s.auth })).statusCode).toBe(401);
      expect(me).not.toHaveBeenCalled();
    } finally {
      me.mockRestore();
    }
  });

  let colors = 0;
  const upload = async (s: Session) =>
    postUpload(
      a,
      s,
      multipart([
        {
          name: 'file',
          filename: 'a.png',
          contentType: 'image/png',
          data: await solidPng(9, 9, `#${(++colors).toString(16).padStart(6, '0')}`),
        },
      ]),
    );
  const spyOnNest = () => (intercept = vi.spyOn(PaginationInterceptor.prototype, 'intercept'));
  const list = (app: NestFastifyApplication, s: Pick<Session, 'auth'> | undefined, query = '') =>
    app.inject({ method: 'GET', url: `/api/uploads${query}`, headers: s?.auth ?? {} });

  it('the second identical request skips Nest and sends the same bytes and headers', async () => {
    const s = await register(a, 'early');
    await upload(s);
    spyOnNest();
    const first = await list(a, s, '?page_size=5');
    expect(first.statusCode).toBe(200);
    expect(intercept).toHaveBeenCalledTimes(1);
    const second = await list(a, s, '?page_size=5');
    expect(intercept).toHaveBeenCalledTimes(1); // answered before the interceptor
    expect(second.statusCode).toBe(200);
    expect(second.body).toBe(first.body);
    expect(second.json().count).toBe(1);
    for (const header of ['content-type', 'x-content-type-options', 'x-frame-options', 'strict-transport-security'])
      expect(second.headers[header], header).toBe(first.headers[header]);
    expect(second.headers['x-request-id']).toBeTruthy();
    expect(second.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    // The same page spelled differently is the same entry.
    expect((await list(a, s, '?page_size=05&page=1')).body).toBe(first.body);
    expect(intercept).toHaveBeenCalledTimes(1);
  });

  it('refuses what the guard refuses, with a page cached: no token, a bad one, after logout-all, after deactivation', async () => {
    const admin = await registerAdmin(a);
    const s = await register(a, 'refused');
    await upload(s);
    for (const app of [a, a, b, b]) expect((await list(app, s)).statusCode).toBe(200); // cached; both hold the user in memory

    expect((await list(a, undefined)).statusCode).toBe(401);
    expect((await list(a, { auth: { authorization: `Bearer ${s.access}x` } })).statusCode).toBe(401);

    const t = await register(a, 'ended');
    await upload(t);
    for (const app of [a, a, b, b]) expect((await list(app, t)).statusCode).toBe(200);
    expect((await a.inject({ method: 'POST', url: '/api/auth/logout-all', headers: t.auth })).statusCode).toBe(204);
    // At once on the process that ended the sessions; on the other, once the invalidation arrives.
    expect((await list(a, t)).statusCode).toBe(401);
    await waitFor(async () => (await list(b, t)).statusCode === 401 || undefined, 1000, 'logout-all seen on B');
    expect((await list(b, t)).statusCode).toBe(401);

    const res = await deactivate(a, admin, s.id);
    expect(res.statusCode).toBe(200);
    expect((await list(a, s)).statusCode).toBe(401);
    await waitFor(async () => (await list(b, s)).statusCode === 401 || undefined, 1000, 'deactivation seen on B');
    expect((await list(b, s)).statusCode).toBe(401);
  });

  it('each user gets their own bytes; a new upload (on the other process) replaces the cached page', async () => {
    const s = await register(a, 'mine');
    const other = await register(a, 'theirs');
    await upload(s);
    expect((await list(b, s)).json().count).toBe(1);
    expect((await list(b, s)).json().count).toBe(1);
    expect((await list(b, other)).json().count).toBe(0);
    await upload(s);
    await waitFor(async () => (await list(b, s)).json().count === 2 || undefined, 1000, 'the new upload listed on B');
  });

  it('what Nest refuses is never answered early: a bad page, a bad filter, the same twice', async () => {
    const s = await register(a, 'bad');
    await upload(s);
    await list(a, s);
    for (let i = 0; i < 2; i++) {
      expect((await list(a, s, '?page=0')).statusCode).toBe(404);
      expect((await list(a, s, '?page=abc')).statusCode).toBe(404);
      const filter = await list(a, s, '?content_type=text/html');
      expect(filter.statusCode).toBe(400);
      expect(filter.json()).toHaveProperty('content_type');
      expect((await list(a, s, '?created_after=yesterday')).statusCode).toBe(400);
    }
  });
});

describe.skipIf(!servicesUp())('with the cache off, the early answers and the guard read the user once', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack('early-nocache', { CACHE_ENABLED: 'false' });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('GET /api/uploads: the user and one statement (rows, statuses and count); GET /api/users/me: 1', async () => {
    const s = await register(stack.api, 'nocache');
    const form = multipart([
      { name: 'file', filename: 'a.png', contentType: 'image/png', data: await solidPng(9, 9, '#0c0d0e') },
    ]);
    await postUpload(stack.api, s, form);
    const queries = async (url: string) => {
      const before = dbQueriesSent();
      const res = await stack.api.inject({ method: 'GET', url, headers: s.auth });
      expect(res.statusCode).toBe(200);
      return dbQueriesSent() - before;
    };
    // The page's rows carry their latest analysis and the list's total: one statement after the user.
    expect(await queries('/api/uploads')).toBe(2);
    expect(await queries('/api/uploads')).toBe(2);
    expect(await queries('/api/uploads?page_size=1')).toBe(2);
    expect(await queries('/api/users/me')).toBe(1);
    // A page past the end: its statement finds no rows (an index-only walk of this list's ids) → 404.
    const before = dbQueriesSent();
    const past = await stack.api.inject({ method: 'GET', url: '/api/uploads?page=9', headers: s.auth });
    expect(past.statusCode).toBe(404);
    expect(dbQueriesSent() - before).toBe(2);
    // An offset no list can reach is refused before any statement but the caller's.
    const far = dbQueriesSent();
    const huge = await stack.api.inject({ method: 'GET', url: '/api/uploads?page=900719925474099', headers: s.auth });
    expect(huge.statusCode).toBe(404);
    expect(huge.json()).toEqual({ detail: 'Invalid page.' });
    expect(dbQueriesSent() - far).toBe(1);
  });
});
