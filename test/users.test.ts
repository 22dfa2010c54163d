import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { JwtService } from '@nestjs/jwt';
import { mysqlPool } from '@echo/database';
import { createAdmin } from '../apps/cli/src/create-admin.js';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { PASSWORD, register, registerAdmin, type Session } from './support/users.js';

const USER_KEYS = ['date_joined', 'display_name', 'email', 'id', 'is_active', 'last_login', 'role', 'username'];

describe.skipIf(!servicesUp())('users and auth (MariaDB + Redis)', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let db: DataSource;
  const countUsers = async () => Number((await db.query('SELECT COUNT(*) AS n FROM users'))[0].n);

  beforeAll(async () => {
    stack = await startStack('users', { THROTTLE_AUTH_LIMIT: '1000' });
    api = stack.api;
    db = api.get(DataSource);
  });
  afterAll(() => stack?.close());

  describe('register', () => {
    it('returns 201 with the user object and a token pair', async () => {
      const res = await api.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username: 'alice', email: 'Alice@Example.com', password: PASSWORD, display_name: 'Alice' },
      });
      expect(res.statusCode).toBe(201);
      const body = res.json();
      expect(Object.keys(body).sort()).toEqual(['access', 'refresh', 'user']);
      expect(Object.keys(body.user).sort()).toEqual(USER_KEYS);
      expect(body.user).toMatchObject({
        username: 'alice',
        email: 'alice@example.com',
        display_name: 'Alice',
        role: 'user',
        is_active: true,
        last_login: null,
      });
      expect(new Date(body.user.date_joined).toISOString()).toBe(body.user.date_joined);
      expect(res.body).not.toMatch(/argon2|password/);
    });

    it.each([
      ['duplicate username', { username: 'alice', email: 'other@example.com', password: PASSWORD }, 'username'],
      ['duplicate email (any case)', { username: 'alice2', email: 'ALICE@example.com', password: PASSWORD }, 'email'],
      ['malformed email', { username: 'bob', email: 'not-an-email', password: PASSWORD }, 'email'],
      ['short password', { username: 'bob', email: 'bob@example.com', password: 'abc1' }, 'password'],
      ['letters-only password', { username: 'bob', email: 'bob@example.com', password: 'abcdefghijkl' }, 'password'],
      ['unknown field', { username: 'bob', email: 'bob@example.com', password: PASSWORD, is_admin: true }, 'is_admin'],
      ['missing username', { email: 'bob@example.com', password: PASSWORD }, 'username'],
    ])('%s → 400 naming the field, nothing written', async (_, payload, field) => {
      const before = await countUsers();
      const res = await api.inject({ method: 'POST', url: '/api/auth/register', payload });
      expect(res.statusCode).toBe(400);
      const body = res.json();
      expect(Object.keys(body)).toContain(field);
      expect(Array.isArray(body[field]) && typeof body[field][0] === 'string').toBe(true);
      expect(await countUsers()).toBe(before);
    });

    it('rejects an oversized JSON body with 413', async () => {
      const res = await api.inject({
        method: 'POST',
        url: '/api/auth/register',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ username: 'x'.repeat(2 * 1024 * 1024) }),
      });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toEqual({ detail: expect.any(String) });
    });
  });

  it('DRF-style trailing slashes reach the same routes (GET /api/users/me/, /api/uploads/; POST /api/auth/login/)', async () => {
    const s = await register(api);
    const me = await api.inject({ method: 'GET', url: '/api/users/me/', headers: s.auth });
    expect(me.statusCode).toBe(200);
    expect(me.json().username).toBe(s.username);
    const list = await api.inject({ method: 'GET', url: '/api/uploads/?page_size=5', headers: s.auth });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ count: 0, results: [] });
    const login = await api.inject({
      method: 'POST',
      url: '/api/auth/login/',
      payload: { username: s.username, password: PASSWORD },
    });
    expect(login.statusCode).toBe(200);
  });

  describe('login', () => {
    it('accepts username or email and records last_login', async () => {
      const s = await register(api);
      for (const payload of [{ username: s.username }, { email: `${s.username.toUpperCase()}@EXAMPLE.COM` }]) {
        const res = await api.inject({
          method: 'POST',
          url: '/api/auth/login',
          payload: { ...payload, password: PASSWORD },
        });
        expect(res.statusCode).toBe(200);
        expect(Object.keys(res.json()).sort()).toEqual(['access', 'refresh']);
      }
      const me = await api.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
      expect(me.json().last_login).not.toBeNull();
    });

    it('answers a wrong password and an unknown user identically, in the same timing class', async () => {
      const s = await register(api);
      const time = async (payload: object) => {
        const t = performance.now();
        const res = await api.inject({ method: 'POST', url: '/api/auth/login', payload });
        return { ms: performance.now() - t, status: res.statusCode, body: res.json() };
      };
      const wrong: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 5; i++) {
        const a = await time({ username: s.username, password: 'wrong-password-1' });
        const b = await time({ username: `nobody_${i}`, password: 'wrong-password-1' });
        expect(a.status).toBe(401);
        expect(b.status).toBe(401);
        expect(a.body).toEqual(b.body);
        wrong.push(a.ms);
        unknown.push(b.ms);
      }
      const median = (xs: number[]) => xs.sort((x, y) => x - y)[2];
      // Both paths run one argon2id verify: neither is an order of magnitude faster.
      const ratio = median(unknown) / median(wrong);
      expect(ratio).toBeGreaterThan(0.33);
      expect(ratio).toBeLessThan(3);
    });
  });

  describe('access tokens', () => {
    let s: Session;
    beforeAll(async () => {
      s = await register(api);
    });

    it('GET /api/users/me needs a token', async () => {
      const res = await api.inject({ method: 'GET', url: '/api/users/me' });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ detail: 'Authentication credentials were not provided.' });
    });

    it('a token accepted once (and remembered as verified) is refused once it expires', async () => {
      const s = await register(api, 'exp');
      const token = await api
        .get(JwtService)
        .signAsync(
          { sub: String(s.id), typ: 'access', ver: 0 },
          { secret: stack.config.auth.jwtSecret, algorithm: 'HS256', expiresIn: 2 },
        );
      const me = () =>
        api.inject({ method: 'GET', url: '/api/users/me', headers: { authorization: `Bearer ${token}` } });
      expect((await me()).statusCode).toBe(200);
      expect((await me()).statusCode).toBe(200);
      await new Promise((r) => setTimeout(r, 2100));
      expect((await me()).statusCode).toBe(401);
    });

    it('accepts a token HS256-signed with JWT_SECRET as text (the key object holds the same bytes)', async () => {
      const token = await api
        .get(JwtService)
        .signAsync(
          { sub: String(s.id), typ: 'access' },
          { secret: stack.config.auth.jwtSecret, algorithm: 'HS256', expiresIn: 60 },
        );
      const res = await api.inject({
        method: 'GET',
        url: '/api/users/me',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().id).toBe(s.id);
    });

    it('rejects tampered, expired, wrong-algorithm and unsigned tokens', async () => {
      const jwt = api.get(JwtService);
      const secret = stack.config.auth.jwtSecret;
      const [h, p, sig] = s.access.split('.');
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
      const forged = Buffer.from(JSON.stringify({ ...payload, sub: '1' })).toString('base64url');
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
      const tokens = {
        tampered: `${h}.${forged}.${sig}`,
        expired: await jwt.signAsync(
          { sub: String(s.id), typ: 'access' },
          { secret, algorithm: 'HS256', expiresIn: -10 },
        ),
        hs512: await jwt.signAsync({ sub: String(s.id), typ: 'access' }, { secret, algorithm: 'HS512' }),
        none,
        garbage: 'abc.def.ghi',
      };
      for (const [name, token] of Object.entries(tokens)) {
        const res = await api.inject({
          method: 'GET',
          url: '/api/users/me',
          headers: { authorization: `Bearer ${token}` },
        });
        expect(res.statusCode, name).toBe(401);
        expect(res.json(), name).toEqual({ detail: expect.any(String) });
      }
    });

    it('serves the profile from the cache: no database query on a repeat read', async () => {
      const pool = mysqlPool(db)!;
      let acquired = 0;
      const count = () => acquired++;
      await api.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
      pool.on('acquire', count);
      const res = await api.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
      (pool as unknown as { off(e: string, f: () => void): void }).off('acquire', count);
      expect(res.statusCode).toBe(200);
      expect(res.json().username).toBe(s.username);
      expect(acquired).toBe(0);
    });

    it('PATCH /api/users/me is visible on the next read (cache invalidated)', async () => {
      await api.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
      const patch = await api.inject({
        method: 'PATCH',
        url: '/api/users/me',
        headers: s.auth,
        payload: { display_name: 'New Name' },
      });
      expect(patch.statusCode).toBe(200);
      expect(patch.json().display_name).toBe('New Name');
      const me = await api.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
      expect(me.json().display_name).toBe('New Name');
    });

    it('changing email or password needs the current password', async () => {
      const noCurrent = await api.inject({
        method: 'PATCH',
        url: '/api/users/me',
        headers: s.auth,
        payload: { password: 'another-pass-99' },
      });
      expect(noCurrent.statusCode).toBe(400);
      expect(noCurrent.json()).toHaveProperty('current_password');
      const wrong = await api.inject({
        method: 'PATCH',
        url: '/api/users/me',
        headers: s.auth,
        payload: { password: 'another-pass-99', current_password: 'nope-nope-1' },
      });
      expect(wrong.statusCode).toBe(400);
      expect(wrong.json()).toHaveProperty('current_password');
      const ok = await api.inject({
        method: 'PATCH',
        url: '/api/users/me',
        headers: s.auth,
        payload: { password: 'another-pass-99', email: `new_${s.username}@example.com`, current_password: PASSWORD },
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.json().email).toBe(`new_${s.username}@example.com`);
      const login = await api.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: s.username, password: 'another-pass-99' },
      });
      expect(login.statusCode).toBe(200);
      const old = await api.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: s.username, password: PASSWORD },
      });
      expect(old.statusCode).toBe(401);
    });
  });

  describe('refresh tokens', () => {
    it('rotate: a used refresh token cannot be used again, and reuse revokes the family', async () => {
      const s = await register(api);
      const first = await api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: s.refresh } });
      expect(first.statusCode).toBe(200);
      const next = first.json();
      expect(next.refresh).not.toBe(s.refresh);
      const me = await api.inject({
        method: 'GET',
        url: '/api/users/me',
        headers: { authorization: `Bearer ${next.access}` },
      });
      expect(me.statusCode).toBe(200);

      const reuse = await api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: s.refresh } });
      expect(reuse.statusCode).toBe(401);
      expect(reuse.json()).toEqual({ detail: expect.any(String) });
      // The thief's reuse also kills the legitimate successor.
      const successor = await api.inject({
        method: 'POST',
        url: '/api/auth/refresh',
        payload: { refresh: next.refresh },
      });
      expect(successor.statusCode).toBe(401);
    });

    it('logout revokes the refresh token (204)', async () => {
      const s = await register(api);
      const out = await api.inject({ method: 'POST', url: '/api/auth/logout', payload: { refresh: s.refresh } });
      expect(out.statusCode).toBe(204);
      const res = await api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: s.refresh } });
      expect(res.statusCode).toBe(401);
    });

    it('a forged refresh token is 401', async () => {
      const s = await register(api);
      const [id] = s.refresh.split('.');
      const res = await api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: `${id}.forged` } });
      expect(res.statusCode).toBe(401);
    });
  });

  describe('admin', () => {
    let admin: Session;
    beforeAll(async () => {
      admin = await registerAdmin(api);
    });

    it('refuses non-admins with 403', async () => {
      const s = await register(api);
      const res = await api.inject({ method: 'GET', url: '/api/admin/users', headers: s.auth });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({ detail: 'You do not have permission to perform this action.' });
    });

    it('lists users with DRF pages, filters and ordering', async () => {
      const tag = `flt${Date.now().toString(36)}`;
      for (let i = 0; i < 3; i++) {
        await api.inject({
          method: 'POST',
          url: '/api/auth/register',
          payload: { username: `${tag}_${i}`, email: `${tag}_${i}@example.com`, password: PASSWORD },
        });
      }
      const page = await api.inject({
        method: 'GET',
        url: `/api/admin/users?search=${tag}&page_size=2&ordering=username`,
        headers: admin.auth,
      });
      expect(page.statusCode).toBe(200);
      const body = page.json();
      expect(body.count).toBe(3);
      expect(body.results.map((u: { username: string }) => u.username)).toEqual([`${tag}_0`, `${tag}_1`]);
      expect(body.next).toMatch(/^http:\/\/[^/]+\/api\/admin\/users\?/);
      expect(new URL(body.next).searchParams.get('search')).toBe(tag);
      expect(new URL(body.next).searchParams.get('page')).toBe('2');
      expect(body.previous).toBeNull();

      const desc = await api.inject({
        method: 'GET',
        url: `/api/admin/users?search=${tag}&ordering=-username`,
        headers: admin.auth,
      });
      expect(desc.json().results[0].username).toBe(`${tag}_2`);

      const admins = await api.inject({ method: 'GET', url: '/api/admin/users?role=admin', headers: admin.auth });
      expect(admins.json().results.every((u: { role: string }) => u.role === 'admin')).toBe(true);
      expect(admins.json().results.some((u: { id: number }) => u.id === admin.id)).toBe(true);

      const bad = await api.inject({ method: 'GET', url: '/api/admin/users?role=king', headers: admin.auth });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toHaveProperty('role');
    });

    it('treats SQL-looking and wildcard search strings as text', async () => {
      for (const search of ["' OR 1=1 --", '%', '_', "a%' OR 'x'='x"]) {
        const res = await api.inject({
          method: 'GET',
          url: `/api/admin/users?search=${encodeURIComponent(search)}`,
          headers: admin.auth,
        });
        expect(res.statusCode).toBe(200);
        expect(res.json().count).toBe(0);
      }
      expect(await countUsers()).toBeGreaterThan(3);
    });

    it('detail is 404 for an unknown id', async () => {
      const res = await api.inject({ method: 'GET', url: '/api/admin/users/999999', headers: admin.auth });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ detail: 'Not found.' });
    });

    it('deactivation is immediate: the still-valid access token and the refresh token stop working', async () => {
      const s = await register(api);
      expect((await api.inject({ method: 'GET', url: '/api/users/me', headers: s.auth })).statusCode).toBe(200); // now cached
      const patch = await api.inject({
        method: 'PATCH',
        url: `/api/admin/users/${s.id}`,
        headers: admin.auth,
        payload: { is_active: false },
      });
      expect(patch.statusCode).toBe(200);
      expect(patch.json().is_active).toBe(false);
      const me = await api.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
      expect(me.statusCode).toBe(401);
      const refresh = await api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: s.refresh } });
      expect(refresh.statusCode).toBe(401);
      const login = await api.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: s.username, password: PASSWORD },
      });
      expect(login.statusCode).toBe(401);
    });

    it('the last active admin cannot be demoted or deactivated', async () => {
      await db.query("UPDATE users SET role = 'user' WHERE role = 'admin' AND id <> ?", [admin.id]);
      for (const payload of [{ role: 'user' }, { is_active: false }]) {
        const res = await api.inject({
          method: 'PATCH',
          url: `/api/admin/users/${admin.id}`,
          headers: admin.auth,
          payload,
        });
        expect(res.statusCode).toBe(400);
        expect(res.json().detail).toMatch(/last active admin/);
      }
      const other = await registerAdmin(api);
      const ok = await api.inject({
        method: 'PATCH',
        url: `/api/admin/users/${other.id}`,
        headers: admin.auth,
        payload: { role: 'user' },
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.json().role).toBe('user');
    });
  });

  it('create-admin creates a new admin, and refuses a taken username or email without --promote', async () => {
    await createAdmin(stack.config, [
      '--username',
      'root_admin',
      '--email',
      'root@example.com',
      '--password',
      PASSWORD,
    ]);
    await expect(
      createAdmin(stack.config, ['--username', 'root_admin', '--email', 'other@example.com', '--password', PASSWORD]),
    ).rejects.toThrow(/already taken.*--promote/);
    const rows = await db.query("SELECT role, is_active FROM users WHERE username = 'root_admin'");
    expect(rows).toHaveLength(1);
    expect(rows[0].role).toBe('admin');
    const login = await api.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'root_admin', password: PASSWORD },
    });
    expect(login.statusCode).toBe(200);
  });
});

describe.skipIf(!servicesUp())('auth throttling (shared in Redis)', () => {
  let a: TestStack;
  beforeAll(async () => {
    a = await startStack('throttle', { THROTTLE_AUTH_LIMIT: '3', THROTTLE_AUTH_TTL_SECONDS: '60' });
  });
  afterAll(() => a?.close());

  it('limits login per account with 429 + Retry-After, across API processes', async () => {
    const s = await register(a.api);
    const attempt = (api: TestStack['api']) =>
      api.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: s.username, password: 'wrong-password-1' },
      });
    for (let i = 0; i < 3; i++) expect((await attempt(a.api)).statusCode).toBe(401);
    // A second API process on the same Redis sees the same counter.
    const { createApiApp } = await import('../apps/api/src/create-api-app.js');
    const b = await createApiApp(a.config, { logger: false });
    await b.init();
    await b.getHttpAdapter().getInstance().ready();
    try {
      const limited = await attempt(b);
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.json().detail).toMatch(/^Request was throttled\. Expected available in \d+ seconds?\.$/);
    } finally {
      await b.close();
    }
  });

  it('limits credential requests per client IP across accounts (3× the account limit)', async () => {
    const attempt = (i: number) =>
      a.api.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: '10.9.8.7',
        payload: { username: `nobody_${i}`, password: 'wrong-password-1' },
      });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await attempt(i)).statusCode);
    // 9 different accounts pass the per-account limit but not the per-IP one.
    expect(statuses.slice(0, 9)).toEqual(Array(9).fill(401));
    expect(statuses[9]).toBe(429);
    const other = await a.api.inject({
      method: 'POST',
      url: '/api/auth/login',
      remoteAddress: '10.9.8.8',
      payload: { username: 'nobody_x', password: 'wrong-password-1' },
    });
    expect(other.statusCode).toBe(401);
  });

  /** The routes that check a password, each as a wrong guess at `username` from `ip`. */
  const PASSWORD_ROUTES = ['/api/auth/login', '/api/auth/session', '/api/users/me/restore'];
  const guess = (url: string, username: string, ip: string) =>
    a.api.inject({
      method: 'POST',
      url,
      remoteAddress: ip,
      // The cookie sign-in's CSRF header; the other routes ignore it.
      headers: { 'x-echo-csrf': '1' },
      payload: { username, password: 'wrong-password-1' },
    });

  it('one per-account limit across login, the cookie sign-in and restore', async () => {
    const other = await register(a.api);
    for (const [i, spent] of PASSWORD_ROUTES.entries()) {
      const victim = await register(a.api);
      // Its own client address per round, so only the per-account counter is in play.
      const ip = `10.9.7.${i + 1}`;
      for (let n = 0; n < 3; n++) expect((await guess(spent, victim.username, ip)).statusCode, spent).toBe(401);
      for (const url of PASSWORD_ROUTES) {
        const refused = await guess(url, victim.username, ip);
        expect(refused.statusCode, `${url} after ${spent}`).toBe(429);
        expect(refused.json()).toEqual({
          detail: expect.stringMatching(/^Request was throttled\. Expected available in \d+ seconds?\.$/),
        });
        expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      }
    }
    // Another account's counter is its own.
    for (const url of PASSWORD_ROUTES) expect((await guess(url, other.username, '10.9.7.9')).statusCode, url).toBe(401);
  });

  it('one per-IP limit across the password routes', async () => {
    // 9 guesses at 9 accounts, 3 on each route, use up the per-IP limit (3 × 3) only if the
    // routes share one counter: then the next guess is refused on every route.
    for (let i = 0; i < 9; i++)
      expect((await guess(PASSWORD_ROUTES[i % 3], `nobody_ip_${i}`, '10.9.6.1')).statusCode).toBe(401);
    for (const url of PASSWORD_ROUTES) expect((await guess(url, 'nobody_ip_x', '10.9.6.1')).statusCode, url).toBe(429);
  });
});
