import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { adminConsoleDir } from '../apps/api/src/admin-console.js';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { REQUIRE_SERVICES } from './support/services.js';
import { PASSWORD, register, registerAdmin, type Session } from './support/users.js';
import { multipart } from './support/images.js';
import { waitFor } from './support/wait.js';
import { CHROMIUM, chromiumAvailable, launchChromium, screenshot, watchPage } from './support/browser.js';
import { postUpload } from './support/uploads.js';

/**
 * Issue 24 §3 in the admin console: the Audit log screen lists the admin actions done in the
 * console (newest first, actor, target linked to its screen while it exists, `field: before →
 * after`, request id, IP) exactly as GET /api/admin/audit-log has them; its filters live in the URL
 * (a reload and a pasted link keep them); numbered and cursor pages; the History of a user and of
 * an upload (its analyses' retries included); and a user whose deletion is scheduled is offered
 * "Cancel deletion", not "Reactivate". Headless Chromium against the built console on MariaDB +
 * Redis + a worker (a real failed analysis to retry).
 */

const haveChromium = chromiumAvailable();
if (!haveChromium) {
  const message = `admin console audit suite: Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`;
  if (REQUIRE_SERVICES) throw new Error(`${message}; REQUIRE_SERVICES=1 makes this a failure`);
  console.warn(`${message}: skipped`);
}

interface Entry {
  id: number;
  created_at: string;
  actor_id: number | null;
  actor_username: string;
  action: string;
  target_type: string;
  target_id: string;
  target_label: string;
  changes: Record<string, [unknown, unknown]>;
  request_id: string | null;
  ip: string | null;
}

/** A photo-like JPEG (gradient and a disc). */
function scene(width: number, height: number): Promise<Buffer> {
  const svg = `<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#203040"/><stop offset="1" stop-color="#e0c090"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/><circle cx="${width / 3}" cy="${height / 3}" r="${height / 5}" fill="#c03030"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 88 }).toBuffer();
}

describe.skipIf(!haveChromium || !servicesUp())(
  'admin console audit log and History in Chromium (MariaDB + Redis + worker)',
  // Browser steps wait on a loaded 2-core CI machine: a minute and a half per step before calling it hung.
  { timeout: 90_000 },
  () => {
    let stack: TestStack;
    let origin: string;
    let browser: Browser;
    let page: Page;
    let watched: { problems: string[] };
    let admin: Session;
    let alice: Session;
    let bob: Session;
    let harbour: string;
    let cut: string;

    /** The API's entries for `query`, newest first (one page: every set here is small). */
    const apiEntries = async (query = ''): Promise<Entry[]> => {
      const res = await stack.api.inject({
        method: 'GET',
        url: `/api/admin/audit-log?page_size=200${query ? `&${query}` : ''}`,
        headers: admin.auth,
      });
      expect(res.statusCode, res.body).toBe(200);
      return res.json().results;
    };
    const upload = async (title: string, filename: string, data: Buffer) =>
      (
        await postUpload(
          stack.api,
          alice,
          multipart([
            { name: 'title', value: title },
            { name: 'file', filename, contentType: 'image/jpeg', data },
          ]),
        )
      ).id as string;
    const analysisOf = async (uploadId: string) =>
      (
        await stack.api.inject({
          method: 'GET',
          url: `/api/admin/visual-analysis?upload_id=${uploadId}`,
          headers: admin.auth,
        })
      ).json().results[0];
    const settled = (uploadId: string, status: string) =>
      waitFor(async () => (await analysisOf(uploadId))?.status === status, 60_000, `analysis ${status}`);

    const table = (name: 'Audit log' | 'History') => page.getByRole('table', { name, exact: true });
    /** The entry ids a table shows, in order. */
    const shownIds = (name: 'Audit log' | 'History') => () =>
      table(name)
        .locator('tbody tr[data-entry]')
        .evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-entry'))));
    const rowOf = (name: 'Audit log' | 'History', id: number) => table(name).locator(`tr[data-entry="${id}"]`);
    const cells = async (name: 'Audit log' | 'History', id: number) =>
      (await rowOf(name, id).locator('td').allTextContents()).map((t) => t.trim());
    const url = () => new URL(page.url());
    const onScreen = async (heading: string) => page.getByRole('heading', { name: heading, level: 1 }).waitFor();
    const openUser = async (s: Session) => {
      await page.goto(`${origin}/admin/users/${s.id}`);
      await onScreen(s.username);
    };
    const confirm = async (label: string) => {
      await page.getByRole('group', { name: 'Actions' }).getByRole('button', { name: label, exact: true }).click();
      await page.getByRole('dialog', { name: label }).getByRole('button', { name: label, exact: true }).click();
    };

    beforeAll(async () => {
      if (!adminConsoleDir())
        throw new Error('dist/admin is missing: run `npm run build` (it builds the console) before the browser suite');
      stack = await startStack('console-audit', { THROTTLE_AUTH_LIMIT: '1000' }, { worker: true });
      await stack.api.listen({ port: 0, host: '127.0.0.1' });
      origin = `http://127.0.0.1:${(stack.api.getHttpServer().address() as { port: number }).port}`;
      admin = await registerAdmin(stack.api);
      alice = await register(stack.api, 'alice');
      bob = await register(stack.api, 'bob');
      harbour = await upload('Harbour', 'harbour.jpg', await scene(640, 480));
      // Whole header, cut data: accepted at upload, undecodable for the worker (a real failure to retry).
      const jpeg = await scene(640, 480);
      cut = await upload('Cut JPEG', 'cut.jpg', jpeg.subarray(0, Math.floor(jpeg.length * 0.4)));
      await Promise.all([settled(harbour, 'completed'), settled(cut, 'failed')]);
      browser = await launchChromium();
      page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
      watched = watchPage(page, origin);
      await page.goto(`${origin}/admin`);
      await page.getByLabel('Username or email').fill(admin.username);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await onScreen('Overview');
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await stack?.close();
    });

    it('lists the actions done in the console, newest first, with actor, target, before → after, request id and IP', async () => {
      // Deactivate bob, then delete alice's Harbour, both by clicking.
      await openUser(bob);
      await confirm('Deactivate');
      await page.getByRole('status').filter({ hasText: 'is deactivated' }).waitFor();
      await page.goto(`${origin}/admin/uploads/${harbour}`);
      await onScreen('Harbour');
      await page.getByRole('button', { name: 'Delete upload' }).click();
      await page.getByRole('dialog', { name: 'Delete upload' }).getByRole('button', { name: 'Delete upload' }).click();
      await onScreen(alice.username);

      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
      await onScreen('Audit log');
      const all = await apiEntries();
      const [deleted, deactivated] = all;
      expect([deleted.action, deactivated.action]).toEqual(['upload.delete', 'user.update']);
      await expect.poll(shownIds('Audit log'), { timeout: 15_000 }).toEqual(all.map((e) => e.id));

      // [time, actor, action, target, changes, request id, ip]
      expect(await cells('Audit log', deactivated.id)).toEqual([
        expect.any(String),
        admin.username,
        'user.update',
        `${bob.username}user #${bob.id}`,
        'is_active: true → false',
        deactivated.request_id,
        '127.0.0.1',
      ]);
      expect(deactivated.request_id).toBeTruthy();
      const row = rowOf('Audit log', deactivated.id);
      expect(await row.locator('time').first().getAttribute('datetime')).toBe(deactivated.created_at);
      expect(await row.getByRole('link', { name: admin.username }).getAttribute('href')).toBe(
        `/admin/users/${admin.id}`,
      );
      expect(await row.getByRole('link', { name: bob.username }).getAttribute('href')).toBe(`/admin/users/${bob.id}`);

      // The upload is gone: named by the label the entry kept, not linked (its screen would be a 404).
      expect(await cells('Audit log', deleted.id)).toEqual([
        expect.any(String),
        admin.username,
        'upload.delete',
        `Harbourupload ${harbour.slice(0, 8)} · deleted`,
        `owner_id: ${alice.id} → —`,
        deleted.request_id,
        '127.0.0.1',
      ]);
      expect(await rowOf('Audit log', deleted.id).locator('td.target a').count()).toBe(0);
      // The admin's own promotion in the test's set-up: done in-process, so by 'system', no request.
      const promoted = all.find((e) => e.target_id === String(admin.id))!;
      expect(await cells('Audit log', promoted.id)).toEqual([
        expect.any(String),
        'system',
        'user.update',
        `${admin.username}user #${admin.id}`,
        'role: user → admin',
        '—',
        '—',
      ]);
      await screenshot(page, 'audit-log');
    });

    it('keeps its filters in the URL: a reload and a pasted link show the same entries and fields', async () => {
      await page.getByLabel('Action', { exact: true }).selectOption('user.update');
      await page.waitForURL(() => url().searchParams.get('action') === 'user.update');
      await expect
        .poll(shownIds('Audit log'), { timeout: 15_000 })
        .toEqual((await apiEntries('action=user.update')).map((e) => e.id));
      await page.getByLabel('Target type', { exact: true }).selectOption('user');
      await page.getByLabel('Target id', { exact: true }).fill(String(bob.id));
      await page.getByLabel('Target id', { exact: true }).press('Enter');
      await page.waitForURL(() => url().searchParams.get('target_id') === String(bob.id));
      const bobs = (await apiEntries(`action=user.update&target_type=user&target_id=${bob.id}`)).map((e) => e.id);
      expect(bobs).toHaveLength(1);
      await expect.poll(shownIds('Audit log'), { timeout: 15_000 }).toEqual(bobs);

      await page.reload();
      await onScreen('Audit log');
      await expect.poll(shownIds('Audit log'), { timeout: 15_000 }).toEqual(bobs);
      expect(await page.getByLabel('Action', { exact: true }).inputValue()).toBe('user.update');
      expect(await page.getByLabel('Target type', { exact: true }).inputValue()).toBe('user');
      expect(await page.getByLabel('Target id', { exact: true }).inputValue()).toBe(String(bob.id));
      await screenshot(page, 'audit-log-filtered');

      // A pasted link: the actor by id in the URL, shown by name; and a day range.
      const today = new Date().toISOString().slice(0, 10);
      await page.goto(`${origin}/admin/audit-log?actor_id=${admin.id}&created_after=${today}`);
      await onScreen('Audit log');
      const byAdmin = (await apiEntries(`actor_id=${admin.id}&created_after=${today}`)).map((e) => e.id);
      expect(byAdmin).toHaveLength(2);
      await expect.poll(shownIds('Audit log'), { timeout: 15_000 }).toEqual(byAdmin);
      await expect.poll(() => page.getByLabel('Actor', { exact: true }).inputValue()).toBe(admin.username);
      expect(await page.getByLabel('From', { exact: true }).inputValue()).toBe(today);
      // "To" yesterday: an empty range (the URL holds the exclusive next day, i.e. today).
      const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
      await page.getByLabel('To', { exact: true }).fill(yesterday);
      await page.waitForURL(() => url().searchParams.get('created_before') === today);
      await page.getByText('No entries match these filters.').waitFor();
      await page.getByRole('button', { name: 'Clear filters' }).click();
      await page.waitForURL(() => url().search === '');
      await expect.poll(shownIds('Audit log'), { timeout: 15_000 }).toEqual((await apiEntries()).map((e) => e.id));
    });

    it('pages through a large set in numbered and cursor pages as the API pages it; a History shows older entries on demand', async () => {
      const dave = await register(stack.api, 'dave');
      // 30 role changes: 30 entries on dave.
      for (let i = 0; i < 30; i++) {
        const res = await stack.api.inject({
          method: 'PATCH',
          url: `/api/admin/users/${dave.id}`,
          headers: admin.auth,
          payload: { role: i % 2 ? 'user' : 'admin' },
        });
        expect(res.statusCode, res.body).toBe(200);
      }
      const ids = (await apiEntries(`target_type=user&target_id=${dave.id}`)).map((e) => e.id);
      expect(ids).toHaveLength(30);
      await page.goto(`${origin}/admin/audit-log?target_type=user&target_id=${dave.id}&page_size=25`);
      await onScreen('Audit log');
      await expect.poll(shownIds('Audit log'), { timeout: 15_000 }).toEqual(ids.slice(0, 25));
      expect(await page.getByRole('navigation', { name: 'Pagination' }).textContent()).toContain(
        'Page 1 of 2 · 30 total',
      );
      await page.getByRole('button', { name: 'Next →' }).click();
      await page.waitForURL(() => url().searchParams.get('page') === '2');
      await expect.poll(shownIds('Audit log'), { timeout: 15_000 }).toEqual(ids.slice(25));

      await page.getByLabel('Paging').selectOption('cursor');
      await page.waitForURL(() => url().searchParams.get('paging') === 'cursor' && !url().searchParams.has('page'));
      await expect.poll(shownIds('Audit log'), { timeout: 15_000 }).toEqual(ids.slice(0, 25));
      await page.getByRole('button', { name: 'Next →' }).click();
      await page.waitForURL(() => Boolean(url().searchParams.get('cursor')));
      await expect.poll(shownIds('Audit log'), { timeout: 15_000 }).toEqual(ids.slice(25));
      expect(await page.getByRole('button', { name: 'Next →' }).isDisabled()).toBe(true);

      // Dave's History: 20 at first, then "Show older" reads the rest.
      await openUser(dave);
      await expect.poll(shownIds('History'), { timeout: 15_000 }).toEqual(ids.slice(0, 20));
      await page.getByRole('button', { name: 'Show older' }).click();
      await expect.poll(shownIds('History'), { timeout: 15_000 }).toEqual(ids);
      expect(await page.getByRole('button', { name: 'Show older' }).count()).toBe(0);
    });

    it("the user screen's History lists that user's entries and gains each action done there", async () => {
      await openUser(bob);
      const history = async () => (await apiEntries(`target_type=user&target_id=${bob.id}`)).map((e) => e.id);
      await expect.poll(shownIds('History'), { timeout: 15_000 }).toEqual(await history());
      // Not deletion-pending: Reactivate is offered, and its entry appears at the top.
      await confirm('Reactivate');
      await page.getByRole('status').filter({ hasText: 'is active again' }).waitFor();
      await confirm('Sign out everywhere');
      await page.getByRole('status').filter({ hasText: 'Signed out everywhere' }).waitFor();
      const ids = await history();
      expect(ids).toHaveLength(3);
      await expect.poll(shownIds('History'), { timeout: 15_000 }).toEqual(ids);
      expect((await cells('History', ids[0])).slice(1, 5)).toEqual([
        admin.username,
        'user.logout_all',
        `${bob.username}user #${bob.id}`,
        '—',
      ]);
      expect((await cells('History', ids[1])).slice(2, 5)).toEqual([
        'user.update',
        `${bob.username}user #${bob.id}`,
        'is_active: false → true',
      ]);
      expect(await page.getByRole('link', { name: 'Open in the Audit log' }).getAttribute('href')).toBe(
        `/admin/audit-log?target_type=user&target_id=${bob.id}`,
      );
      await screenshot(page, 'user-history');
    });

    it("the upload screen's History lists its analyses' retries (analysis.retry, status failed → queued)", async () => {
      await page.goto(`${origin}/admin/uploads/${cut}`);
      await onScreen('Cut JPEG');
      await page.getByText('No admin action recorded.').waitFor();
      const analysis = await analysisOf(cut);
      expect(analysis.status).toBe('failed');
      await page.getByRole('button', { name: 'Retry analysis' }).click();
      const [retried] = await waitFor(
        async () => {
          const found = await apiEntries(`target_type=analysis&target_id=${analysis.id}`);
          return found.length ? found : undefined;
        },
        15_000,
        'the retry entry',
      );
      expect(retried.changes).toEqual({ status: ['failed', 'queued'], error: [analysis.error, null] });
      await expect.poll(shownIds('History'), { timeout: 15_000 }).toEqual([retried.id]);
      const shown = await cells('History', retried.id);
      expect(shown.slice(1, 3)).toEqual([admin.username, 'analysis.retry']);
      expect(shown[4]).toBe(`status: failed → queuederror: ${analysis.error} → —`);
      // An analysis has no screen: its target links to its upload.
      expect(await rowOf('History', retried.id).locator('td.target a').getAttribute('href')).toBe(
        `/admin/uploads/${cut}`,
      );
      await screenshot(page, 'upload-history');
      // The retried file is still cut: it fails again; the History keeps its entry.
      await settled(cut, 'failed');
      await expect.poll(shownIds('History'), { timeout: 15_000 }).toEqual([retried.id]);
    });

    it('a user whose deletion is scheduled is offered "Cancel deletion", not "Reactivate"', async () => {
      const carol = await register(stack.api, 'carol');
      const res = await stack.api.inject({
        method: 'DELETE',
        url: `/api/admin/users/${carol.id}`,
        headers: admin.auth,
      });
      expect(res.statusCode, res.body).toBeLessThan(300);
      await openUser(carol);
      await page.getByRole('button', { name: 'Cancel deletion' }).waitFor();
      const actions = page.getByRole('group', { name: 'Actions' });
      expect(await actions.getByRole('button').allTextContents()).toEqual(['Promote to admin', 'Sign out everywhere']);
      expect(await page.getByRole('button', { name: 'Reactivate' }).count()).toBe(0);
      const [scheduled] = await apiEntries(`target_type=user&target_id=${carol.id}`);
      expect(scheduled.action).toBe('user.delete');
      await expect.poll(shownIds('History'), { timeout: 15_000 }).toEqual([scheduled.id]);
      await screenshot(page, 'user-deletion-pending-actions');

      await page.getByRole('button', { name: 'Cancel deletion' }).click();
      await page
        .getByRole('dialog', { name: 'Cancel deletion' })
        .getByRole('button', { name: 'Cancel deletion' })
        .click();
      // Active again: Deactivate is back, and the History shows the restore at the top.
      await actions.getByRole('button', { name: 'Deactivate' }).waitFor();
      const [restored] = await apiEntries(`target_type=user&target_id=${carol.id}`);
      expect(restored.action).toBe('user.restore');
      await expect.poll(shownIds('History'), { timeout: 15_000 }).toEqual([restored.id, scheduled.id]);
      expect((await cells('History', restored.id))[4]).toMatch(/^is_active: false → truedelete_after: .+ → —$/);
    });

    it('is usable at 390 px wide (the nav has one more link); no console errors, no request outside Echo', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
      await onScreen('Audit log');
      await expect.poll(shownIds('Audit log'), { timeout: 15_000 }).toEqual((await apiEntries()).map((e) => e.id));
      // The table scrolls inside its frame; the page itself does not scroll sideways.
      expect(
        await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'),
      ).toBeLessThanOrEqual(0);
      await screenshot(page, 'audit-log-390');
      expect(watched.problems).toEqual([]);
    });
  },
);
