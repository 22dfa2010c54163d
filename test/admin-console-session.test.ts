import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { DataSource } from 'typeorm';
import { RefreshToken } from '@echo/users';
import { adminConsoleDir } from '../apps/api/src/admin-console.js';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { REQUIRE_SERVICES } from './support/services.js';
import { deactivate, PASSWORD, register, registerAdmin, type Session } from './support/users.js';
import { CHROMIUM, chromiumAvailable, launchChromium, screenshot, watchPage } from './support/browser.js';

/**
 * The console's session in Chromium: the refresh token in an HttpOnly cookie, the access token in
 * memory. Reloads, new tabs and pasted links stay signed in and open the screen the URL names;
 * two tabs reloading at once both stay signed in; signing out, a deactivation or "sign out
 * everywhere" elsewhere bring the sign-in form back on the next load.
 */
const haveChromium = chromiumAvailable();
if (!haveChromium) {
  const message = `admin console session suite: Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`;
  if (REQUIRE_SERVICES) throw new Error(`${message}; REQUIRE_SERVICES=1 makes this a failure`);
  console.warn(`${message}: skipped`);
}

const UNAUTHORIZED = 'console: Failed to load resource: the server responded with a status of 401 (Unauthorized)';

async function listen(stack: TestStack): Promise<string> {
  if (!adminConsoleDir())
    throw new Error('dist/admin is missing: run `npm run build` (it builds the console) before the browser suite');
  await stack.api.listen({ port: 0, host: '127.0.0.1' });
  const address = stack.api.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${address.port}`;
}

const signInForm = (page: Page) => page.getByLabel('Username or email');

async function signIn(page: Page, login: string): Promise<void> {
  await signInForm(page).fill(login);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describe.skipIf(!haveChromium || !servicesUp())(
  'admin console session in Chromium (MariaDB + Redis)',
  { timeout: 60_000 },
  () => {
    let stack: TestStack;
    let origin: string;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    let watched: { problems: string[] };
    let admin: Session;
    let admin2: Session;
    let alice: Session;
    let bob: Session;
    /** Status of every cookie refresh the console made, in order (both tabs). */
    const refreshes: number[] = [];

    const sessionCookie = async () =>
      (await context.cookies(`${origin}/api/auth/session`)).find((c) => c.name === 'echo_refresh');
    const tokensOf = (userId: number) =>
      stack.api.get(DataSource).getRepository(RefreshToken).find({ where: { userId } });
    const watch = (p: Page) => {
      p.on('response', (res) => {
        if (res.url().endsWith('/api/auth/session/refresh')) refreshes.push(res.status());
      });
      return watchPage(p, origin);
    };

    beforeAll(async () => {
      stack = await startStack('console-session', { THROTTLE_AUTH_LIMIT: '1000' });
      origin = await listen(stack);
      admin = await registerAdmin(stack.api);
      admin2 = await registerAdmin(stack.api);
      alice = await register(stack.api, 'alice');
      bob = await register(stack.api, 'bob');
      browser = await launchChromium();
      context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      page = await context.newPage();
      watched = watch(page);
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await stack?.close();
    });

    it('a pasted link opens after signing in; the refresh token is in an HttpOnly cookie the page cannot read', async () => {
      await page.goto(`${origin}/admin/users/${alice.id}`);
      await signIn(page, admin.username);
      await page.getByRole('heading', { name: alice.username }).waitFor();
      const cookie = (await sessionCookie())!;
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api/auth/session', secure: false });
      // It lives as long as the refresh token (JWT_REFRESH_TTL_SECONDS).
      const ttl = stack.config.auth.refreshTtlSeconds;
      expect(Math.abs(cookie.expires - (Date.now() / 1000 + ttl))).toBeLessThan(60);
      // Nothing the page's scripts can read holds a token.
      const readable = await page.evaluate<{ cookie: string; local: number; session: number }>(
        '({ cookie: document.cookie, local: localStorage.length, session: sessionStorage.length })',
      );
      expect(readable).toEqual({ cookie: '', local: 0, session: 0 });
      expect(watched.problems).toEqual([]);
    });

    it('a reload stays signed in, on the same screen', async () => {
      await page.reload();
      await page.getByRole('heading', { name: alice.username }).waitFor();
      expect(await signInForm(page).count()).toBe(0);
      expect(new URL(page.url()).pathname).toBe(`/admin/users/${alice.id}`);
      await screenshot(page, 'session-reload-deep-link');
      // In-app navigation after the reload uses the restored session.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
      await page.getByRole('heading', { name: 'Users' }).waitFor();
      expect(watched.problems).toEqual([]);
    });

    it('a new tab with a pasted link opens signed in; two tabs reloading at once both stay signed in', async () => {
      const tab = await context.newPage();
      const tabWatched = watch(tab);
      await tab.goto(`${origin}/admin/users/${bob.id}`);
      await tab.getByRole('heading', { name: bob.username }).waitFor();
      await screenshot(tab, 'session-new-tab');

      await page.goto(`${origin}/admin/users/${alice.id}`);
      await page.getByRole('heading', { name: alice.username }).waitFor();
      // Hold both tabs' refreshes until both were sent, so they carry the same cookie: a real race.
      const held: Route[] = [];
      const sent: string[] = [];
      let release!: () => void;
      const bothHeld = new Promise<void>((resolve) => (release = resolve));
      await context.route('**/api/auth/session/refresh', async (route) => {
        sent.push((await route.request().allHeaders()).cookie ?? '');
        held.push(route);
        if (held.length === 2) release();
        await bothHeld;
        await route.continue();
      });
      const before = refreshes.length;
      await Promise.all([page.reload(), tab.reload()]);
      await Promise.all([
        page.getByRole('heading', { name: alice.username }).waitFor(),
        tab.getByRole('heading', { name: bob.username }).waitFor(),
      ]);
      await context.unroute('**/api/auth/session/refresh');
      expect(sent).toHaveLength(2);
      expect(sent[0]).toMatch(/echo_refresh=/);
      expect(sent[1]).toBe(sent[0]);
      expect(refreshes.slice(before).every((status) => status === 200)).toBe(true);
      // Nothing was taken for reuse: no token of the admin is revoked, and the console's family
      // has exactly one live token (beside the JSON pair from registering).
      const tokens = (await tokensOf(admin.id)).filter((t) => t.id !== admin.refresh.split('.')[0]);
      expect(tokens.filter((t) => t.revokedAt)).toEqual([]);
      expect(tokens.filter((t) => !t.usedAt)).toHaveLength(1);
      // And both tabs go on working (another reload each, one after the other).
      await tab.reload();
      await tab.getByRole('heading', { name: bob.username }).waitFor();
      await page.reload();
      await page.getByRole('heading', { name: alice.username }).waitFor();
      expect(tabWatched.problems).toEqual([]);
      expect(watched.problems).toEqual([]);
      await tab.close();
    });

    it('after signing out, a reload (in any tab) shows the sign-in form', async () => {
      const tab = await context.newPage();
      const tabWatched = watch(tab);
      await tab.goto(`${origin}/admin`);
      await tab.getByRole('heading', { name: 'Overview' }).waitFor();
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await signInForm(page).waitFor();
      expect(await sessionCookie()).toBeUndefined();
      // The family is revoked server-side too (the JSON pair from registering is another session).
      const tokens = (await tokensOf(admin.id)).filter((t) => t.id !== admin.refresh.split('.')[0]);
      expect(tokens.length).toBeGreaterThan(1);
      expect(tokens.filter((t) => !t.revokedAt)).toEqual([]);
      await page.reload();
      await signInForm(page).waitFor();
      // Signed out, not expired: no notice.
      expect(await page.getByRole('status').count()).toBe(0);
      expect(new URL(page.url()).pathname).toBe(`/admin/users/${alice.id}`);
      await screenshot(page, 'session-signed-out-reload');
      await tab.reload();
      await signInForm(tab).waitFor();
      // No cookie: the on-load check is a 204, so no error in either console.
      expect(watched.problems).toEqual([]);
      expect(tabWatched.problems).toEqual([]);
      await tab.close();
    });

    it('after an admin deactivates the account, a reload shows the sign-in form', async () => {
      await signIn(page, admin2.username);
      await page.getByRole('heading', { name: alice.username }).waitFor();
      expect((await deactivate(stack.api, admin, admin2.id)).statusCode).toBe(200);
      await page.reload();
      await page.getByRole('status').filter({ hasText: 'Your session has expired' }).waitFor();
      await signInForm(page).waitFor();
      await screenshot(page, 'session-deactivated-reload');
      // The refused cookie was cleared: the next load does not send it again.
      expect(await sessionCookie()).toBeUndefined();
      expect(refreshes.at(-1)).toBe(401);
      expect(watched.problems).toEqual([UNAUTHORIZED]); // the refused refresh, the point of the step
      watched.problems.length = 0;
      await page.reload();
      await signInForm(page).waitFor();
      expect(refreshes.at(-1)).toBe(204);
      expect(watched.problems).toEqual([]);
    });

    it('after "sign out everywhere" from another session, a reload shows the sign-in form', async () => {
      await signIn(page, admin.username);
      await page.getByRole('heading', { name: alice.username }).waitFor();
      // The admin's other session (the token from registering) signs out everywhere.
      const all = await stack.api.inject({ method: 'POST', url: '/api/auth/logout-all', headers: admin.auth });
      expect(all.statusCode).toBe(204);
      await page.reload();
      await page.getByRole('status').filter({ hasText: 'Your session has expired' }).waitFor();
      await signInForm(page).waitFor();
      expect(watched.problems).toEqual([UNAUTHORIZED]);
      watched.problems.length = 0;
      // Signing in again works and lands on the same screen.
      await signIn(page, admin.username);
      await page.getByRole('heading', { name: alice.username }).waitFor();
      expect(watched.problems).toEqual([]);
      // One live token: the new sign-in's (every earlier one was revoked by "sign out everywhere").
      expect((await tokensOf(admin.id)).filter((t) => !t.revokedAt && !t.usedAt)).toHaveLength(1);
    });

    it("a non-admin's cookie session is signed out when the console loads: cookie cleared, refresh revoked", async () => {
      const other = await browser.newContext();
      try {
        // Any client of the cookie flow can hold one: here a plain user's, started in this browser.
        const started = await other.request.post(`${origin}/api/auth/session`, {
          headers: { 'x-echo-csrf': '1' },
          data: { username: alice.username, password: PASSWORD },
        });
        expect(started.status()).toBe(200);
        const cookieOf = async () =>
          (await other.cookies(`${origin}/api/auth/session`)).find((c) => c.name === 'echo_refresh');
        expect(await cookieOf()).toBeDefined();
        const tab = await other.newPage();
        const tabWatched = watchPage(tab, origin);
        await tab.goto(`${origin}/admin`);
        // The console signs the session out before it shows the form.
        await signInForm(tab).waitFor();
        expect(await tab.getByRole('status').count()).toBe(0);
        expect(await cookieOf()).toBeUndefined();
        // Server-side too: the cookie's family (the sign-in's token and the one the load's refresh
        // rotated it into) can refresh no more. The JSON pair from registering is another session.
        const tokens = (await tokensOf(alice.id)).filter((t) => t.id !== alice.refresh.split('.')[0]);
        expect(tokens).toHaveLength(2);
        expect(tokens.filter((t) => !t.revokedAt)).toEqual([]);
        expect(tabWatched.problems).toEqual([]);
      } finally {
        await other.close();
      }
    });
  },
);
