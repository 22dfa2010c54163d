import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { dbQueriesSent, sqlReader } from '@echo/database';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { multipart, solidPng } from './support/images.js';
import { postUpload } from './support/uploads.js';
import { register, registerAdmin, type Session } from './support/users.js';

/**
 * What a cache miss costs in SQL statements (issue 20): a list page is one statement — its rows,
 * each row's latest analysis and, when the list's total is not yet known for the list's version,
 * that total too. With the cache off a request adds only the caller's user row.
 */
const UPLOADS = 23;

/** `UPLOADS` uploads of `userId`, one second apart, with 0–2 analyses each (the newest is the latest). */
let seededAt = 0;
async function seed(
  db: DataSource,
  userId: number,
): Promise<{ id: string; latest: { id: string; status: string } | null }[]> {
  const now = (seededAt = Date.now());
  const at = (ms: number) => sqlReader(db.manager).param(new Date(ms));
  const rows: { id: string; latest: { id: string; status: string } | null }[] = [];
  for (let i = 0; i < UPLOADS; i++) {
    const id = `c01d0000-0000-4000-8000-${String(userId).padStart(4, '0')}${String(i).padStart(8, '0')}`;
    await db.query(
      'INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
      [
        id,
        userId,
        `t${i}`,
        `f${i}.png`,
        'image/png',
        100 + i,
        `${i}`.padStart(64, 'a'),
        10,
        20,
        `k/${id}`,
        at(now - (UPLOADS - i) * 1000),
      ],
    );
    let latest: { id: string; status: string } | null = null;
    for (let a = 0; a < i % 3; a++) {
      const analysisId = `a0a00000-0000-4000-8000-${String(userId).padStart(4, '0')}${String(i * 10 + a).padStart(8, '0')}`;
      const status = a === 0 ? 'completed' : 'queued';
      await db.query(
        'INSERT INTO visual_analysis_results (id, upload_id, user_id, status, progress, attempts, analyzer_version, result, created_at) VALUES (?,?,?,?,?,?,?,?,?)',
        [
          analysisId,
          id,
          userId,
          status,
          0,
          0,
          'v1',
          a === 0 ? JSON.stringify({ format: 'png', near_duplicates: [] }) : null,
          at(now - (UPLOADS - i) * 1000 + 100 + a),
        ],
      );
      latest = { id: analysisId, status };
    }
    rows.push({ id, latest });
  }
  return rows.reverse(); // newest first, as lists show them
}

/** The statements the process sends while answering one request: how many, and their SQL. */
async function statements(api: NestFastifyApplication, url: string, session: Session) {
  const logger = api.get(DataSource).logger as { logQuery: (query: string, parameters?: unknown[]) => void };
  const original = logger.logQuery;
  const sql: string[] = [];
  logger.logQuery = (query, parameters) => {
    sql.push(query);
    original.call(logger, query, parameters);
  };
  const before = dbQueriesSent();
  try {
    const res = await api.inject({ method: 'GET', url, headers: session.auth });
    expect(res.statusCode, res.body).toBe(200);
    return { sent: dbQueriesSent() - before, sql, body: res.json() };
  } finally {
    logger.logQuery = original;
  }
}

describe.skipIf(!servicesUp())('cold requests: statements per uncached page (MariaDB)', () => {
  describe('cache off (CACHE_ENABLED=false)', () => {
    let stack: TestStack;
    let owner: Session;
    let admin: Session;
    let expected: Awaited<ReturnType<typeof seed>>;

    beforeAll(async () => {
      stack = await startStack('cold-off', { CACHE_ENABLED: 'false' });
      owner = await register(stack.api, 'cold');
      admin = await registerAdmin(stack.api);
      expected = await seed(stack.api.get(DataSource), owner.id);
    });
    afterAll(() => stack?.close());

    it('own uploads page 3: the caller, then one statement with rows, latest analyses and count', async () => {
      const { sent, body } = await statements(stack.api, '/api/uploads?page=3&page_size=5', owner);
      expect(sent).toBe(2);
      expect(body.count).toBe(UPLOADS);
      expect(body.results.map((u: { id: string }) => u.id)).toEqual(expected.slice(10, 15).map((u) => u.id));
      expect(body.results.map((u: { analysis: unknown }) => u.analysis)).toEqual(
        expected.slice(10, 15).map((u) => u.latest),
      );
      expect(new URL(body.next).searchParams.get('page')).toBe('4');
      expect(new URL(body.previous).searchParams.get('page')).toBe('2');
    });

    it('admin user-uploads page 3 and own analyses page 3: at most three statements each', async () => {
      const adminPage = await statements(stack.api, `/api/admin/users/${owner.id}/uploads?page=3&page_size=5`, admin);
      expect(adminPage.sent).toBeLessThanOrEqual(3);
      expect(adminPage.body.count).toBe(UPLOADS);
      expect(adminPage.body.results.map((u: { username: string }) => u.username)).toEqual(
        Array(5).fill(owner.username),
      );
      const analyses = await statements(stack.api, '/api/visual-analysis?page=3&page_size=5', owner);
      expect(analyses.sent).toBeLessThanOrEqual(3);
      const total = expected.reduce((n, u, i) => n + ((UPLOADS - 1 - i) % 3), 0);
      expect(analyses.body.count).toBe(total);
      expect(analyses.body.results).toHaveLength(5);
    });

    it('a page past the end is 404 and page=last is the last page', async () => {
      const res = await stack.api.inject({
        method: 'GET',
        url: '/api/uploads?page=6&page_size=5',
        headers: owner.auth,
      });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ detail: 'Invalid page.' });
      const last = await statements(stack.api, '/api/uploads?page=last&page_size=5', owner);
      expect(last.body.results.map((u: { id: string }) => u.id)).toEqual(expected.slice(20).map((u) => u.id));
      expect(last.body.next).toBeNull();
      // The caller, the COUNT (the last page's number needs it), then the rows without counting again.
      expect(last.sent).toBe(3);
      expect(last.sql.filter((q) => /COUNT\(/i.test(q))).toHaveLength(1);
      expect(last.body.count).toBe(UPLOADS);
    });

    it('an admin list of a user with no uploads is an empty page; of no such user, 404', async () => {
      const empty = await register(stack.api, 'empty');
      const page = await statements(stack.api, `/api/admin/users/${empty.id}/uploads`, admin);
      expect(page.body).toMatchObject({ count: 0, next: null, previous: null, results: [] });
      const missing = await stack.api.inject({
        method: 'GET',
        url: '/api/admin/users/999999/uploads',
        headers: admin.auth,
      });
      expect(missing.statusCode).toBe(404);
    });
  });

  describe('cache on', () => {
    let stack: TestStack;
    let owner: Session;
    let admin: Session;

    beforeAll(async () => {
      stack = await startStack('cold-on');
      owner = await register(stack.api, 'warm');
      admin = await registerAdmin(stack.api);
      await seed(stack.api.get(DataSource), owner.id);
      // The callers' user records in the cache, as after any first request.
      for (const s of [owner, admin]) await stack.api.inject({ method: 'GET', url: '/api/users/me', headers: s.auth });
    });
    afterAll(() => stack?.close());

    it('a page-cache miss whose count is known for the list version is one statement; the first page of a version counts inside its own', async () => {
      expect((await statements(stack.api, '/api/uploads?page_size=5', owner)).sent).toBe(1);
      for (const page of [2, 3, 4]) {
        const { sent, body } = await statements(stack.api, `/api/uploads?page=${page}&page_size=5`, owner);
        expect(sent, `page ${page}`).toBe(1);
        expect(body.count).toBe(UPLOADS);
      }
      // The admin's view of the same list shares its count.
      const adminPage = await statements(stack.api, `/api/admin/users/${owner.id}/uploads?page=2&page_size=5`, admin);
      expect(adminPage.sent).toBe(1);
      expect(adminPage.body.count).toBe(UPLOADS);
      expect((await statements(stack.api, '/api/uploads?cursor=&page_size=5', owner)).sent).toBe(1);
      expect((await statements(stack.api, '/api/visual-analysis?page_size=5', owner)).sent).toBe(1);
      expect((await statements(stack.api, '/api/visual-analysis?page=2&page_size=5', owner)).sent).toBe(1);
    });

    it('a new upload moves the list to a new version: its pages count again and show the new total', async () => {
      await statements(stack.api, '/api/uploads?page=2&page_size=5', owner);
      await postUpload(
        stack.api,
        owner,
        multipart([{ name: 'file', filename: 'n.png', data: await solidPng(8, 8, '#123456') }]),
      );
      const after = await statements(stack.api, '/api/uploads?page=2&page_size=5', owner);
      expect(after.body.count).toBe(UPLOADS + 1);
      const first = await statements(stack.api, '/api/uploads?page_size=5', owner);
      expect(first.body.count).toBe(UPLOADS + 1);
      expect(first.body.results[0].original_name).toBe('n.png');
    });
  });
});

describe('cold requests on SQLite (embedded)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startEmbedded('cold-sqlite');
  });
  afterAll(() => stack?.close());

  it('pages and cursors walk the same rows, with each upload’s latest analysis', async () => {
    const owner = await register(stack.api, 'lite');
    const expected = await seed(stack.api.get(DataSource), owner.id);
    const page = await stack.api.inject({
      method: 'GET',
      url: '/api/uploads?page=2&page_size=10',
      headers: owner.auth,
    });
    expect(page.json().count).toBe(UPLOADS);
    expect(page.json().results.map((u: { id: string }) => u.id)).toEqual(expected.slice(10, 20).map((u) => u.id));
    expect(page.json().results.map((u: { analysis: unknown }) => u.analysis)).toEqual(
      expected.slice(10, 20).map((u) => u.latest),
    );
    const walked: string[] = [];
    let url: string | null = '/api/uploads?cursor=&page_size=4';
    while (url) {
      const body: { next: string | null; results: { id: string; created_at: string }[] } = (
        await stack.api.inject({ method: 'GET', url, headers: owner.auth })
      ).json();
      walked.push(...body.results.map((u) => u.id));
      url = body.next ? new URL(body.next).pathname + new URL(body.next).search : null;
    }
    expect(walked).toEqual(expected.map((u) => u.id));
    const filtered = await stack.api.inject({
      method: 'GET',
      url: `/api/uploads?created_after=${encodeURIComponent(new Date(seededAt - 5500).toISOString())}`,
      headers: owner.auth,
    });
    expect(filtered.json().count).toBe(5);
    const analyses = await stack.api.inject({
      method: 'GET',
      url: '/api/visual-analysis?status=completed',
      headers: owner.auth,
    });
    expect(
      analyses.json().results.every((a: { status: string; result: unknown }) => a.status === 'completed' && a.result),
    ).toBe(true);
  });
});
