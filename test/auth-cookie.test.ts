import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { DataSource } from 'typeorm';
import { RefreshToken, SESSION_REUSE_GRACE_MS } from '@echo/users';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { PASSWORD, register, registerAdmin, deactivate, type Session } from './support/users.js';

const CSRF = { 'x-echo-csrf': '1' };
const JSON_TYPE = { 'content-type': 'application/json' };
/** A proxy address TRUST_PROXY names; inject's default client (127.0.0.1) is not trusted. */
const PROXY = '10.9.8.7';
const REFRESH_TTL = 3600;

interface SetCookie {
  value: string;
  attrs: Record<string, string | true>;
}

/** The echo_refresh Set-Cookie of a response, parsed (names of attributes lower-cased). */
function sessionCookie(res: LightMyRequestResponse): SetCookie | undefined {
  const raw = res.headers['set-cookie'];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const line = lines.find((l) => l.startsWith('echo_refresh='));
  if (!line) return undefined;
  const [pair, ...rest] = line.split(/; */);
  const attrs: Record<string, string | true> = {};
  for (const attr of rest) {
    const at = attr.indexOf('=');
    if (at < 0) attrs[attr.toLowerCase()] = true;
    else attrs[attr.slice(0, at).toLowerCase()] = attr.slice(at + 1);
  }
  return { value: decodeURIComponent(pair.slice('echo_refresh='.length)), attrs };
}

/** The cookie flow's contract, on one stack (MariaDB + Redis, or embedded SQLite). */
function cookieFlow(label: string, start: () => Promise<TestStack>) {
  describe(label, () => {
    let stack: TestStack;
    let api: TestStack['api'];

    beforeAll(async () => {
      stack = await start();
      api = stack.api;
    });
    afterAll(() => stack?.close());

    const signIn = (username: string, headers: Record<string, string> = {}, remoteAddress?: string) =>
      api.inject({
        method: 'POST',
        url: '/api/auth/session',
        headers: { ...CSRF, ...headers },
        payload: { username, password: PASSWORD },
        ...(remoteAddress ? { remoteAddress } : {}),
      });
    const post = (path: string, cookie?: string, headers: Record<string, string> = { ...CSRF, ...JSON_TYPE }) =>
      api.inject({
        method: 'POST',
        url: `/api/auth/session/${path}`,
        headers: { ...headers, ...(cookie ? { cookie: `echo_refresh=${encodeURIComponent(cookie)}` } : {}) },
        payload: '{}',
      });
    const refresh = (cookie?: string) => post('refresh', cookie);
    /** Signs `s` in with the cookie option; its cookie value. */
    const cookieFor = async (s: Session) => {
      const res = await signIn(s.username);
      expect(res.statusCode, res.body).toBe(200);
      return sessionCookie(res)!.value;
    };
    const me = (access: string) =>
      api.inject({ method: 'GET', url: '/api/users/me', headers: { authorization: `Bearer ${access}` } });
    const tokens = () => api.get(DataSource).getRepository(RefreshToken);
    const familyOf = async (cookie: string) =>
      tokens().find({ where: { familyId: (await tokens().findOneByOrFail({ id: cookie.split('.')[0] })).familyId } });
    /** The grace for a just-rotated token has passed (its use moved back in time). */
    const agePastGrace = (cookie: string) =>
      tokens().update({ id: cookie.split('.')[0] }, { usedAt: new Date(Date.now() - SESSION_REUSE_GRACE_MS - 1000) });

    it('sign-in sets an HttpOnly, SameSite=Strict cookie on the session routes for the token’s lifetime; the body has the access token only', async () => {
      const alice = await register(api, 'alice');
      const before = Date.now();
      const res = await signIn(alice.username);
      expect(res.statusCode, res.body).toBe(200);
      expect(Object.keys(res.json())).toEqual(['access']);
      expect(res.headers['cache-control']).toBe('no-store');
      const cookie = sessionCookie(res)!;
      expect(cookie.value).toMatch(/^[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);
      expect(res.body).not.toContain(cookie.value);
      expect(cookie.attrs).toMatchObject({ httponly: true, samesite: 'Strict', path: '/api/auth/session' });
      expect(cookie.attrs.secure).toBeUndefined(); // plain http, no trusted proxy
      expect(Number(cookie.attrs['max-age'])).toBeGreaterThanOrEqual(REFRESH_TTL - 2);
      expect(Number(cookie.attrs['max-age'])).toBeLessThanOrEqual(REFRESH_TTL);
      // Expires = the stored token's expires_at (to the second), what Max-Age counts down to.
      const row = await tokens().findOneByOrFail({ id: cookie.value.split('.')[0] });
      const expires = Date.parse(String(cookie.attrs.expires));
      expect(Math.abs(expires - new Date(row.expiresAt).getTime())).toBeLessThan(1000);
      expect(expires - before).toBeGreaterThan((REFRESH_TTL - 2) * 1000);
      const profile = await me(res.json().access);
      expect(profile.statusCode).toBe(200);
      expect(profile.json().username).toBe(alice.username);
    });

    it('Secure only when the scheme is https through a trusted proxy', async () => {
      const bob = await register(api, 'bob');
      const https = { 'x-forwarded-proto': 'https' };
      const trusted = await signIn(bob.username, https, PROXY);
      expect(trusted.statusCode, trusted.body).toBe(200);
      expect(sessionCookie(trusted)!.attrs.secure).toBe(true);
      // The same header from a client that is not a trusted proxy is not believed.
      const spoofed = await signIn(bob.username, https);
      expect(sessionCookie(spoofed)!.attrs.secure).toBeUndefined();
      // Rotation and sign-out keep the flag (a cleared cookie must match the one it replaces).
      const rotated = await api.inject({
        method: 'POST',
        url: '/api/auth/session/refresh',
        headers: { ...CSRF, ...JSON_TYPE, ...https, cookie: `echo_refresh=${sessionCookie(trusted)!.value}` },
        payload: '{}',
        remoteAddress: PROXY,
      });
      expect(rotated.statusCode, rotated.body).toBe(200);
      expect(sessionCookie(rotated)!.attrs.secure).toBe(true);
      const out = await api.inject({
        method: 'POST',
        url: '/api/auth/session/logout',
        headers: { ...CSRF, ...JSON_TYPE, ...https, cookie: `echo_refresh=${sessionCookie(rotated)!.value}` },
        payload: '{}',
        remoteAddress: PROXY,
      });
      expect(sessionCookie(out)!.attrs).toMatchObject({ secure: true, 'max-age': '0', path: '/api/auth/session' });
    });

    it('the JSON flow is unchanged: /api/auth/login answers access + refresh and sets no cookie', async () => {
      const carol = await register(api, 'carol');
      const res = await api.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: carol.username, password: PASSWORD },
      });
      expect(res.statusCode).toBe(200);
      expect(Object.keys(res.json()).sort()).toEqual(['access', 'refresh']);
      expect(res.headers['set-cookie']).toBeUndefined();
      const refreshed = await api.inject({
        method: 'POST',
        url: '/api/auth/refresh',
        payload: { refresh: res.json().refresh },
      });
      expect(refreshed.statusCode).toBe(200);
      expect(refreshed.headers['set-cookie']).toBeUndefined();
    });

    it('sign-in refuses what login refuses (bad password 401, unknown field 400), setting no cookie', async () => {
      const dora = await register(api, 'dora');
      const wrong = await api.inject({
        method: 'POST',
        url: '/api/auth/session',
        headers: CSRF,
        payload: { username: dora.username, password: 'not-the-password-1' },
      });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json()).toEqual({ detail: 'No active account found with the given credentials' });
      const extra = await api.inject({
        method: 'POST',
        url: '/api/auth/session',
        headers: CSRF,
        payload: { username: dora.username, password: PASSWORD, remember: true },
      });
      expect(extra.statusCode).toBe(400);
      expect(extra.json()).toHaveProperty('remember');
      expect(sessionCookie(wrong)).toBeUndefined();
      expect(sessionCookie(extra)).toBeUndefined();
    });

    it('a refused sign-in naming an admin is in the audit log, as for /api/auth/login', async () => {
      const admin = await registerAdmin(api);
      const target = await registerAdmin(api);
      const wrong = await api.inject({
        method: 'POST',
        url: '/api/auth/session',
        headers: CSRF,
        payload: { username: target.username, password: 'not-the-password-1' },
      });
      expect(wrong.statusCode).toBe(401);
      const log = await api.inject({
        method: 'GET',
        url: `/api/admin/audit-log?action=admin.sign_in_failed&target_type=user&target_id=${target.id}`,
        headers: admin.auth,
      });
      expect(log.statusCode, log.body).toBe(200);
      expect(log.json().results).toHaveLength(1);
      expect(log.json().results[0]).toMatchObject({ action: 'admin.sign_in_failed', target_label: target.username });
    });

    it('CSRF: no header, a form or text body, another origin, or another method is refused and the cookie is untouched', async () => {
      const erin = await register(api, 'erin');
      const cookie = await cookieFor(erin);
      const jar = { cookie: `echo_refresh=${encodeURIComponent(cookie)}` };
      for (const path of ['refresh', 'logout']) {
        const url = `/api/auth/session/${path}`;
        const noHeader = await api.inject({ method: 'POST', url, headers: { ...JSON_TYPE, ...jar }, payload: '{}' });
        expect(noHeader.statusCode, `${path} without the header`).toBe(403);
        expect(noHeader.json()).toEqual({ detail: 'CSRF Failed: the "X-Echo-CSRF: 1" header is missing.' });
        const wrongValue = await api.inject({
          method: 'POST',
          url,
          headers: { ...JSON_TYPE, ...jar, 'x-echo-csrf': 'yes' },
          payload: '{}',
        });
        expect(wrongValue.statusCode).toBe(403);
        // What an HTML form can send (urlencoded, multipart, text/plain) is refused even with the
        // header (which a form cannot add anyway).
        const urlencoded = await api.inject({
          method: 'POST',
          url,
          headers: { ...CSRF, ...jar, 'content-type': 'application/x-www-form-urlencoded' },
          payload: 'a=1',
        });
        expect(urlencoded.statusCode, `${path} urlencoded`).toBe(403);
        expect(urlencoded.json().detail).toBe('CSRF Failed: the body must be JSON (Content-Type: application/json).');
        const formData = await api.inject({
          method: 'POST',
          url,
          headers: { ...CSRF, ...jar, 'content-type': 'multipart/form-data; boundary=x' },
          payload: '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
        });
        expect(formData.statusCode, `${path} multipart`).toBe(403);
        expect(formData.json().detail).toBe('CSRF Failed: the body must be JSON (Content-Type: application/json).');
        const text = await api.inject({
          method: 'POST',
          url,
          headers: { ...CSRF, ...jar, 'content-type': 'text/plain' },
          payload: '{}',
        });
        expect(text.statusCode, `${path} text/plain`).toBe(403);
        for (const site of ['cross-site', 'same-site']) {
          const other = await api.inject({
            method: 'POST',
            url,
            headers: { ...CSRF, ...JSON_TYPE, ...jar, 'sec-fetch-site': site },
            payload: '{}',
          });
          expect(other.statusCode, `${path} ${site}`).toBe(403);
          expect(other.json()).toEqual({ detail: 'CSRF Failed: the request came from another origin.' });
        }
        // An <img> or a link: GET (and HEAD) are 405, DRF's answer for a method a route lacks.
        const get = await api.inject({ method: 'GET', url, headers: jar });
        expect(get.statusCode, `GET ${path}`).toBe(405);
        expect(get.json()).toEqual({ detail: 'Method "GET" not allowed.' });
        expect(get.headers.allow).toBe('POST, OPTIONS');
        expect((await api.inject({ method: 'HEAD', url, headers: jar })).statusCode, `HEAD ${path}`).toBe(405);
        for (const res of [noHeader, wrongValue, urlencoded, formData, text, get])
          expect(sessionCookie(res), `${path}: no Set-Cookie on a refusal`).toBeUndefined();
      }
      // Sign-in too (a forged cross-site sign-in would plant someone else's session).
      const form = await api.inject({
        method: 'POST',
        url: '/api/auth/session',
        payload: { username: erin.username, password: PASSWORD },
      });
      expect(form.statusCode).toBe(403);
      expect(sessionCookie(form)).toBeUndefined();
      // None of the refusals used or revoked the token: it still rotates once.
      const family = await familyOf(cookie);
      expect(family.every((t) => !t.usedAt && !t.revokedAt)).toBe(true);
      const ok = await refresh(cookie);
      expect(ok.statusCode, ok.body).toBe(200);
      // A same-origin browser request (Sec-Fetch-Site: same-origin) is accepted.
      const sameOrigin = await post('refresh', sessionCookie(ok)!.value, {
        ...CSRF,
        ...JSON_TYPE,
        'sec-fetch-site': 'same-origin',
      });
      expect(sameOrigin.statusCode, sameOrigin.body).toBe(200);
    });

    it('refresh rotates the cookie; a rotated cookie reused after the grace revokes the family', async () => {
      const finn = await register(api, 'finn');
      const first = await cookieFor(finn);
      const res = await refresh(first);
      expect(res.statusCode, res.body).toBe(200);
      expect(Object.keys(res.json())).toEqual(['access']);
      expect(res.headers['cache-control']).toBe('no-store');
      expect((await me(res.json().access)).statusCode).toBe(200);
      const second = sessionCookie(res)!;
      expect(second.value).not.toBe(first);
      expect(second.attrs).toMatchObject({ httponly: true, samesite: 'Strict', path: '/api/auth/session' });
      expect(Number(second.attrs['max-age'])).toBeGreaterThanOrEqual(REFRESH_TTL - 2);
      const third = sessionCookie(await refresh(second.value))!.value;
      // Reuse of the first cookie (used two rotations ago, and past the grace): the family dies.
      await agePastGrace(first);
      const reuse = await refresh(first);
      expect(reuse.statusCode).toBe(401);
      expect(reuse.json()).toEqual({ detail: 'Token is invalid or expired' });
      expect(sessionCookie(reuse)!.attrs).toMatchObject({ 'max-age': '0', path: '/api/auth/session' });
      expect((await familyOf(first)).every((t) => t.revokedAt)).toBe(true);
      // ... including the newest token, which the thief or the owner holds.
      const newest = await refresh(third);
      expect(newest.statusCode).toBe(401);
      expect(sessionCookie(newest)!.attrs['max-age']).toBe('0');
    });

    it('the just-rotated cookie reused past the grace also revokes the family', async () => {
      const gail = await register(api, 'gail');
      const first = await cookieFor(gail);
      const second = sessionCookie(await refresh(first))!.value;
      await agePastGrace(first);
      expect((await refresh(first)).statusCode).toBe(401);
      expect((await refresh(second)).statusCode).toBe(401);
    });

    it('two tabs presenting the same cookie at once both get the same new cookie; the family stays live', async () => {
      const hugo = await register(api, 'hugo');
      const cookie = await cookieFor(hugo);
      const answers = await Promise.all(Array.from({ length: 4 }, () => refresh(cookie)));
      for (const res of answers) expect(res.statusCode, res.body).toBe(200);
      const values = new Set(answers.map((res) => sessionCookie(res)!.value));
      expect(values.size).toBe(1);
      for (const res of answers) expect((await me(res.json().access)).statusCode).toBe(200);
      // One live token in the family: the one every tab now holds.
      const [next] = values;
      const live = (await familyOf(cookie)).filter((t) => !t.usedAt && !t.revokedAt);
      expect(live.map((t) => t.id)).toEqual([next.split('.')[0]]);
      // A late retry within the grace (a response lost to a reload) gets it again, too.
      const late = await refresh(cookie);
      expect(late.statusCode).toBe(200);
      expect(sessionCookie(late)!.value).toBe(next);
      // And the chain goes on from it.
      const onward = await refresh(next);
      expect(onward.statusCode).toBe(200);
      expect(sessionCookie(onward)!.value).not.toBe(next);
      // Once the successor has been used, the old cookie is no longer a retry: reuse.
      const stale = await refresh(cookie);
      expect(stale.statusCode).toBe(401);
      expect((await familyOf(cookie)).every((t) => t.revokedAt)).toBe(true);
    });

    it('no cookie: 204 and nothing set; a forged cookie: 401 and the cookie cleared', async () => {
      const none = await refresh();
      expect(none.statusCode).toBe(204);
      expect(none.body).toBe('');
      expect(sessionCookie(none)).toBeUndefined();
      const ivan = await register(api, 'ivan');
      const [id] = (await cookieFor(ivan)).split('.');
      for (const forged of [`${id}.${'A'.repeat(43)}`, 'garbage', `${id}`]) {
        const res = await refresh(forged);
        expect(res.statusCode, forged).toBe(401);
        expect(sessionCookie(res)!.attrs).toMatchObject({ 'max-age': '0', path: '/api/auth/session' });
      }
    });

    it('sign-out clears the cookie (Max-Age=0, same Path) and revokes the family', async () => {
      const jane = await register(api, 'jane');
      const first = await cookieFor(jane);
      const current = sessionCookie(await refresh(first))!.value;
      const out = await post('logout', current);
      expect(out.statusCode).toBe(204);
      const cleared = sessionCookie(out)!;
      expect(cleared.value).toBe('');
      expect(cleared.attrs).toMatchObject({ 'max-age': '0', path: '/api/auth/session', httponly: true });
      expect(Date.parse(String(cleared.attrs.expires))).toBe(0);
      expect((await familyOf(first)).every((t) => t.revokedAt)).toBe(true);
      expect((await refresh(current)).statusCode).toBe(401);
      // Without a cookie, or with a dead one, signing out still succeeds and clears.
      for (const cookie of [undefined, current]) {
        const again = await post('logout', cookie);
        expect(again.statusCode).toBe(204);
        expect(sessionCookie(again)!.attrs['max-age']).toBe('0');
      }
    });

    it('"sign out everywhere" ends the cookie session', async () => {
      const kim = await register(api, 'kim');
      const cookie = await cookieFor(kim);
      const all = await api.inject({ method: 'POST', url: '/api/auth/logout-all', headers: kim.auth });
      expect(all.statusCode).toBe(204);
      const res = await refresh(cookie);
      expect(res.statusCode).toBe(401);
      expect(sessionCookie(res)!.attrs['max-age']).toBe('0');
    });

    it('an admin deactivating the account, or its deletion, ends the cookie session', async () => {
      const admin = await registerAdmin(api);
      const leo = await register(api, 'leo');
      const rotated = await refresh(await cookieFor(leo));
      const { access } = rotated.json();
      const current = sessionCookie(rotated)!.value;
      expect((await deactivate(api, admin, leo.id)).statusCode).toBe(200);
      expect((await me(access)).statusCode).toBe(401);
      const refused = await refresh(current);
      expect(refused.statusCode).toBe(401);
      expect(sessionCookie(refused)!.attrs['max-age']).toBe('0');
      expect((await familyOf(current)).every((t) => t.revokedAt)).toBe(true);

      const mia = await register(api, 'mia');
      const miaCookie = await cookieFor(mia);
      const deleted = await api.inject({
        method: 'DELETE',
        url: '/api/users/me',
        headers: mia.auth,
        payload: { current_password: PASSWORD },
      });
      expect(deleted.statusCode, deleted.body).toBe(202);
      expect((await refresh(miaCookie)).statusCode).toBe(401);
      // Signing in again is refused while the deletion is pending (403, the deletion's own answer).
      const again = await signIn(mia.username);
      expect(again.statusCode).toBe(403);
      expect(again.json().code).toBe('account_pending_deletion');
      expect(sessionCookie(again)).toBeUndefined();
    });
  });
}

const env = { THROTTLE_AUTH_LIMIT: '1000', TRUST_PROXY: PROXY, JWT_REFRESH_TTL_SECONDS: String(REFRESH_TTL) };

describe.skipIf(!servicesUp())('cookie session flow', () => {
  cookieFlow('MariaDB + Redis', () => startStack('auth-cookie', env));
});

describe('cookie session flow, embedded', () => {
  cookieFlow('SQLite', () => startEmbedded('auth-cookie', env));

  it('CORS never grants credentials, so another origin cannot send the CSRF header with the cookie', async () => {
    const stack = await startEmbedded('auth-cookie-cors', { ...env, CORS_ORIGINS: '*' });
    try {
      const preflight = await stack.api.inject({
        method: 'OPTIONS',
        url: '/api/auth/session/refresh',
        headers: {
          origin: 'https://elsewhere.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type, x-echo-csrf',
        },
      });
      expect(preflight.statusCode).toBeLessThan(300);
      // A credentialed cross-origin request needs Access-Control-Allow-Credentials: true; never sent.
      expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
    } finally {
      await stack.close();
    }
  });
});
