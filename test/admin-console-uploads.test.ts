import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { UploadsService } from '@echo/uploads';
import { adminConsoleDir } from '../apps/api/src/admin-console.js';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { REQUIRE_SERVICES } from './support/services.js';
import { PASSWORD, register, registerAdmin, type Session } from './support/users.js';
import { heifEnc, skipWithout } from './support/encoders.js';
import { multipart } from './support/images.js';
import { waitFor } from './support/wait.js';
import { CHROMIUM, chromiumAvailable, launchChromium, screenshot, watchPage } from './support/browser.js';
import { postUpload } from './support/uploads.js';

/**
 * Issue 24 §2 in the admin console: the Uploads screen over GET /api/admin/uploads — every
 * upload with its owner, type, size, dimensions, analysis status and upload time; the owner, file
 * type, analysis status (a real failed analysis), upload-day and search filters, all in the URL
 * through a reload; numbered and cursor paging; opening an upload; and selecting uploads to
 * delete with one confirmation (bounded parallel DELETEs, 404 counted as done, failures listed
 * and kept selected). Headless Chromium against the built console on MariaDB + Redis + a worker.
 */

const haveChromium = chromiumAvailable();
if (!haveChromium) {
  const message = `admin console uploads suite: Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`;
  if (REQUIRE_SERVICES) throw new Error(`${message}; REQUIRE_SERVICES=1 makes this a failure`);
  console.warn(`${message}: skipped`);
}

/** A photo-like scene (gradient and shapes). */
function scene(width: number, height: number, accent: string): Promise<Buffer> {
  const svg = `<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#203040"/><stop offset="1" stop-color="#e0c090"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/><circle cx="${width / 3}" cy="${height / 3}" r="${height / 5}" fill="${accent}"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Small noisy JPEGs: each one unlike the others. */
function filler(): Promise<Buffer> {
  const pixels = Buffer.alloc(64 * 48 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (Math.random() * 256) | 0;
  return sharp(pixels, { raw: { width: 64, height: 48, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

async function listen(stack: TestStack): Promise<string> {
  if (!adminConsoleDir())
    throw new Error('dist/admin is missing: run `npm run build` (it builds the console) before the browser suite');
  await stack.api.listen({ port: 0, host: '127.0.0.1' });
  const address = stack.api.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${address.port}`;
}

/**
 * After a navigation or reload: signs in if the console asks (today's in-memory session always
 * does; a cookie session would not), then waits for the Uploads screen. The URL is kept either way.
 */
async function onUploadsScreen(page: Page, login: string): Promise<void> {
  const form = page.getByLabel('Username or email');
  const heading = page.getByRole('heading', { name: 'Uploads', level: 1 });
  await form.or(heading).first().waitFor();
  if (await form.isVisible()) {
    await form.fill(login);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await heading.waitFor();
}

const FILLERS = 10;

describe.skipIf(!haveChromium || !servicesUp() || skipWithout('heifEnc'))(
  'admin console Uploads screen in Chromium (MariaDB + Redis + worker)',
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
    const ids: Record<string, string> = {};
    const bobIds: string[] = [];

    const call = async (url: string, method: 'GET' | 'DELETE' = 'GET') => {
      const res = await stack.api.inject({ method, url, headers: admin.auth });
      return { status: res.statusCode, body: res.body ? res.json() : undefined };
    };
    /** The ids the API lists with these params (one page: the set is small). */
    const apiIds = async (query: string) => {
      const { status, body } = await call(`/api/admin/uploads?page_size=200&${query}`);
      expect(status, JSON.stringify(body)).toBe(200);
      return (body.results as Array<{ id: string }>).map((u) => u.id);
    };
    const upload = async (owner: Session, title: string, filename: string, contentType: string, data: Buffer) => {
      const form = multipart([
        { name: 'title', value: title },
        { name: 'file', filename, contentType, data },
      ]);
      return (await postUpload(stack.api, owner, form)).id as string;
    };
    const table = () => page.getByRole('table', { name: 'Uploads' });
    /** The upload ids the table shows, in order (from each row's title link). */
    const shown = async () =>
      (
        await table()
          .locator('td.name a')
          .evaluateAll((links) => links.map((a) => a.getAttribute('href')))
      ).map((href) => href!.replace('/admin/uploads/', ''));
    const expectShown = (expected: string[]) => expect.poll(shown, { timeout: 15_000 }).toEqual(expected);
    const url = () => new URL(page.url());
    const rowOf = (id: string) =>
      table()
        .locator('tr')
        .filter({ has: page.locator(`td.name a[href="/admin/uploads/${id}"]`) });
    const selectFilter = async (label: string, value: string) => {
      await page.getByLabel(label, { exact: true }).selectOption(value);
    };

    beforeAll(async () => {
      stack = await startStack('console-uploads', { THROTTLE_AUTH_LIMIT: '1000' }, { worker: true });
      origin = await listen(stack);
      admin = await registerAdmin(stack.api);
      alice = await register(stack.api, 'alice');
      bob = await register(stack.api, 'bob');
      ids.harbour = await upload(
        alice,
        'Harbour at dusk',
        'IMG_0042.jpg',
        'image/jpeg',
        await sharp(await scene(1024, 768, '#c03030'))
          .jpeg({ quality: 88 })
          .toBuffer(),
      );
      ids.meadow = await upload(alice, 'Meadow', 'meadow.png', 'image/png', await scene(480, 640, '#e8c020'));
      const heic = await heifEnc(await scene(800, 600, '#30a060'));
      ids.sunflower = await upload(alice, 'Sunflower', 'sunflower.heic', 'image/heic', heic);
      // Whole headers, cut data: accepted at upload (type and size read), undecodable for the worker.
      ids.brokenHeic = await upload(
        alice,
        'Cut HEIC',
        'IMG_0100.HEIC',
        'image/heic',
        heic.subarray(0, Math.floor(heic.length * 0.6)),
      );
      const jpeg = await sharp(await scene(640, 480, '#3050c0'))
        .jpeg({ quality: 90 })
        .toBuffer();
      ids.brokenJpeg = await upload(
        alice,
        'Cut JPEG',
        'cut.jpg',
        'image/jpeg',
        jpeg.subarray(0, Math.floor(jpeg.length * 0.4)),
      );
      for (let i = 1; i <= FILLERS; i++)
        bobIds.push(await upload(bob, `Noise ${i}`, `noise-${i}.jpg`, 'image/jpeg', await filler()));
      await waitFor(
        async () => {
          const done = await call('/api/admin/visual-analysis?status=completed&page_size=1');
          const failed = await call('/api/admin/visual-analysis?status=failed&page_size=1');
          return done.body.count === FILLERS + 3 && failed.body.count === 2;
        },
        90_000,
        'every analysis settled (2 failed)',
      );
      browser = await launchChromium();
      page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
      watched = watchPage(page, origin);
      await page.goto(`${origin}/admin`);
      await page.getByLabel('Username or email').fill(admin.username);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Uploads' }).click();
      await onUploadsScreen(page, admin.username);
    }, 240_000);

    afterAll(async () => {
      await browser?.close();
      await stack?.close();
    });

    it('lists every upload with its thumbnail, owner, type, size, dimensions, analysis status and upload time', async () => {
      expect(url().pathname).toBe('/admin/uploads');
      const all = await apiIds('');
      expect(all).toHaveLength(FILLERS + 5);
      await expectShown(all);
      const harbour = (await call(`/api/admin/uploads/${ids.harbour}`)).body;
      const cells = await rowOf(ids.harbour).locator('td').allTextContents();
      // [checkbox, thumbnail, upload, owner, type, size, dimensions, analysis, uploaded]
      expect(cells.slice(2, 8)).toEqual([
        'Harbour at dusk' + 'IMG_0042.jpg',
        alice.username,
        'JPEG',
        expect.stringMatching(/ kB$/),
        '1024 × 768',
        'completed',
      ]);
      expect(await rowOf(ids.harbour).locator('td').nth(5).textContent()).toBe(
        `${(harbour.size / 1000).toFixed(1)} kB`,
      );
      expect(await rowOf(ids.harbour).getByRole('link', { name: alice.username }).getAttribute('href')).toBe(
        `/admin/users/${alice.id}`,
      );
      expect(await rowOf(ids.harbour).locator('time').first().getAttribute('datetime')).toBe(harbour.created_at);
      expect(await rowOf(ids.brokenHeic).locator('td').nth(4).textContent()).toBe('HEIC');
      expect(await rowOf(ids.brokenHeic).locator('.badge').textContent()).toBe('failed');
      // A completed upload's thumbnail is a real image.
      await expect
        .poll(
          () =>
            rowOf(ids.harbour)
              .locator('img.loaded')
              .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
          { timeout: 10_000 },
        )
        .toBeGreaterThan(0);
      await screenshot(page, 'uploads');
      expect(watched.problems).toEqual([]);
    });

    it('narrows by format, file type, analysis status ("all HEICs that failed"), owner and upload day', async () => {
      await selectFilter('Format', 'png');
      await page.waitForURL(() => url().searchParams.get('format') === 'png');
      await expectShown([ids.meadow]);
      await selectFilter('Format', '');

      await selectFilter('File type', 'image/heic');
      await page.waitForURL(
        () => url().searchParams.get('content_type') === 'image/heic' && !url().searchParams.has('format'),
      );
      await expectShown(await apiIds('content_type=image/heic'));
      expect([...(await shown())].sort()).toEqual([ids.sunflower, ids.brokenHeic].sort());

      await selectFilter('Analysis', 'failed');
      await page.waitForURL(() => url().searchParams.get('analysis_status') === 'failed');
      await expectShown([ids.brokenHeic]);
      await screenshot(page, 'uploads-failed-heic');
      // Failed, any type: both cut files.
      await selectFilter('File type', '');
      await expectShown(await apiIds('analysis_status=failed'));
      expect([...(await shown())].sort()).toEqual([ids.brokenHeic, ids.brokenJpeg].sort());
      await page.getByRole('button', { name: 'Clear filters' }).click();
      await page.waitForURL(() => url().search === '');

      // Owner by username (Enter), shown by name; an unknown name is said so and changes nothing.
      const owner = page.getByLabel('Owner', { exact: true });
      await owner.fill(alice.username);
      await owner.press('Enter');
      await page.waitForURL(() => url().searchParams.get('user_id') === String(alice.id));
      await expectShown(await apiIds(`user_id=${alice.id}`));
      expect(await shown()).toHaveLength(5);
      await owner.fill('nobody_by_that_name');
      await owner.press('Enter');
      await expect
        .poll(() => page.locator('#err-user_id').textContent(), { timeout: 10_000 })
        .toBe('No user named “nobody_by_that_name”.');
      expect(url().searchParams.get('user_id')).toBe(String(alice.id));
      // By id too.
      await owner.fill(`#${bob.id}`);
      await owner.press('Enter');
      await page.waitForURL(() => url().searchParams.get('user_id') === String(bob.id));
      await expectShown(await apiIds(`user_id=${bob.id}`));
      await expect.poll(() => owner.inputValue(), { timeout: 10_000 }).toBe(bob.username);
      await page.getByRole('button', { name: 'Clear filters' }).click();
      await page.waitForURL(() => url().search === '');

      // Uploaded today (UTC days, the "to" day included): everything; from tomorrow: nothing.
      await page.getByRole('button', { name: 'Today' }).click();
      const today = new Date().toISOString().slice(0, 10);
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      await page.waitForURL(
        () =>
          url().searchParams.get('created_after') === today && url().searchParams.get('created_before') === tomorrow,
      );
      await expectShown(await apiIds(`created_after=${today}&created_before=${tomorrow}`));
      expect(await shown()).toHaveLength(FILLERS + 5);
      await page.getByLabel('Uploaded from').fill(tomorrow);
      await page.waitForURL(() => url().searchParams.get('created_after') === tomorrow);
      await page.getByText('No uploads match these filters.').waitFor();
      await page.getByRole('button', { name: 'Clear filters' }).click();
      await page.waitForURL(() => url().search === '');
      expect(watched.problems).toEqual([]);
    });

    it("shows the API's 400 for a bad owner id next to the Owner field", async () => {
      await page.goto(`${origin}/admin/uploads?user_id=0`);
      await onUploadsScreen(page, admin.username);
      const refused = await call('/api/admin/uploads?user_id=0');
      expect(refused.status).toBe(400);
      await expect
        .poll(() => page.locator('#err-user_id').textContent(), { timeout: 15_000 })
        .toBe(refused.body.user_id.join(' '));
      expect(await page.getByLabel('Owner', { exact: true }).getAttribute('aria-invalid')).toBe('true');
      expect(await table().count()).toBe(0);
      // Chromium logs every 4xx response as a console error: this one was the point of the step.
      expect(watched.problems).toEqual([
        'console: Failed to load resource: the server responded with a status of 400 (Bad Request)',
      ]);
      watched.problems.length = 0;
    });

    it('a deep link keeps its filters and page through a reload', async () => {
      await page.goto(`${origin}/admin/uploads?content_type=image%2Fheic&analysis_status=failed`);
      await onUploadsScreen(page, admin.username);
      await expectShown([ids.brokenHeic]);
      expect(await page.getByLabel('File type').inputValue()).toBe('image/heic');
      expect(await page.getByLabel('Analysis', { exact: true }).inputValue()).toBe('failed');

      await page.goto(`${origin}/admin/uploads?user_id=${bob.id}&page_size=10&ordering=created_at&page=1`);
      await onUploadsScreen(page, admin.username);
      await expectShown(await apiIds(`user_id=${bob.id}&ordering=created_at`));
      await page.reload();
      await onUploadsScreen(page, admin.username);
      await expectShown(await apiIds(`user_id=${bob.id}&ordering=created_at`));
      expect(url().searchParams.get('user_id')).toBe(String(bob.id));
      await expect.poll(() => page.getByLabel('Owner', { exact: true }).inputValue()).toBe(bob.username);
      expect(await page.getByLabel('Order', { exact: true }).inputValue()).toBe('created_at');
      expect(watched.problems).toEqual([]);
    });

    it('pages numbered and by cursor (10 per page), and a reload keeps the page', async () => {
      await page.goto(`${origin}/admin/uploads`);
      await onUploadsScreen(page, admin.username);
      await page.getByLabel('Per page').selectOption('10');
      await page.waitForURL(() => url().searchParams.get('page_size') === '10');
      const all = await apiIds('');
      const pager = page.getByRole('navigation', { name: 'Pagination' });
      await expectShown(all.slice(0, 10));
      expect(await pager.textContent()).toContain(`Page 1 of 2 · ${FILLERS + 5} total`);
      await pager.getByRole('button', { name: 'Next →' }).click();
      await page.waitForURL(() => url().searchParams.get('page') === '2');
      await expectShown(all.slice(10));
      await page.reload();
      await onUploadsScreen(page, admin.username);
      await expectShown(all.slice(10));
      expect(await pager.getByRole('button', { name: 'Next →' }).isDisabled()).toBe(true);

      await page.getByLabel('Paging').selectOption('cursor');
      await page.waitForURL(() => url().searchParams.get('paging') === 'cursor' && !url().searchParams.has('page'));
      await expectShown(all.slice(0, 10));
      await pager.getByRole('button', { name: 'Next →' }).click();
      await page.waitForURL(() => Boolean(url().searchParams.get('cursor')));
      await expectShown(all.slice(10));
      await page.reload();
      await onUploadsScreen(page, admin.username);
      await expectShown(all.slice(10));
      await pager.getByRole('button', { name: '← Previous' }).click();
      await expectShown(all.slice(0, 10));
      await page.getByLabel('Paging').selectOption('pages');
      await page.getByLabel('Per page').selectOption('25');
      await page.waitForURL(() => url().search === '');
      expect(watched.problems).toEqual([]);
    });

    it("opens an upload's screen from its row", async () => {
      await rowOf(ids.harbour).getByRole('link', { name: 'Harbour at dusk' }).click();
      await page.waitForURL(() => url().pathname === `/admin/uploads/${ids.harbour}`);
      await page.getByRole('heading', { name: 'Harbour at dusk' }).waitFor();
      await page.goBack();
      await onUploadsScreen(page, admin.username);
      await expectShown(await apiIds(''));
      expect(watched.problems).toEqual([]);
    });

    it('deletes 3 selected uploads with one confirmation; they are gone from the API, the others stay', async () => {
      await page.goto(`${origin}/admin/uploads?user_id=${bob.id}`);
      await onUploadsScreen(page, admin.username);
      await expectShown(await apiIds(`user_id=${bob.id}`));
      const before = await shown();
      const doomed = [before[0], before[3], before[6]];
      for (const id of doomed) await rowOf(id).getByRole('checkbox').check();
      await page.getByText('3 selected').waitFor();
      // Mixed state on the page's checkbox.
      expect(
        await page
          .getByRole('checkbox', { name: 'Select all on this page' })
          .evaluate((box) => (box as unknown as { indeterminate: boolean }).indeterminate),
      ).toBe(true);
      await page.getByRole('button', { name: 'Delete selected' }).click();
      const dialog = page.getByRole('dialog', { name: 'Delete selected' });
      await dialog.getByText('Delete 3 uploads?').waitFor();
      await screenshot(page, 'uploads-delete-confirm');
      await dialog.getByRole('button', { name: 'Delete 3 uploads' }).click();
      await page.getByRole('status').filter({ hasText: 'Deleted 3 uploads.' }).waitFor();
      await expect.poll(() => dialog.isVisible()).toBe(false);
      const remaining = before.filter((id) => !doomed.includes(id));
      await expectShown(remaining);
      expect(await page.getByText('None selected').count()).toBe(1);
      for (const id of doomed) expect((await call(`/api/admin/uploads/${id}`)).status, id).toBe(404);
      for (const id of [...remaining, ids.harbour, ids.meadow, ids.sunflower, ids.brokenHeic, ids.brokenJpeg])
        expect((await call(`/api/admin/uploads/${id}`)).status, id).toBe(200);
      expect(await apiIds(`user_id=${bob.id}`)).toEqual(remaining);
      expect(watched.problems).toEqual([]);
    });

    it('counts an upload deleted meanwhile as done, and lists a failed delete, which stays selected', async () => {
      const before = await shown();
      const [goneMeanwhile, refused, fine] = before;
      for (const id of [goneMeanwhile, refused, fine]) await rowOf(id).getByRole('checkbox').check();
      // Another admin deletes one after it was selected.
      expect((await call(`/api/admin/uploads/${goneMeanwhile}`, 'DELETE')).status).toBe(204);
      // And the API refuses one (simulated: a 500 for that id only).
      await page.route(`**/api/admin/uploads/${refused}`, (route) =>
        route.request().method() === 'DELETE'
          ? route.fulfill({
              status: 500,
              contentType: 'application/json',
              body: '{"detail":"A server error occurred."}',
            })
          : route.fallback(),
      );
      try {
        await page.getByRole('button', { name: 'Delete selected' }).click();
        await page
          .getByRole('dialog', { name: 'Delete selected' })
          .getByRole('button', { name: 'Delete 3 uploads' })
          .click();
        const alert = page.getByRole('alert').filter({ hasText: 'could not be deleted' });
        await alert.waitFor();
        expect(await alert.textContent()).toContain(
          '1 of 3 could not be deleted and stay selected. Deleted 1 upload. 1 upload had already been deleted.',
        );
        expect(await alert.getByRole('listitem').textContent()).toMatch(/: A server error occurred\.$/);
        await screenshot(page, 'uploads-delete-failure');
      } finally {
        await page.unroute(`**/api/admin/uploads/${refused}`);
      }
      await expectShown(before.filter((id) => id !== goneMeanwhile && id !== fine));
      await expect.poll(() => rowOf(refused).getByRole('checkbox').isChecked()).toBe(true);
      await page.getByText('1 selected').waitFor();
      expect((await call(`/api/admin/uploads/${fine}`)).status).toBe(404);
      expect((await call(`/api/admin/uploads/${refused}`)).status).toBe(200);
      // Chromium logs the simulated 500 and the 404 of the upload deleted meanwhile.
      expect([...watched.problems].sort()).toEqual([
        'console: Failed to load resource: the server responded with a status of 404 (Not Found)',
        'console: Failed to load resource: the server responded with a status of 500 (Internal Server Error)',
      ]);
      watched.problems.length = 0;
    });

    it('deletes a whole page (select all) with at most 4 deletes in flight at the API', async () => {
      const before = await shown();
      expect(before.length).toBeGreaterThan(4);
      // Counted where the deletes run; each held 150 ms so that overlapping ones do overlap.
      const uploads = stack.api.get(UploadsService);
      const original = uploads.adminDelete;
      let inFlight = 0;
      let peak = 0;
      uploads.adminDelete = async (id: string) => {
        peak = Math.max(peak, ++inFlight);
        try {
          await new Promise((resolve) => setTimeout(resolve, 150));
          return await original.call(uploads, id);
        } finally {
          inFlight--;
        }
      };
      try {
        await page.getByRole('checkbox', { name: 'Select all on this page' }).check();
        await page.getByText(`${before.length} selected`).waitFor();
        await page.getByRole('button', { name: 'Delete selected' }).click();
        await page
          .getByRole('dialog', { name: 'Delete selected' })
          .getByRole('button', { name: `Delete ${before.length} uploads` })
          .click();
        await page
          .getByRole('status')
          .filter({ hasText: `Deleted ${before.length} uploads.` })
          .waitFor();
      } finally {
        uploads.adminDelete = original;
      }
      expect(peak).toBe(4);
      await page.getByText('No uploads match these filters.').waitFor();
      expect(await apiIds(`user_id=${bob.id}`)).toEqual([]);
      expect(await apiIds(`user_id=${alice.id}`)).toHaveLength(5);
      expect(watched.problems).toEqual([]);
    });

    it('is usable at 390 px wide', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${origin}/admin/uploads?analysis_status=failed`);
      await onUploadsScreen(page, admin.username);
      await expectShown(await apiIds('analysis_status=failed'));
      // The page itself does not scroll sideways (the table scrolls inside its frame).
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      expect(overflow).toBeLessThanOrEqual(0);
      await screenshot(page, 'uploads-390');
      expect(watched.problems).toEqual([]);
    });
  },
);
