import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { QUEUE_DASHBOARD_CSP } from '../apps/api/src/queue-dashboard.js';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { uniquePrefix } from './support/services.js';
import { SseReader } from './support/sse.js';
import { chromiumAvailable, launchChromium } from './support/browser.js';
import { PASSWORD, register, registerAdmin, type Session } from './support/users.js';
import { waitFor } from './support/wait.js';

/**
 * Issue 26, part 3 (items 3, 4 and 8): each case reproduces what an attacker found on the landed
 * main, and failed there.
 */
type Api = TestStack['api'];

const ticketFor = async (api: Api, s: Session): Promise<string> => {
  const res = await api.inject({ method: 'POST', url: '/api/auth/stream-ticket', headers: s.auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().ticket as string;
};

/** Opens the event stream over HTTP (inject would wait for a stream that never ends): status and refusal body. */
async function openStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const reader = await SseReader.open(url, headers);
  try {
    if (reader.status === 200) return { status: 200, body: undefined };
    await reader.waitFor((r) => r.ended, 5_000, 'the refusal body');
    return { status: reader.status, body: JSON.parse(reader.body) };
  } finally {
    reader.close();
  }
}

const listen = async (api: Api): Promise<string> => {
  await api.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(api.getHttpServer().address() as { port: number }).port}`;
};

/** Host values that are not `name[:digits]` but whose text before the last ':' is an allowed host. */
const HOSTILE_HOSTS = [
  'localhost:x@evil.example',
  '127.0.0.1:80/evil',
  'localhost:\\@evil.example',
  '[::1]:1@evil.example',
];

describe.skipIf(!servicesUp())('attacks of round 3 (MariaDB + Redis)', () => {
  let stack: TestStack;
  let api: Api;
  let base: string;
  let admin: Session;

  beforeAll(async () => {
    stack = await startStack('round3', { SSE_MAX_CONNECTIONS: '2', THROTTLE_AUTH_LIMIT: '1000' });
    api = stack.api;
    base = await listen(api);
    admin = await registerAdmin(api);
    await register(api, 'other'); // two users: the admin list has a next page
  });
  afterAll(() => stack?.close());

  describe('3.3 ALLOWED_HOSTS cannot be passed with userinfo, a path or a non-digit port', () => {
    it('a direct Host of that shape is 400 with a DRF body, and no link is built from it', async () => {
      for (const host of HOSTILE_HOSTS) {
        const res = await api.inject({
          method: 'GET',
          url: '/api/admin/users?page_size=1',
          headers: { ...admin.auth, host },
        });
        expect(res.statusCode, `${host}: ${res.body}`).toBe(400);
        expect(res.json()).toEqual({ detail: expect.stringContaining('Invalid HTTP_HOST header') });
        expect(res.body).not.toContain('http://');
      }
      // The allowed hosts, with and without a port, still work and link to themselves.
      for (const [host, origin] of [
        ['localhost:3000', 'http://localhost:3000'],
        ['127.0.0.1', 'http://127.0.0.1'],
        ['[::1]:8080', 'http://[::1]:8080'],
      ]) {
        const res = await api.inject({
          method: 'GET',
          url: '/api/admin/users?page_size=1',
          headers: { ...admin.auth, host },
        });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json().next).toMatch(new RegExp(`^${origin.replace(/[.[\]]/g, '\\$&')}/api/admin/users\\?`));
      }
    });

    it('the same through a trusted X-Forwarded-Host is 400', async () => {
      const proxied = await startStack('round3-proxy', {
        TRUST_PROXY: '127.0.0.1',
        ALLOWED_HOSTS: 'api.example.com,localhost',
      });
      try {
        const padmin = await registerAdmin(proxied.api);
        await register(proxied.api, 'p');
        const call = (forwardedHost: string) =>
          proxied.api.inject({
            method: 'GET',
            url: '/api/admin/users?page_size=1',
            headers: { ...padmin.auth, host: 'internal:3000', 'x-forwarded-host': forwardedHost },
            remoteAddress: '127.0.0.1',
          });
        for (const host of [...HOSTILE_HOSTS, 'api.example.com:x@evil.example']) {
          const res = await call(host);
          expect(res.statusCode, `${host}: ${res.body}`).toBe(400);
          expect(res.json()).toEqual({ detail: expect.stringContaining('Invalid HTTP_HOST header') });
        }
        const good = await call('api.example.com');
        expect(good.statusCode, good.body).toBe(200);
        expect(good.json().next).toMatch(/^http:\/\/api\.example\.com\/api\/admin\/users\?/);
      } finally {
        await proxied.close();
      }
    });
  });

  describe('3.4 a stream ticket dies with the session generation it was issued in', () => {
    it('ticket, then logout-all: the ticket opens nothing (401)', async () => {
      const alice = await register(api, 'tick');
      const ticket = await ticketFor(api, alice);
      const out = await api.inject({ method: 'POST', url: '/api/auth/logout-all', headers: alice.auth });
      expect(out.statusCode, out.body).toBeLessThan(300);
      expect(await openStream(`${base}/api/visual-analysis/events?ticket=${ticket}`)).toEqual({
        status: 401,
        body: { detail: expect.any(String) },
      });
    });

    it('ticket, then a password change: 401; a ticket of the new session opens a stream', async () => {
      const bob = await register(api, 'tickpw');
      const ticket = await ticketFor(api, bob);
      const changed = await api.inject({
        method: 'PATCH',
        url: '/api/users/me',
        headers: bob.auth,
        payload: { password: 'brand-new-pass-1', current_password: PASSWORD },
      });
      expect(changed.statusCode, changed.body).toBe(200);
      expect((await openStream(`${base}/api/visual-analysis/events?ticket=${ticket}`)).status).toBe(401);

      const login = await api.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: bob.username, password: 'brand-new-pass-1' },
      });
      expect(login.statusCode, login.body).toBe(200);
      const fresh = await ticketFor(api, { ...bob, auth: { authorization: `Bearer ${login.json().access}` } });
      expect((await openStream(`${base}/api/visual-analysis/events?ticket=${fresh}`)).status).toBe(200);
    });
  });

  describe('3.8 smaller ones', () => {
    it('(c) the queue dashboard, its login form and its refusals carry a Content-Security-Policy', async () => {
      for (const [url, headers, status] of [
        ['/admin/queues', admin.auth, 200],
        ['/admin/queues/api/queues', admin.auth, 200],
        ['/admin/queues/login', {}, 200],
        ['/admin/queues', {}, 401],
      ] as const) {
        const res = await api.inject({ method: 'GET', url, headers });
        expect(res.statusCode, url).toBe(status);
        expect(res.headers['content-security-policy'], url).toBe(QUEUE_DASHBOARD_CSP);
      }
      expect(QUEUE_DASHBOARD_CSP).toContain("script-src 'self'");
      expect(QUEUE_DASHBOARD_CSP).not.toMatch(/script-src[^;]*unsafe/);
    });

    it('(d) event streams are capped per process (SSE_MAX_CONNECTIONS): 503 with Retry-After and a DRF body', async () => {
      const users = [await register(api, 'capa'), await register(api, 'capb'), await register(api, 'capc')];
      const open = (s: Session) => SseReader.open(`${base}/api/visual-analysis/events`, s.auth);
      // Opened once the server has let go of streams earlier tests closed (it notices within ms).
      const openWhenFree = (s: Session) =>
        waitFor(
          async () => {
            const stream = await open(s);
            if (stream.status === 200) return stream;
            stream.close();
            return undefined;
          },
          10_000,
          'a free stream place',
        );
      const a = await openWhenFree(users[0]);
      const b = await openWhenFree(users[1]).catch((err: Error) => {
        a.close();
        throw err;
      });
      try {
        const refused = await open(users[2]);
        try {
          expect(refused.status).toBe(503);
          expect(refused.headers['retry-after']).toBe('5');
          await refused.waitFor((r) => r.ended, 5_000, 'the refusal body');
          expect(JSON.parse(refused.body)).toEqual({
            detail: expect.stringMatching(/Too many open event streams on this server/),
          });
        } finally {
          refused.close();
        }
        // A closed stream frees its place.
        a.close();
        (await openWhenFree(users[2])).close();
      } finally {
        a.close();
        b.close();
      }
    });

    it("(e) a body longer than its Content-Length gets a DRF 400, not Fastify's body", async () => {
      const port = Number(new URL(base).port);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          // One write: the login body is `{}` (2 bytes as announced), then bytes no request starts with.
          socket.write(
            'POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
              'Content-Length: 2\r\n\r\n{}{"username": "extra bytes"}\r\n\r\n',
          );
        });
        let data = '';
        socket.on('data', (chunk) => (data += chunk.toString()));
        socket.on('close', () => resolve(data));
        socket.on('error', reject);
        setTimeout(() => reject(new Error('still open after 10 s')), 10_000).unref();
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(answer).toContain('\r\n\r\n{"detail":"Malformed HTTP request."}');
      expect(answer).not.toContain('statusCode');
    });
  });
});

describe.skipIf(!servicesUp() || !chromiumAvailable())('3.8 (c) the queue dashboard renders under its CSP', () => {
  let stack: TestStack;
  let browser: Browser;

  beforeAll(async () => {
    stack = await startStack('round3-csp');
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('in Chromium: the queues show, no script or style of bull-board is refused; only Google Fonts is', async () => {
    const origin = await listen(stack.api);
    const admin = await registerAdmin(stack.api);
    const context = await browser.newContext({ extraHTTPHeaders: admin.auth });
    const page = await context.newPage();
    const refused: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') refused.push(msg.text());
    });
    page.on('pageerror', (err) => refused.push(`page error: ${err.message}`));
    try {
      const res = await page.goto(`${origin}/admin/queues`);
      expect(res?.headers()['content-security-policy']).toBe(QUEUE_DASHBOARD_CSP);
      await page.getByText('visual-analysis').first().waitFor({ timeout: 30_000 });
      await page.getByText('maintenance').first().waitFor({ timeout: 30_000 });
      // A queue's page loads more of the UI (lazy chunks and their styles).
      await page.goto(`${origin}/admin/queues/queue/visual-analysis`);
      await page.getByText('Completed').first().waitFor({ timeout: 30_000 });
      const others = refused.filter((text) => !text.includes('fonts.googleapis.com'));
      expect(others).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('3.8 and 3.4 in embedded mode (SQLite, in-memory tickets)', () => {
  let stack: TestStack;
  let sqlitePath: string;
  let umask: number;
  let base: string;

  beforeAll(async () => {
    // A common umask, so "0644 before the fix" does not depend on the machine's.
    umask = process.umask(0o022);
    sqlitePath = `.data/test/${uniquePrefix('round3')}.sqlite`;
    stack = await startEmbedded('round3', { SQLITE_PATH: sqlitePath });
    base = await listen(stack.api);
  });
  afterAll(async () => {
    await stack?.close();
    process.umask(umask);
  });

  const mode = (path: string) => statSync(path).mode & 0o777;

  it('(a) the SQLite database and its WAL files are 0600, like jwt-secret beside it', async () => {
    await register(stack.api, 'mode'); // a write: the -wal and -shm files exist now
    expect(mode(sqlitePath).toString(8)).toBe('600');
    for (const companion of ['-wal', '-shm'])
      if (existsSync(sqlitePath + companion)) expect(mode(sqlitePath + companion).toString(8), companion).toBe('600');
    expect(existsSync(`${sqlitePath}-wal`)).toBe(true);
  });

  it('(a) a database an older version left 0644 is tightened on start', async () => {
    const old = `.data/test/${uniquePrefix('round3-old')}.sqlite`;
    mkdirSync('.data/test', { recursive: true });
    writeFileSync(old, '');
    chmodSync(old, 0o644);
    const again = await startEmbedded('round3-old', { SQLITE_PATH: old });
    try {
      expect(mode(old).toString(8)).toBe('600');
    } finally {
      await again.close();
    }
  });

  it('3.4 ticket, then logout-all: 401 here too', async () => {
    const alice = await register(stack.api, 'etick');
    const ticket = await ticketFor(stack.api, alice);
    await stack.api.inject({ method: 'POST', url: '/api/auth/logout-all', headers: alice.auth });
    expect(await openStream(`${base}/api/visual-analysis/events?ticket=${ticket}`)).toEqual({
      status: 401,
      body: { detail: expect.any(String) },
    });
  });
});
