import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { STATS_SQL } from '@echo/admin-stats';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { deactivate, register, registerAdmin, type Session } from './support/users.js';
import { multipart, solidPng } from './support/images.js';

const MIN = 60_000;
const DAY = 86_400_000;
const N = 5000;

/** Seeded rows: upload i was made `offset + i × 10 min` ago, size i; every 10th analysis failed, every 10th + 1 queued. */
const uploadAt = (base: number, i: number) => base - 5 * MIN - i * 10 * MIN;
const statusOf = (i: number) => (i % 10 === 0 ? 'failed' : i % 10 === 1 ? 'queued' : 'completed');
const sqlTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

describe.skipIf(!servicesUp())('GET /api/admin/stats (MariaDB + Redis)', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let db: DataSource;
  let admin: Session;
  let users: Session[];
  let base: number;
  let apiUploadBytes = 0;

  beforeAll(async () => {
    stack = await startStack('adminstats');
    api = stack.api;
    db = api.get(DataSource);
    admin = await registerAdmin(api);
    users = [await register(api, 's'), await register(api, 's'), await register(api, 's')];
    await deactivate(api, admin, users[2].id);
    for (const color of ['#102030', '#405060']) {
      const png = await solidPng(20, 20, color);
      const form = multipart([{ name: 'file', filename: 'a.png', contentType: 'image/png', data: png }]);
      const res = await api.inject({
        method: 'POST',
        url: '/api/uploads',
        headers: { ...users[0].auth, ...form.headers },
        payload: form.payload,
      });
      expect(res.statusCode).toBe(201);
      apiUploadBytes += png.length;
    }
    // Two old accounts, and N uploads with analyses spread over ~35 days (enough rows that the optimizer's plan is production's).
    const old = sqlTime(Date.now() - 30 * DAY);
    await db.query(
      `INSERT INTO users (username, email, password_hash, display_name, role, is_active, date_joined) VALUES
       ('old_a', 'old_a@example.com', 'x', '', 'user', 1, ?), ('old_b', 'old_b@example.com', 'x', '', 'user', 1, ?)`,
      [old, old],
    );
    base = Date.now();
    await db.query(
      `INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key, created_at)
       SELECT CONCAT('20000000-0000-4000-8000-', LPAD(seq, 12, '0')), ?, '', 'x.png', 'image/png', seq, LPAD(seq, 64, 'e'), 1, 1,
              CONCAT('k/', seq), ? - INTERVAL (seq * 10) MINUTE FROM seq_1_to_${N}`,
      [users[1].id, sqlTime(base - 5 * MIN)],
    );
    await db.query(
      `INSERT INTO visual_analysis_results (id, upload_id, user_id, status, progress, attempts, analyzer_version, created_at, completed_at)
       SELECT CONCAT('30000000-0000-4000-8000-', LPAD(seq, 12, '0')), CONCAT('20000000-0000-4000-8000-', LPAD(seq, 12, '0')), ?,
              CASE WHEN seq % 10 = 0 THEN 'failed' WHEN seq % 10 = 1 THEN 'queued' ELSE 'completed' END, 0, 1, '1.0.0',
              ? - INTERVAL (seq * 10) MINUTE,
              IF(seq % 10 = 1, NULL, ? - INTERVAL (seq * 10) MINUTE + INTERVAL 1 MINUTE) FROM seq_1_to_${N}`,
      [users[1].id, sqlTime(base - 5 * MIN), sqlTime(base - 5 * MIN)],
    );
    await db.query('ANALYZE TABLE uploads, visual_analysis_results, users');
  });
  afterAll(() => stack?.close());

  it('matches the rows: users, uploads today / 7 days / bytes, analyses by status, failure rate, 30 days per day', async () => {
    const res = await api.inject({ method: 'GET', url: '/api/admin/stats', headers: admin.auth });
    expect(res.statusCode, res.body).toBe(200);
    const stats = res.json();
    const now = Date.parse(stats.generated_at);
    const today = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate());
    const seeded = Array.from({ length: N }, (_, k) => k + 1);

    expect(stats.users).toEqual({ total: 6, active: 5, new_7d: 4 });
    expect(stats.uploads).toEqual({
      today: 2 + seeded.filter((i) => uploadAt(base, i) >= today).length,
      last_7d: 2 + seeded.filter((i) => uploadAt(base, i) >= now - 7 * DAY).length,
      bytes_stored: apiUploadBytes + (N * (N + 1)) / 2,
    });
    expect(stats.analyses.by_status).toEqual({
      queued: 2 + seeded.filter((i) => statusOf(i) === 'queued').length,
      processing: 0,
      completed: seeded.filter((i) => statusOf(i) === 'completed').length,
      failed: seeded.filter((i) => statusOf(i) === 'failed').length,
    });

    expect(stats.daily).toHaveLength(30);
    expect(stats.daily.at(-1).date).toBe(new Date(today).toISOString().slice(0, 10));
    for (const day of stats.daily) {
      const start = Date.parse(`${day.date}T00:00:00Z`);
      const inDay = (t: number) => t >= start && t < start + DAY;
      expect(day.uploads, day.date).toBe(
        (inDay(now) && day.date === stats.daily.at(-1).date ? 2 : 0) +
          seeded.filter((i) => inDay(uploadAt(base, i))).length,
      );
      const done = (s: string) => seeded.filter((i) => statusOf(i) === s && inDay(uploadAt(base, i) + MIN)).length;
      expect(day.analyses_completed, day.date).toBe(done('completed'));
      expect(day.analyses_failed, day.date).toBe(done('failed'));
    }
    const week = stats.daily.slice(-7);
    const failed = week.reduce((n: number, d: { analyses_failed: number }) => n + d.analyses_failed, 0);
    const completed = week.reduce((n: number, d: { analyses_completed: number }) => n + d.analyses_completed, 0);
    expect(stats.analyses.failure_rate_7d).toBeCloseTo(failed / (failed + completed), 4);
    expect(stats.analyses.failure_rate_7d).toBeGreaterThan(0);

    // Queue depth: the two API uploads' jobs wait (no worker runs here), as GET /api/admin/queues says.
    const queues = (await api.inject({ method: 'GET', url: '/api/admin/queues', headers: admin.auth })).json();
    const jobs = queues['visual-analysis'];
    const waiting = jobs.waiting + jobs.active + jobs.delayed;
    expect(stats.queue.depth).toBe(waiting);
    expect(stats.queue.depth).toBe(2);
  });

  it('is cached briefly: a new upload shows after the cache entry expires, not before', async () => {
    const first = (await api.inject({ method: 'GET', url: '/api/admin/stats', headers: admin.auth })).json();
    const png = await solidPng(21, 21, '#777777');
    const form = multipart([{ name: 'file', filename: 'b.png', contentType: 'image/png', data: png }]);
    await api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...users[0].auth, ...form.headers },
      payload: form.payload,
    });
    const second = (await api.inject({ method: 'GET', url: '/api/admin/stats', headers: admin.auth })).json();
    expect(second.generated_at).toBe(first.generated_at);
    expect(second.uploads.today).toBe(first.uploads.today);
  });

  it('is for admins only', async () => {
    expect((await api.inject({ method: 'GET', url: '/api/admin/stats', headers: users[0].auth })).statusCode).toBe(403);
    expect((await api.inject({ method: 'GET', url: '/api/admin/stats' })).statusCode).toBe(401);
  });

  it('every stats query reads an index, never the uploads or analyses rows (EXPLAIN)', async () => {
    const at = sqlTime(Date.now() - 7 * DAY);
    const plans: Array<[string, Array<{ table: string; type: string; key: string | null; Extra: string }>]> = [];
    for (const [name, sql] of Object.entries(STATS_SQL)) {
      const params = sql.includes('?') ? [name === 'usersActive' ? 1 : at] : [];
      plans.push([name, await db.query(`EXPLAIN ${sql}`, params)]);
    }
    for (const [name, plan] of plans) {
      for (const row of plan) {
        const where = `${name}: ${JSON.stringify(row)}`;
        expect(row.type, where).not.toBe('ALL');
        expect(row.key, where).toBeTruthy();
        // Large tables: covering index only (no row lookups).
        if (row.table !== 'users') expect(row.Extra, where).toContain('Using index');
      }
    }
    const bytes = plans.find(([n]) => n === 'bytesStored')![1][0];
    expect(bytes.key).toBe('ix_uploads_size');
  });
});

describe('GET /api/admin/stats (embedded SQLite)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startEmbedded('adminstats');
  });
  afterAll(() => stack?.close());

  it('the same queries run on SQLite', async () => {
    const admin = await registerAdmin(stack.api);
    const png = await solidPng(20, 20, '#123456');
    const form = multipart([{ name: 'file', filename: 'a.png', contentType: 'image/png', data: png }]);
    expect(
      (
        await stack.api.inject({
          method: 'POST',
          url: '/api/uploads',
          headers: { ...admin.auth, ...form.headers },
          payload: form.payload,
        })
      ).statusCode,
    ).toBe(201);
    const res = await stack.api.inject({ method: 'GET', url: '/api/admin/stats', headers: admin.auth });
    expect(res.statusCode, res.body).toBe(200);
    const stats = res.json();
    expect(stats.users.total).toBeGreaterThanOrEqual(1);
    expect(stats.uploads.today).toBe(1);
    expect(stats.uploads.bytes_stored).toBe(png.length);
    expect(stats.daily.at(-1).uploads).toBe(1);
  });
});
