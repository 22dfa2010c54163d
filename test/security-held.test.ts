import { createHmac, generateKeyPairSync, sign as rsaSign } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { PASSWORD, register, registerAdmin, type Session } from './support/users.js';
import { multipart, solidJpeg, solidPng } from './support/images.js';
import { waitFor } from './support/wait.js';

/**
 * Attacks that already held on the main this was written against (issue 14, "Also"): each case
 * is here so it stays held. Every refusal is paired with the owner's (or an admin's) success, so
 * a case cannot pass merely because the route is broken for everyone.
 */

type Res = Awaited<ReturnType<TestStack['api']['inject']>>;

const b64url = (value: object | string) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A compact JWS built by hand, so no JWT library's own guards decide what can be sent. */
function jws(header: object, payload: object, signer: ((input: string) => Buffer) | null): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${signer ? signer(input).toString('base64url') : ''}`;
}
const hs256 = (secret: string | Buffer) => (input: string) => createHmac('sha256', secret).update(input).digest();

/** A DRF-shaped client error: 4xx with {"detail": "..."} or {"field": ["..."]}. */
function expectDrf4xx(res: Res, label: string): void {
  expect(res.statusCode, `${label}: ${res.body}`).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, `${label}: ${res.body}`).toBeLessThan(500);
  const body = res.json();
  const ok =
    typeof body.detail === 'string' ||
    Object.values(body).every((v) => Array.isArray(v) && v.every((m) => typeof m === 'string'));
  expect(ok, `${label}: ${res.body}`).toBe(true);
}

describe.skipIf(!servicesUp())('security: attacks that already hold (MariaDB + Redis + worker)', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let db: DataSource;
  /** STORAGE_DIR sits deep inside this sandbox: anything written beside it is a traversal. */
  let sandbox: string;
  let storageDir: string;
  let alice: Session; // the victim
  let bob: Session; // the attacker
  let admin: Session;
  let aliceUpload: { id: string; analysis: { id: string } };

  const get = (url: string, s?: Session, headers: Record<string, string> = {}) =>
    api.inject({ method: 'GET', url, headers: { ...(s?.auth ?? {}), ...headers } });
  const upload = (s: Session, data: Buffer, filename = 'photo.png') => {
    const form = multipart([{ name: 'file', filename, contentType: 'image/png', data }]);
    return api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...s.auth, ...form.headers },
      payload: form.payload,
    });
  };
  const filesUnder = (dir: string): string[] =>
    existsSync(dir)
      ? readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name))
      : [];
  const countRows = async (table: string) => Number((await db.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);

  beforeAll(async () => {
    sandbox = mkdtempSync(join(tmpdir(), 'echo-sec-'));
    storageDir = join(sandbox, 'a', 'b', 'c', 'storage');
    stack = await startStack('security', { STORAGE_DIR: storageDir, THROTTLE_AUTH_LIMIT: '1000' }, { worker: true });
    api = stack.api;
    db = api.get(DataSource);
    [alice, bob, admin] = await Promise.all([register(api, 'alice'), register(api, 'bob'), registerAdmin(api)]);
    const res = await upload(alice, await solidPng(64, 48, '#a1c2e3'), 'alice.png');
    expect(res.statusCode, res.body).toBe(201);
    aliceUpload = res.json();
    // The thumbnail route is only meaningful once the worker made one.
    await waitFor(
      async () => (await get(`/api/visual-analysis/${aliceUpload.analysis.id}`, alice)).json().status === 'completed',
      20_000,
      "alice's analysis",
    );
  });
  afterAll(async () => {
    await stack?.close();
    if (sandbox) rmSync(sandbox, { recursive: true, force: true });
  });

  describe('JWT forgery', () => {
    const claims = (s: Session, extra: object = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return { sub: String(s.id), typ: 'access', iat: now, exp: now + 300, ...extra };
    };
    const me = (token: string) => get('/api/users/me', undefined, { authorization: `Bearer ${token}` });

    it('control: a hand-built HS256 token with the real secret is accepted (so the refusals below mean something)', async () => {
      const res = await me(jws({ alg: 'HS256', typ: 'JWT' }, claims(bob), hs256(stack.config.auth.jwtSecret)));
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().id).toBe(bob.id);
    });

    it('alg "none" (any spelling, with or without a signature) → 401', async () => {
      const secret = stack.config.auth.jwtSecret;
      for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
        for (const token of [
          jws({ alg, typ: 'JWT' }, claims(admin), null),
          jws({ alg, typ: 'JWT' }, claims(admin), hs256(secret)),
        ]) {
          const res = await me(token);
          expect(res.statusCode, `${alg}: ${res.body}`).toBe(401);
          expect(res.json()).toEqual({ detail: expect.any(String) });
        }
      }
      // A header that omits alg altogether.
      expect((await me(jws({ typ: 'JWT' }, claims(admin), hs256(secret)))).statusCode).toBe(401);
    });

    it('RS256/HS256 key confusion → 401', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const tokens = {
        // An attacker's own key pair: the server must not take a key from the token or accept RS256.
        rs256: jws({ alg: 'RS256', typ: 'JWT' }, claims(admin), (input) =>
          rsaSign('sha256', Buffer.from(input), privateKey),
        ),
        rs256WithJwk: jws(
          { alg: 'RS256', typ: 'JWT', jwk: publicKey.export({ format: 'jwk' }) },
          claims(admin),
          (input) => rsaSign('sha256', Buffer.from(input), privateKey),
        ),
        // The classic confusion: HS256 with a public key's PEM (text and bytes) as the HMAC secret.
        hs256PublicPem: jws({ alg: 'HS256', typ: 'JWT' }, claims(admin), hs256(publicPem)),
        hs256PublicDer: jws(
          { alg: 'HS256', typ: 'JWT' },
          claims(admin),
          hs256(publicKey.export({ type: 'spki', format: 'der' })),
        ),
        // Same secret, another HMAC: only HS256 is accepted.
        hs512: jws({ alg: 'HS512', typ: 'JWT' }, claims(admin), (input) =>
          createHmac('sha512', stack.config.auth.jwtSecret).update(input).digest(),
        ),
      };
      for (const [name, token] of Object.entries(tokens)) {
        const res = await me(token);
        expect(res.statusCode, name).toBe(401);
        expect(res.json(), name).toEqual({ detail: expect.any(String) });
      }
    });

    it('wrong secret, expired, not-yet-valid, wrong type, refresh-as-access → 401', async () => {
      const secret = stack.config.auth.jwtSecret;
      const now = Math.floor(Date.now() / 1000);
      const tokens = {
        wrongSecret: jws({ alg: 'HS256', typ: 'JWT' }, claims(bob), hs256(`${secret}x`)),
        emptySecret: jws({ alg: 'HS256', typ: 'JWT' }, claims(bob), hs256('')),
        expired: jws({ alg: 'HS256', typ: 'JWT' }, claims(bob, { iat: now - 3600, exp: now - 60 }), hs256(secret)),
        notBefore: jws({ alg: 'HS256', typ: 'JWT' }, claims(bob, { nbf: now + 3600 }), hs256(secret)),
        refreshTyp: jws({ alg: 'HS256', typ: 'JWT' }, claims(bob, { typ: 'refresh' }), hs256(secret)),
        noTyp: jws({ alg: 'HS256', typ: 'JWT' }, claims(bob, { typ: undefined }), hs256(secret)),
        nonNumericSub: jws({ alg: 'HS256', typ: 'JWT' }, claims(bob, { sub: "1' OR '1'='1" }), hs256(secret)),
        // The opaque refresh token (`<id>.<secret>`) presented as an access token.
        refreshToken: bob.refresh,
      };
      for (const [name, token] of Object.entries(tokens)) {
        const res = await me(token);
        expect(res.statusCode, name).toBe(401);
        expect(res.json(), name).toEqual({ detail: expect.any(String) });
      }
      // An access token is no refresh token either.
      const swapped = await api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: bob.access } });
      expect(swapped.statusCode).toBe(401);
    });
  });

  describe('IDOR: bob against alice', () => {
    const ownerRoutes = () =>
      [
        ['GET', `/api/uploads/${aliceUpload.id}`],
        ['GET', `/api/uploads/${aliceUpload.id}/file`],
        ['GET', `/api/uploads/${aliceUpload.id}/thumbnail`],
        ['GET', `/api/visual-analysis/${aliceUpload.analysis.id}`],
      ] as const;

    it("every upload/analysis route: alice gets hers, bob gets 404 (not 403), even after alice's reads filled the cache", async () => {
      for (const [method, url] of ownerRoutes()) {
        const own = await api.inject({ method, url, headers: alice.auth });
        expect(own.statusCode, `alice ${method} ${url}`).toBe(200);
        const other = await api.inject({ method, url, headers: bob.auth });
        expect(other.statusCode, `bob ${method} ${url}`).toBe(404);
        expect(other.json()).toEqual({ detail: expect.any(String) });
      }
      // Conditional and ranged requests do not side-step the owner check.
      for (const headers of [{ 'if-none-match': '*' }, { range: 'bytes=0-9' }] as Array<Record<string, string>>) {
        const res = await get(`/api/uploads/${aliceUpload.id}/file`, bob, headers);
        expect(res.statusCode, JSON.stringify(headers)).toBe(404);
      }
    });

    it("DELETE of alice's upload by bob → 404, and her upload, file and analysis stay", async () => {
      const files = filesUnder(storageDir).length;
      const res = await api.inject({ method: 'DELETE', url: `/api/uploads/${aliceUpload.id}`, headers: bob.auth });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ detail: expect.any(String) });
      expect(filesUnder(storageDir).length).toBe(files);
      expect((await get(`/api/uploads/${aliceUpload.id}`, alice)).statusCode).toBe(200);
      expect((await get(`/api/uploads/${aliceUpload.id}/file`, alice)).statusCode).toBe(200);
      expect((await get(`/api/visual-analysis/${aliceUpload.analysis.id}`, alice)).statusCode).toBe(200);
    });

    it("POST re-analysis of alice's upload by bob → 400 naming upload_id, nothing queued", async () => {
      const before = await countRows('visual_analysis_results');
      const res = await api.inject({
        method: 'POST',
        url: '/api/visual-analysis',
        headers: bob.auth,
        payload: { upload_id: aliceUpload.id },
      });
      expect(res.statusCode).toBe(400);
      expect(Object.keys(res.json())).toEqual(['upload_id']);
      expect(await countRows('visual_analysis_results')).toBe(before);
      // Control: alice may.
      const own = await api.inject({
        method: 'POST',
        url: '/api/visual-analysis',
        headers: alice.auth,
        payload: { upload_id: aliceUpload.id },
      });
      expect(own.statusCode).toBe(202);
    });

    it("bob's lists never show alice's rows, whatever the filters, modes or cursors", async () => {
      const bobUpload = (await upload(bob, await solidPng(33, 33, '#0b0b0b'), 'bob.png')).json();
      const aliceSecond = (await upload(alice, await solidPng(34, 34, '#0c0c0c'), 'second.png')).json();
      const aliceIds = [aliceUpload.id, aliceUpload.analysis.id, aliceSecond.id, aliceSecond.analysis.id];
      // Alice lists first, so a cache keyed without the user would hand bob her page.
      const urls = [
        '/api/uploads',
        '/api/uploads?cursor=',
        '/api/uploads?content_type=image/png',
        '/api/visual-analysis',
        '/api/visual-analysis?cursor=',
        `/api/visual-analysis?upload_id=${aliceUpload.id}`,
        '/api/visual-analysis?status=completed',
      ];
      for (const url of urls) expect((await get(url, alice)).statusCode, url).toBe(200);
      const aliceCursor = (await get('/api/uploads?cursor=&page_size=1', alice)).json().next as string | null;
      for (const url of urls) {
        const res = await get(url, bob);
        expect(res.statusCode, url).toBe(200);
        const rows = res.json().results as Array<{ id: string; upload_id?: string; user_id?: number }>;
        for (const row of rows) {
          expect(aliceIds, url).not.toContain(row.id);
          if (row.upload_id) expect([aliceUpload.id, aliceSecond.id], url).not.toContain(row.upload_id);
          if (row.user_id !== undefined) expect(row.user_id, url).toBe(bob.id);
        }
        // Unfiltered, bob sees his own row: the list works, it is not merely empty.
        if (!url.includes('=') || url.endsWith('cursor='))
          expect(
            rows.map((r) => r.upload_id ?? r.id),
            url,
          ).toContain(bobUpload.id);
      }
      expect((await get(`/api/visual-analysis?upload_id=${aliceUpload.id}`, bob)).json().count).toBe(0);
      // Alice's cursor replayed by bob pages bob's rows, not hers.
      expect(aliceCursor).toEqual(expect.any(String));
      const replay = await get(new URL(aliceCursor!).pathname + new URL(aliceCursor!).search, bob);
      expect(replay.statusCode).toBe(200);
      for (const row of replay.json().results as Array<{ user_id: number }>) expect(row.user_id).toBe(bob.id);
      // Listing another owner's rows is not a filter a user has.
      const byOwner = await get(`/api/uploads?user_id=${alice.id}`, bob);
      expect(byOwner.statusCode).toBe(400);
      expect(byOwner.json()).toEqual({ user_id: ['This field is not allowed.'] });
    });

    it('a non-admin gets 403 on every /api/admin/* route (and on the queue dashboard); an admin does not', async () => {
      const routes: Array<{ method: 'GET' | 'PATCH' | 'POST'; url: string; payload?: object }> = [
        { method: 'GET', url: '/api/admin/users' },
        { method: 'GET', url: `/api/admin/users/${alice.id}` },
        { method: 'PATCH', url: `/api/admin/users/${bob.id}`, payload: { role: 'admin' } },
        { method: 'PATCH', url: `/api/admin/users/${alice.id}`, payload: { is_active: false } },
        { method: 'GET', url: `/api/admin/users/${alice.id}/uploads` },
        { method: 'GET', url: '/api/admin/uploads' },
        { method: 'GET', url: '/api/admin/queues' },
        { method: 'POST', url: `/api/admin/visual-analysis/${aliceUpload.analysis.id}/retry` },
        { method: 'GET', url: '/admin/queues' },
        { method: 'GET', url: '/admin/queues/api/queues' },
      ];
      for (const route of routes) {
        const res = await api.inject({ ...route, headers: bob.auth });
        expect(res.statusCode, `${route.method} ${route.url}`).toBe(403);
        expect(res.json()).toEqual({ detail: 'You do not have permission to perform this action.' });
      }
      const login = await api.inject({ method: 'POST', url: '/admin/queues/login', headers: bob.auth });
      expect(login.statusCode).toBe(403);
      expect(login.headers['set-cookie']).toBeUndefined();
      // The 403s changed nothing.
      const rows = await db.query('SELECT id, role, is_active FROM users WHERE id IN (?, ?) ORDER BY id', [
        alice.id,
        bob.id,
      ]);
      expect(rows.map((r: { role: string; is_active: number }) => [r.role, Boolean(r.is_active)])).toEqual([
        ['user', true],
        ['user', true],
      ]);
      // Control: the admin passes the permission check on the read routes.
      for (const route of routes.filter((r) => r.method === 'GET')) {
        const res = await api.inject({ ...route, headers: admin.auth });
        expect(res.statusCode, `admin ${route.url}`).toBe(200);
      }
    });
  });

  describe('mass assignment', () => {
    const privileged: Array<[string, unknown]> = [
      ['role', 'admin'],
      ['is_active', false],
      ['id', 1],
      ['token_version', 99],
      ['is_staff', true],
      ['is_superuser', true],
      ['password_hash', '$argon2id$v=19$m=65536,t=3,p=4$AAAA$BBBB'],
      ['date_joined', '2000-01-01T00:00:00.000Z'],
      ['last_login', '2000-01-01T00:00:00.000Z'],
    ];

    it.each(privileged)(
      'register with %s → 400 "This field is not allowed.", no user written',
      async (field, value) => {
        const username = `mass_${field}_${Date.now().toString(36)}`.slice(0, 40);
        const before = await countRows('users');
        const res = await api.inject({
          method: 'POST',
          url: '/api/auth/register',
          payload: { username, email: `${username}@example.com`, password: PASSWORD, [field]: value },
        });
        expect(res.statusCode).toBe(400);
        expect(res.json()).toEqual({ [field]: ['This field is not allowed.'] });
        expect(await countRows('users')).toBe(before);
      },
    );

    it.each([...privileged, ['username', 'renamed_by_patch'] as [string, unknown]])(
      'PATCH /api/users/me with %s (beside a valid field) → 400, nothing changed',
      async (field, value) => {
        const before = (await db.query('SELECT * FROM users WHERE id = ?', [bob.id]))[0];
        const res = await api.inject({
          method: 'PATCH',
          url: '/api/users/me',
          headers: bob.auth,
          payload: { display_name: 'Changed', [field]: value },
        });
        expect(res.statusCode).toBe(400);
        expect(res.json()).toEqual({ [field]: ['This field is not allowed.'] });
        expect((await db.query('SELECT * FROM users WHERE id = ?', [bob.id]))[0]).toEqual(before);
        const me = (await get('/api/users/me', bob)).json();
        expect(me).toMatchObject({ id: bob.id, username: bob.username, role: 'user', is_active: true });
        expect(me.display_name).not.toBe('Changed');
      },
    );

    it('a __proto__ / constructor.prototype body is refused and grants nothing', async () => {
      const before = (await db.query('SELECT * FROM users WHERE id = ?', [bob.id]))[0];
      for (const raw of [
        '{"display_name":"x","__proto__":{"role":"admin"}}',
        '{"display_name":"x","constructor":{"prototype":{"role":"admin"}}}',
      ]) {
        const res = await api.inject({
          method: 'PATCH',
          url: '/api/users/me',
          headers: { ...bob.auth, 'content-type': 'application/json' },
          payload: raw,
        });
        expectDrf4xx(res, raw);
      }
      expect((await db.query('SELECT * FROM users WHERE id = ?', [bob.id]))[0]).toEqual(before);
      expect(({} as Record<string, unknown>).role).toBeUndefined();
      expect((await get('/api/users/me', bob)).json().role).toBe('user');
    });

    it('admin PATCH takes only is_active and role', async () => {
      const before = (await db.query('SELECT * FROM users WHERE id = ?', [bob.id]))[0];
      for (const [field, value] of [
        ['username', 'x_renamed'],
        ['email', 'x@example.com'],
        ['password', 'new-pass-123'],
        ['id', 1],
      ] as const) {
        const res = await api.inject({
          method: 'PATCH',
          url: `/api/admin/users/${bob.id}`,
          headers: admin.auth,
          payload: { [field]: value },
        });
        expect(res.statusCode, field).toBe(400);
        expect(res.json()).toEqual({ [field]: ['This field is not allowed.'] });
      }
      expect((await db.query('SELECT * FROM users WHERE id = ?', [bob.id]))[0]).toEqual(before);
    });
  });

  describe('ordering and filter injection', () => {
    it('?ordering= with SQL or an unknown column → 400 naming ordering', async () => {
      for (const ordering of [
        'username; DROP TABLE users',
        'username,(SELECT SLEEP(2))',
        'IF(1=1,username,email)',
        'password_hash',
        '-password_hash',
        'id',
        'email',
        '',
      ]) {
        const res = await get(`/api/admin/users?ordering=${encodeURIComponent(ordering)}`, admin);
        expect(res.statusCode, ordering).toBe(400);
        expect(Object.keys(res.json()), ordering).toEqual(['ordering']);
      }
      // Upload lists take only their four orderings (issue 22); lists with none refuse one outright.
      for (const url of ['/api/uploads', '/api/admin/uploads']) {
        for (const ordering of ['-id', 'taken_at; DROP TABLE uploads', '(SELECT 1)', 'password_hash']) {
          const res = await get(`${url}?ordering=${encodeURIComponent(ordering)}`, url.includes('admin') ? admin : bob);
          expect(res.statusCode, url).toBe(400);
          expect(res.json(), url).toEqual({
            ordering: ['Must be one of: -created_at, created_at, -taken_at, taken_at.'],
          });
        }
      }
      const res = await get('/api/visual-analysis?ordering=-id', bob);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ ordering: ['This field is not allowed.'] });
      expect(await countRows('users')).toBeGreaterThan(2);
    });

    it('search treats % and _ as literal characters', async () => {
      const tag = `lit${Date.now().toString(36)}`;
      for (const name of [`${tag}_x`, `${tag}ax`]) {
        await api.inject({
          method: 'POST',
          url: '/api/auth/register',
          payload: { username: name, email: `${name}@example.com`, password: PASSWORD },
        });
      }
      const search = async (q: string) => (await get(`/api/admin/users?search=${encodeURIComponent(q)}`, admin)).json();
      // "_" would match any one character as a LIKE wildcard: it must only match itself.
      expect((await search(`${tag}_`)).results.map((u: { username: string }) => u.username)).toEqual([`${tag}_x`]);
      expect((await search(`${tag}`)).count).toBe(2);
      for (const q of ['%', '_', `${tag}%`, '%_%', "' OR 1=1 -- ", '\\']) expect((await search(q)).count, q).toBe(0);
    });

    it('filters with SQL, arrays or wrong types → 400 naming the field, nothing leaked', async () => {
      const cases: Array<[string, Session, string]> = [
        [`/api/uploads?content_type=${encodeURIComponent("image/png' OR '1'='1")}`, bob, 'content_type'],
        ['/api/uploads?content_type=image/png&content_type=image/jpeg', bob, 'content_type'],
        [`/api/uploads?created_after=${encodeURIComponent("2020-01-01' OR 1=1 --")}`, bob, 'created_after'],
        [`/api/visual-analysis?status=${encodeURIComponent("completed' OR '1'='1")}`, bob, 'status'],
        [`/api/visual-analysis?upload_id=${encodeURIComponent(`${aliceUpload.id}' OR '1'='1`)}`, bob, 'upload_id'],
        [`/api/admin/uploads?content_type=${encodeURIComponent('image/png" OR ""="')}`, admin, 'content_type'],
        [`/api/admin/uploads?user_id=${encodeURIComponent('1 OR 1=1')}`, admin, 'user_id'],
        [`/api/admin/users?role=${encodeURIComponent("user' OR '1'='1")}`, admin, 'role'],
        [`/api/admin/users?is_active=${encodeURIComponent('1 OR 1=1')}`, admin, 'is_active'],
      ];
      for (const [url, s, field] of cases) {
        const res = await get(url, s);
        expect(res.statusCode, url).toBe(400);
        expect(Object.keys(res.json()), url).toContain(field);
        expect(res.body, url).not.toContain(alice.username);
        expect(res.body, url).not.toContain('"results"');
      }
    });
  });

  describe('traversal in file names', () => {
    it.each([
      ['../../etc/passwd', 'passwd'],
      ['..\\..\\x.jpg', 'x.jpg'],
      ['/etc/shadow', 'shadow'],
      ['C:\\Windows\\System32\\evil.png', 'evil.png'],
      ['pa\u0000ss\u0000wd.png', 'passwd.png'],
      ['../../../../a/b/c/storage/../../../../escape.png', 'escape.png'],
      ['..', ''],
      ['.htaccess', 'htaccess'],
    ])('%j → generated key, original_name %j, nothing outside STORAGE_DIR', async (filename, expected) => {
      const passwd = existsSync('/etc/passwd') ? statSync('/etc/passwd').mtimeMs : 0;
      const color = `#${Math.floor(Math.random() * 0xffffff)
        .toString(16)
        .padStart(6, '0')}`;
      const res = await upload(bob, await solidJpeg(12, 12, color), filename);
      expect(res.statusCode, res.body).toBe(201);
      const body = res.json();
      expect(body.original_name).toBe(expected);
      expect(/[/\\]|^\./.test(body.original_name) || body.original_name.includes('\u0000')).toBe(false);
      const [row] = await db.query('SELECT storage_key FROM uploads WHERE id = ?', [body.id]);
      expect(row.storage_key).toBe(`${bob.id}/${body.id}`);
      expect(existsSync(join(storageDir, String(bob.id), body.id))).toBe(true);
      // The sandbox holds nothing but the storage root.
      for (const file of filesUnder(sandbox)) expect(file.startsWith(`${storageDir}/`), file).toBe(true);
      if (passwd) expect(statSync('/etc/passwd').mtimeMs).toBe(passwd);
    });

    it('an RFC 5987 filename* with encoded ../ is sanitised the same way', async () => {
      const boundary = 'echoSecBoundary';
      const data = await solidJpeg(13, 13, '#132435');
      const payload = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''..%2F..%2F..%2Fevil%00.jpg\r\nContent-Type: image/jpeg\r\n\r\n`,
        ),
        data,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      const res = await api.inject({
        method: 'POST',
        url: '/api/uploads',
        headers: { ...bob.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
        payload,
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().original_name).toBe('evil.jpg');
      for (const file of filesUnder(sandbox)) expect(file.startsWith(`${storageDir}/`), file).toBe(true);
    });
  });

  describe('SQL injection in path ids', () => {
    const payloads = [
      "1' OR '1'='1",
      '1 OR 1=1',
      "' UNION SELECT id, username FROM users -- ",
      '1;DROP TABLE uploads',
      '%27%20OR%20%271%27%3D%271',
    ];

    it('user routes → 404, never 500, nothing leaked or deleted', async () => {
      const uploads = await countRows('uploads');
      for (const p of [...payloads, `${'x'.repeat(36)}`]) {
        for (const id of [p, `${aliceUpload.id}' OR '1'='1`]) {
          const enc = encodeURIComponent(id);
          for (const [method, url] of [
            ['GET', `/api/uploads/${enc}`],
            ['GET', `/api/uploads/${enc}/file`],
            ['GET', `/api/uploads/${enc}/thumbnail`],
            ['DELETE', `/api/uploads/${enc}`],
            ['GET', `/api/visual-analysis/${enc}`],
          ] as const) {
            const res = await api.inject({ method, url, headers: bob.auth });
            expect(res.statusCode, `${method} ${url}`).toBe(404);
            expect(res.json()).toEqual({ detail: expect.any(String) });
          }
        }
      }
      expect(await countRows('uploads')).toBe(uploads);
      expect((await get(`/api/uploads/${aliceUpload.id}`, alice)).statusCode).toBe(200);
    });

    it('admin routes → 400/404, never 500', async () => {
      for (const p of payloads) {
        const enc = encodeURIComponent(p);
        for (const [method, url] of [
          ['GET', `/api/admin/users/${enc}`],
          ['PATCH', `/api/admin/users/${enc}`],
          ['GET', `/api/admin/users/${enc}/uploads`],
          ['POST', `/api/admin/visual-analysis/${enc}/retry`],
        ] as const) {
          const res = await api.inject({
            method,
            url,
            headers: admin.auth,
            ...(method === 'PATCH' ? { payload: { role: 'admin' } } : {}),
          });
          expect([400, 404], `${method} ${url}: ${res.body}`).toContain(res.statusCode);
          expectDrf4xx(res, `${method} ${url}`);
        }
      }
      const roles = await db.query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'");
      expect(Number(roles[0].n)).toBe(1);
    });
  });
});
