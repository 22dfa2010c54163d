import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { DataSource } from 'typeorm';
import { JwtService } from '@nestjs/jwt';
import sharp from 'sharp';
import { readImageHeader } from '@echo/uploads';
import { createAdmin } from '../apps/cli/src/create-admin.js';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { multipart, solidJpeg } from './support/images.js';
import { deactivate, PASSWORD, register, registerAdmin, type Session } from './support/users.js';
import { waitFor } from './support/wait.js';

/**
 * One case per attack found against Echo's main (issue "Security"): each failed on 8d1076b and
 * passes with its fix. The attacks that already held are in security-held.test.ts.
 */
describe.skipIf(!servicesUp())('security (MariaDB + Redis)', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let db: DataSource;
  const login = (payload: unknown, headers: Record<string, string> = {}) =>
    api.inject({ method: 'POST', url: '/api/auth/login', payload: payload as object, headers });
  const me = (s: { access: string }) =>
    api.inject({ method: 'GET', url: '/api/users/me', headers: { authorization: `Bearer ${s.access}` } });
  const refresh = (token: string) =>
    api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: token } });

  beforeAll(async () => {
    stack = await startStack(
      'security',
      { THROTTLE_AUTH_LIMIT: '1000', HTTP_REQUEST_TIMEOUT_MS: '1500', HTTP_HEADERS_TIMEOUT_MS: '1000' },
      { worker: true },
    );
    api = stack.api;
    db = api.get(DataSource);
  });
  afterAll(() => stack?.close());

  describe('1. password guessing', () => {
    let throttled: TestStack;
    beforeAll(async () => {
      throttled = await startStack('sec-throttle', { THROTTLE_AUTH_LIMIT: '5' });
    });
    afterAll(() => throttled?.close());
    const guess = (payload: unknown, headers: Record<string, string> = {}) =>
      throttled.api.inject({ method: 'POST', url: '/api/auth/login', payload: payload as object, headers });

    it('a login must name exactly one identifier, as a string: arrays, numbers, objects and both at once are 400 naming the field', async () => {
      const bob = await register(api, 'bob');
      for (const [payload, field] of [
        [{ username: [bob.username], email: 0, password: PASSWORD }, 'username'],
        [{ username: { $ne: 1 }, password: PASSWORD }, 'username'],
        [{ email: [bob.username], password: PASSWORD }, 'email'],
        [{ username: bob.username, email: `${bob.username}@example.com`, password: PASSWORD }, 'email'],
        [{ username: bob.username, password: ['x'] }, 'password'],
      ] as const) {
        const res = await login(payload);
        expect(res.statusCode, JSON.stringify(payload)).toBe(400);
        expect(Object.keys(res.json())).toContain(field);
      }
      expect((await login({ username: bob.username, password: PASSWORD })).statusCode).toBe(200);
    });

    it('40 guesses at one account with a rotating X-Forwarded-For are throttled (per account)', async () => {
      const victim = await register(throttled.api, 'victim');
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const res = await guess(
          { username: victim.username.toUpperCase(), password: `guess-${i}-xx` },
          { 'x-forwarded-for': `203.0.113.${i}` },
        );
        statuses.push(res.statusCode);
        if (res.statusCode === 429) {
          expect(res.headers['retry-after']).toMatch(/^\d+$/);
          expect(res.json().detail).toMatch(/throttled/);
        }
      }
      expect(statuses.slice(0, 5).every((s) => s === 401)).toBe(true);
      expect(statuses.slice(5).every((s) => s === 429)).toBe(true);
      // Malformed identifiers share one bucket: they do not escape the limit either.
      const bad: number[] = [];
      for (let i = 0; i < 8; i++)
        bad.push(
          (await guess({ username: [`x${i}`], password: 'x' }, { 'x-forwarded-for': `198.51.100.${i}` })).statusCode,
        );
      expect(bad).toContain(429);
    });

    it('guesses spread over many accounts hit the per-client limit, which X-Forwarded-For does not change (no trusted proxy)', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        statuses.push(
          (await guess({ username: `nobody_${i}`, password: 'guess-it-00' }, { 'x-forwarded-for': `192.0.2.${i}` }))
            .statusCode,
        );
      }
      expect(statuses).toContain(429);
    });
  });

  describe('2. create-admin', () => {
    it('refuses a squatted username or email; --promote needs both to name one account, replaces its password and ends its sessions', async () => {
      const squatter = await register(api, 'squat');
      const email = `${squatter.username}@example.com`;
      await expect(
        createAdmin(stack.config, [
          '--username',
          squatter.username,
          '--email',
          'ops@example.com',
          '--password',
          'operator-pass-77',
        ]),
      ).rejects.toThrow(/already taken/);
      await expect(
        createAdmin(stack.config, ['--username', 'ops_admin', '--email', email, '--password', 'operator-pass-77']),
      ).rejects.toThrow(/already taken/);
      const [row] = await db.query('SELECT role FROM users WHERE id = ?', [squatter.id]);
      expect(row.role).toBe('user');
      expect((await login({ username: squatter.username, password: PASSWORD })).statusCode).toBe(200);
      // --promote with a username and an email of different accounts: refused, nothing changed.
      const other = await register(api, 'other');
      await expect(
        createAdmin(stack.config, [
          '--username',
          squatter.username,
          '--email',
          `${other.username}@example.com`,
          '--password',
          'operator-pass-77',
          '--promote',
        ]),
      ).rejects.toThrow(/--promote/);
      // --promote of the one account: admin, the given password, old sessions gone.
      await createAdmin(stack.config, [
        '--username',
        squatter.username,
        '--email',
        email,
        '--password',
        'operator-pass-77',
        '--promote',
      ]);
      expect((await db.query('SELECT role FROM users WHERE id = ?', [squatter.id]))[0].role).toBe('admin');
      expect((await login({ username: squatter.username, password: PASSWORD })).statusCode).toBe(401);
      expect((await login({ username: squatter.username, password: 'operator-pass-77' })).statusCode).toBe(200);
      expect((await me(squatter)).statusCode).toBe(401);
      expect((await refresh(squatter.refresh)).statusCode).toBe(401);
    });
  });

  describe('3. sessions end with a credential change', () => {
    const twoSessions = async () => {
      const a = await register(api, 'sess');
      const res = await login({ username: a.username, password: PASSWORD });
      return { a, b: res.json() as { access: string; refresh: string } };
    };

    it.each([
      ['password', { password: 'brand-new-pass-1', current_password: PASSWORD }],
      ['email', { email: 'changed-$@example.com', current_password: PASSWORD }],
    ])(
      'a %s change revokes every other session (refresh and access) and answers with a fresh pair',
      async (_, change) => {
        const { a, b } = await twoSessions();
        const payload = { ...change, ...('email' in change ? { email: change.email.replace('$', a.username) } : {}) };
        const res = await api.inject({ method: 'PATCH', url: '/api/users/me', headers: a.auth, payload });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json();
        expect(body).toMatchObject({ id: a.id, access: expect.any(String), refresh: expect.any(String) });
        expect((await me(b)).statusCode).toBe(401);
        expect((await refresh(b.refresh)).statusCode).toBe(401);
        expect((await me(a)).statusCode).toBe(401);
        expect((await me(body)).statusCode).toBe(200);
        expect((await refresh(body.refresh)).statusCode).toBe(200);
        // A display-name change ends nothing and carries no tokens.
        const plain = await api.inject({
          method: 'PATCH',
          url: '/api/users/me',
          headers: { authorization: `Bearer ${body.access}` },
          payload: { display_name: 'x' },
        });
        expect(plain.json().access).toBeUndefined();
        expect((await me(body)).statusCode).toBe(200);
      },
    );

    it('POST /api/auth/logout-all ends every session of the caller; an admin can do it for a user', async () => {
      const { a, b } = await twoSessions();
      expect((await api.inject({ method: 'POST', url: '/api/auth/logout-all' })).statusCode).toBe(401);
      expect((await api.inject({ method: 'POST', url: '/api/auth/logout-all', headers: a.auth })).statusCode).toBe(204);
      for (const s of [a, b]) {
        expect((await me(s)).statusCode).toBe(401);
        expect((await refresh(s.refresh)).statusCode).toBe(401);
      }
      const admin = await registerAdmin(api);
      const { a: c } = await twoSessions();
      expect(
        (await api.inject({ method: 'POST', url: `/api/admin/users/${c.id}/logout-all`, headers: c.auth })).statusCode,
      ).toBe(403);
      expect(
        (await api.inject({ method: 'POST', url: `/api/admin/users/${c.id}/logout-all`, headers: admin.auth }))
          .statusCode,
      ).toBe(204);
      expect((await me(c)).statusCode).toBe(401);
      expect(
        (await api.inject({ method: 'POST', url: '/api/admin/users/99999999/logout-all', headers: admin.auth }))
          .statusCode,
      ).toBe(404);
    });

    it('deactivation ends the sessions: reactivated, the old tokens stay dead', async () => {
      const admin = await registerAdmin(api);
      const { a } = await twoSessions();
      await deactivate(api, admin, a.id);
      await api.inject({
        method: 'PATCH',
        url: `/api/admin/users/${a.id}`,
        headers: admin.auth,
        payload: { is_active: true },
      });
      expect((await me(a)).statusCode).toBe(401);
      expect((await refresh(a.refresh)).statusCode).toBe(401);
    });
  });

  describe('4. forwarded headers and hosts', () => {
    let alice: Session;
    beforeAll(async () => {
      alice = await register(api, 'hosts');
    });

    it('X-Forwarded-Proto/-Host from an untrusted client change no link; a Host outside ALLOWED_HOSTS is 400', async () => {
      const res = await api.inject({
        method: 'GET',
        url: '/api/uploads?page_size=1&cursor=',
        headers: { ...alice.auth, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
      });
      expect(res.statusCode).toBe(200);
      const page = await api.inject({
        method: 'GET',
        url: '/api/admin/users?page_size=1',
        headers: {
          ...(await registerAdmin(api)).auth,
          'x-forwarded-host': 'evil.example',
          'x-forwarded-proto': 'https',
        },
      });
      expect(page.json().next).toMatch(/^http:\/\/localhost(:\d+)?\/api\/admin\/users\?/);
      const evil = await api.inject({
        method: 'GET',
        url: '/api/users/me',
        headers: { ...alice.auth, host: 'evil.example' },
      });
      expect(evil.statusCode).toBe(400);
      expect(evil.json().detail).toMatch(/ALLOWED_HOSTS/);
      // Probes address the process by IP: health stays open.
      expect((await api.inject({ method: 'GET', url: '/health', headers: { host: '10.1.2.3:3000' } })).statusCode).toBe(
        200,
      );
    });

    it('behind a trusted proxy, its scheme and host are used (and checked); PUBLIC_URL overrides both', async () => {
      const proxied = await startStack('sec-proxy', {
        TRUST_PROXY: '127.0.0.1',
        ALLOWED_HOSTS: 'api.example.com,localhost',
      });
      const publicUrl = await startStack('sec-public', {
        PUBLIC_URL: 'https://echo.example.org',
        ALLOWED_HOSTS: 'echo.example.org,localhost',
      });
      try {
        const admin = await registerAdmin(proxied.api);
        await register(proxied.api, 'p');
        const headers = {
          ...admin.auth,
          host: 'internal:3000',
          'x-forwarded-host': 'api.example.com',
          'x-forwarded-proto': 'https',
        };
        const page = await proxied.api.inject({
          method: 'GET',
          url: '/api/admin/users?page_size=1',
          headers,
          remoteAddress: '127.0.0.1',
        });
        expect(page.statusCode, page.body).toBe(200);
        expect(page.json().next).toMatch(/^https:\/\/api\.example\.com\/api\/admin\/users\?/);
        const spoof = await proxied.api.inject({
          method: 'GET',
          url: '/api/users/me',
          headers: { ...headers, 'x-forwarded-host': 'evil.example' },
          remoteAddress: '127.0.0.1',
        });
        expect(spoof.statusCode).toBe(400);
        // The dashboard cookie is Secure only when the trusted scheme is https.
        const cookie = await proxied.api.inject({
          method: 'POST',
          url: '/admin/queues/login',
          headers,
          remoteAddress: '127.0.0.1',
        });
        expect(cookie.statusCode).toBe(303);
        expect(String(cookie.headers['set-cookie'])).toContain('Secure');

        const padmin = await registerAdmin(publicUrl.api);
        await register(publicUrl.api, 'q');
        const linked = await publicUrl.api.inject({
          method: 'GET',
          url: '/api/admin/users?page_size=1',
          headers: { ...padmin.auth, host: 'echo.example.org' },
        });
        expect(linked.json().next).toMatch(/^https:\/\/echo\.example\.org\/api\/admin\/users\?/);
      } finally {
        await proxied.close();
        await publicUrl.close();
      }
    });
  });

  describe('5. hostile bodies get a DRF 4xx in bounded time', () => {
    let alice: Session;
    beforeAll(async () => {
      alice = await register(api, 'bodies');
    });

    it('multipart with Content-Encoding: gzip → 415, at once, even when large', async () => {
      const form = multipart([
        { name: 'file', filename: 'a.jpg', data: await solidJpeg(64, 64) },
        { name: 'title', value: 'x'.repeat(100_000) },
      ]);
      const started = Date.now();
      const res = await api.inject({
        method: 'POST',
        url: '/api/uploads',
        headers: { ...alice.auth, ...form.headers, 'content-encoding': 'gzip' },
        payload: gzipSync(form.payload),
      });
      expect(res.statusCode).toBe(415);
      expect(res.json()).toEqual({ detail: expect.stringMatching(/Content-Encoding/) });
      expect(Date.now() - started).toBeLessThan(5000);
      expect(Number((await db.query('SELECT COUNT(*) AS n FROM uploads WHERE user_id = ?', [alice.id]))[0].n)).toBe(0);
    });

    it('JSON nested 100k levels deep → 400, even unauthenticated', async () => {
      const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
      for (const url of ['/api/auth/login', '/api/auth/register']) {
        const res = await api.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/json' },
          payload: `{"username": ${deep}}`,
        });
        expect(res.statusCode).toBe(400);
        expect(res.json().detail).toMatch(/nested/);
      }
    });

    it.each([
      [
        'no boundary',
        'multipart/form-data',
        '--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nabc',
      ],
      [
        'unterminated',
        'multipart/form-data; boundary=abc',
        '--abc\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff',
      ],
      ['bad part header', 'multipart/form-data; boundary=abc', '--abc\r\nNonsense\r\n\r\nx\r\n--abc--\r\n'],
    ])('malformed multipart (%s) → 400', async (_, type, body) => {
      const res = await api.inject({
        method: 'POST',
        url: '/api/uploads',
        headers: { ...alice.auth, 'content-type': type },
        payload: Buffer.from(body, 'latin1'),
      });
      expect(res.statusCode, res.body).toBe(400);
      // {"detail": …}, or the field error when the parser skipped the broken part.
      expect(
        Object.values(res.json() as Record<string, unknown>).every((v) => typeof v === 'string' || Array.isArray(v)),
      ).toBe(true);
    });

    it('a path parameter over 100 characters → 404 with a DRF body', async () => {
      const res = await api.inject({ method: 'GET', url: `/api/uploads/${'a'.repeat(300)}`, headers: alice.auth });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ detail: 'Not found.' });
    });

    it('a client that stops sending mid-body is cut off within HTTP_REQUEST_TIMEOUT_MS', async () => {
      await api.listen({ port: 0, host: '127.0.0.1' });
      const { port } = api.getHttpServer().address() as { port: number };
      const started = Date.now();
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(
            `POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"username": "a`,
          );
        });
        let data = '';
        socket.on('data', (chunk) => (data += chunk.toString()));
        socket.on('close', () => resolve(data));
        socket.on('error', reject);
        setTimeout(() => reject(new Error('still open after 10 s')), 10_000).unref();
      });
      expect(Date.now() - started).toBeLessThan(8000);
      expect(answer === '' || /^HTTP\/1\.1 4\d\d/.test(answer)).toBe(true);
    });
  });

  describe('6. tokens', () => {
    it('an access token without exp is refused', async () => {
      const s = await register(api, 'noexp');
      const forever = await api
        .get(JwtService)
        .signAsync(
          { sub: String(s.id), typ: 'access', ver: 0 },
          { secret: stack.config.auth.jwtSecret, algorithm: 'HS256' },
        );
      expect((await me({ access: forever })).statusCode).toBe(401);
    });
  });

  describe('7. image headers are read within the received bytes', () => {
    it('a JPEG cut inside its SOF segment, handed over as a view of a larger buffer, is 422 (not bytes of that memory)', async () => {
      const jpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } })
        .jpeg()
        .toBuffer();
      const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
      expect(sof).toBeGreaterThan(0);
      const big = Buffer.alloc(jpeg.length + 4096, 0xaa);
      jpeg.copy(big);
      const cut = big.subarray(0, sof + 4); // inside SOF: the dimensions are not in the view
      expect(() => readImageHeader(cut, 50_000_000)).toThrow(/could not be parsed/);
      // The whole image still measures.
      expect(readImageHeader(big.subarray(0, jpeg.length), 50_000_000)).toEqual({ width: 40, height: 30 });
    });
  });

  describe('8. smaller ones', () => {
    const uploadJpeg = async (s: Session, color: string) => {
      const form = multipart([
        { name: 'file', filename: 'a.jpg', contentType: 'image/jpeg', data: await solidJpeg(32, 32, color) },
      ]);
      const res = await api.inject({
        method: 'POST',
        url: '/api/uploads',
        headers: { ...s.auth, ...form.headers },
        payload: form.payload,
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { id: string; analysis: { id: string } };
    };
    const analysis = (s: Session, id: string) =>
      api.inject({ method: 'GET', url: `/api/visual-analysis/${id}`, headers: s.auth });

    it('deleting an upload evicts its cached analyses', async () => {
      const s = await register(api, 'evict');
      const up = await uploadJpeg(s, '#123456');
      await waitFor(
        async () => (await analysis(s, up.analysis.id)).json().status === 'completed',
        20_000,
        'analysis completed',
      );
      expect((await analysis(s, up.analysis.id)).statusCode).toBe(200); // served from the cache now
      expect((await api.inject({ method: 'DELETE', url: `/api/uploads/${up.id}`, headers: s.auth })).statusCode).toBe(
        204,
      );
      expect((await analysis(s, up.analysis.id)).statusCode).toBe(404);
    });

    it('re-analysis keeps a bounded history per upload and is throttled per user', async () => {
      // No worker here: statuses change only where the test says.
      const quiet = await startStack('sec-reanalysis');
      onTestFinished(() => quiet.close());
      const qdb = quiet.api.get(DataSource);
      const s = await register(quiet.api, 'reana');
      const form = multipart([
        { name: 'file', filename: 'a.jpg', contentType: 'image/jpeg', data: await solidJpeg(32, 32, '#654321') },
      ]);
      const up = (
        await quiet.api.inject({
          method: 'POST',
          url: '/api/uploads',
          headers: { ...s.auth, ...form.headers },
          payload: form.payload,
        })
      ).json();
      const post = () =>
        quiet.api.inject({
          method: 'POST',
          url: '/api/visual-analysis',
          headers: s.auth,
          payload: { upload_id: up.id },
        });
      const statuses: number[] = [];
      for (let i = 0; i < 22; i++) {
        // Each earlier analysis is finished, so every POST queues a new one.
        await qdb.query("UPDATE visual_analysis_results SET status = 'completed' WHERE upload_id = ?", [up.id]);
        statuses.push((await post()).statusCode);
      }
      expect(statuses.slice(0, 20).every((st) => st === 202)).toBe(true);
      expect(statuses.slice(20)).toEqual([429, 429]);
      const [{ n }] = await qdb.query('SELECT COUNT(*) AS n FROM visual_analysis_results WHERE upload_id = ?', [up.id]);
      expect(Number(n)).toBe(5);
    });
  });
});
