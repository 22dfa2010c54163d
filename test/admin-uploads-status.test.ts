import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { Upload } from '@echo/uploads';
import { VisualAnalysis } from '@echo/visual-analysis';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { register, registerAdmin, type Session } from './support/users.js';

/**
 * `GET /api/admin/uploads?analysis_status=…` (issue 24: "all HEICs that failed"): an upload
 * matches by its LATEST analysis, the one its `analysis` field shows, on MariaDB and SQLite; it
 * combines with the other filters, the owner and both paging modes; a bad value is a DRF 400; and
 * on MariaDB each status' statement reads an index, never the whole table (EXPLAIN).
 */

const STATUSES = ['completed', 'failed', 'queued', 'processing'] as const;
type Status = (typeof STATUSES)[number];

const T0 = Date.parse('2025-03-01T12:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

/** Uploads and their analyses (oldest first), the case each one makes. */
const CASES: Array<{ key: string; owner: 'alice' | 'bob'; type?: string; analyses: Status[]; latest: Status | null }> =
  [
    { key: 'done', owner: 'alice', analyses: ['completed'], latest: 'completed' },
    { key: 'broken', owner: 'alice', type: 'image/heic', analyses: ['failed'], latest: 'failed' },
    // A failed analysis retried as a new one that completed: completed now, no longer "failed".
    { key: 'mended', owner: 'alice', type: 'image/heic', analyses: ['failed', 'completed'], latest: 'completed' },
    // A re-analysis that failed after an earlier success: failed now.
    { key: 'regressed', owner: 'alice', analyses: ['completed', 'failed'], latest: 'failed' },
    { key: 'waiting', owner: 'alice', analyses: ['queued'], latest: 'queued' },
    { key: 'running', owner: 'alice', analyses: ['completed', 'processing'], latest: 'processing' },
    { key: 'never', owner: 'alice', analyses: [], latest: null },
    { key: 'bobFailed', owner: 'bob', type: 'image/heic', analyses: ['failed'], latest: 'failed' },
    { key: 'bobDone', owner: 'bob', analyses: ['completed'], latest: 'completed' },
    // Two analyses created in the same millisecond: the larger id is the latest, as latestJoin says.
    { key: 'tie', owner: 'bob', analyses: ['failed', 'completed'], latest: 'completed' },
  ];

function describeStatusFilter(name: string, start: () => Promise<TestStack>, opts: { mysql: boolean }) {
  describe.skipIf(opts.mysql && !servicesUp())(name, () => {
    let stack: TestStack;
    let admin: Session;
    const owners: Record<string, Session> = {};
    const ids: Record<string, string> = {};

    const get = async (url: string, session = admin) => {
      const res = await stack.api.inject({ method: 'GET', url, headers: session.auth });
      return { status: res.statusCode, body: res.json() };
    };
    /** Every id the list returns, following `next` (cursor or page mode). */
    const all = async (query: string, pageSize = 2) => {
      const seen: Array<{ id: string; analysis: { status: string } | null }> = [];
      let url: string | null = `/api/admin/uploads?page_size=${pageSize}&${query}`;
      while (url) {
        const { status, body } = await get(url);
        expect(status, `${url} ${JSON.stringify(body)}`).toBe(200);
        seen.push(...body.results);
        url = body.next ? new URL(body.next).pathname + new URL(body.next).search : null;
      }
      return seen;
    };
    const keysOf = (rows: Array<{ id: string }>) =>
      rows.map((row) => Object.keys(ids).find((key) => ids[key] === row.id) ?? row.id).sort();
    const expected = (pick: (c: (typeof CASES)[number]) => boolean) =>
      CASES.filter(pick)
        .map((c) => c.key)
        .sort();

    beforeAll(async () => {
      stack = await start();
      admin = await registerAdmin(stack.api);
      owners.alice = await register(stack.api, 'alice');
      owners.bob = await register(stack.api, 'bob');
      const db = stack.api.get(DataSource);
      let minute = 0;
      for (const c of CASES) {
        const id = randomUUID();
        ids[c.key] = id;
        const userId = owners[c.owner].id;
        minute++;
        await db.getRepository(Upload).insert({
          id,
          userId,
          title: c.key,
          originalName: `${c.key}.jpg`,
          contentType: c.type ?? 'image/jpeg',
          size: 1000 + minute,
          sha256: id.replaceAll('-', '').padEnd(64, '0'),
          width: 640,
          height: 480,
          storageKey: `uploads/${userId}/${id}`,
          createdAt: at(minute),
          takenAt: at(-minute),
        } as Upload);
        // Analysis ids in creation order (the tie case relies on the second id being larger).
        const analysisIds = c.analyses.map(() => randomUUID()).sort();
        for (const [i, status] of c.analyses.entries()) {
          await db.getRepository(VisualAnalysis).insert({
            id: analysisIds[i],
            uploadId: id,
            userId,
            status,
            progress: status === 'completed' ? 100 : 0,
            attempts: 1,
            error: status === 'failed' ? 'The image could not be decoded.' : null,
            result: null,
            phash: null,
            analyzerVersion: '1',
            // Recent, so no reconciler takes a queued row for stuck while the test runs.
            createdAt: c.key === 'tie' ? new Date(Date.now() - 1000) : new Date(Date.now() - 60_000 + i * 1000),
            startedAt: null,
            completedAt: status === 'completed' || status === 'failed' ? new Date() : null,
          });
        }
      }
    }, 60_000);
    afterAll(async () => {
      await stack?.close();
    });

    it.each(STATUSES)('analysis_status=%s lists the uploads whose latest analysis has it', async (status) => {
      for (const mode of ['', '&cursor=']) {
        const rows = await all(`analysis_status=${status}${mode}`);
        expect(keysOf(rows), mode || 'page mode').toEqual(expected((c) => c.latest === status));
        // The same analysis the object shows.
        for (const row of rows) expect(row.analysis?.status).toBe(status);
      }
    });

    it('the four statuses and the uploads without an analysis partition the list; page mode counts right', async () => {
      const everything = await all('', 50);
      let total = 0;
      for (const status of STATUSES) {
        const { body } = await get(`/api/admin/uploads?analysis_status=${status}&page_size=1`);
        expect(body.count, status).toBe(CASES.filter((c) => c.latest === status).length);
        total += body.count;
      }
      expect(everything.filter((row) => row.analysis === null).map((row) => row.id)).toEqual([ids.never]);
      expect(total + 1).toBe(everything.length);
    });

    it('combines with the owner, the file type, the date range and every ordering', async () => {
      const alice = owners.alice.id;
      expect(keysOf(await all(`analysis_status=failed&user_id=${alice}`))).toEqual(['broken', 'regressed']);
      expect(keysOf(await all(`analysis_status=failed&user_id=${alice}&cursor=`))).toEqual(['broken', 'regressed']);
      // "All HEICs that failed": the file type is known from the upload itself, analysed or not.
      expect(keysOf(await all('analysis_status=failed&content_type=image/heic'))).toEqual(['bobFailed', 'broken']);
      expect(keysOf(await all('analysis_status=completed&content_type=image/heic'))).toEqual(['mended']);
      // Uploaded in minutes 2..4: broken (2), mended (3), regressed (4).
      const range = `created_after=${at(2).toISOString()}&created_before=${at(5).toISOString()}`;
      expect(keysOf(await all(`analysis_status=failed&${range}`))).toEqual(['broken', 'regressed']);
      for (const ordering of ['created_at', '-created_at', 'taken_at', '-taken_at'])
        for (const mode of ['', '&cursor=']) {
          const rows = await all(`analysis_status=failed&ordering=${ordering}${mode}`, 1);
          const order = CASES.filter((c) => c.latest === 'failed').map((c) => c.key);
          // Uploaded in CASES order; taken in the reverse order.
          const ascending = ordering === 'created_at' || ordering === '-taken_at';
          expect(
            rows.map((row) => keysOf([row])[0]),
            `${ordering}${mode}`,
          ).toEqual(ascending ? order : [...order].reverse());
        }
    });

    it("refuses a status that does not exist with DRF's 400, and the per-user route does not take it", async () => {
      const bad = await get('/api/admin/uploads?analysis_status=broken');
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({ analysis_status: ['Must be one of: queued, processing, completed, failed.'] });
      const perUser = await get(`/api/admin/users/${owners.alice.id}/uploads?analysis_status=failed`);
      expect(perUser.status).toBe(400);
      expect(perUser.body).toEqual({ analysis_status: ['This field is not allowed.'] });
      // Admins only, like the rest of the admin list.
      expect((await get('/api/admin/uploads?analysis_status=failed', owners.alice)).status).toBe(403);
    });
  });
}

describeStatusFilter('analysis_status on MariaDB', () => startStack('uploads-status'), { mysql: true });
describeStatusFilter('analysis_status on embedded SQLite', () => startEmbedded('uploads-status'), { mysql: false });

describe.skipIf(!servicesUp())('analysis_status plans (EXPLAIN on MariaDB)', () => {
  let stack: TestStack;
  let db: DataSource;
  let admin: Session;
  let owner: number;

  beforeAll(async () => {
    stack = await startStack('uploads-status-plans');
    db = stack.api.get(DataSource);
    admin = await registerAdmin(stack.api);
    // 300 owners, 20,000 uploads; ~93 % of the analyses completed, 3 % failed, 2 % queued, 1 % processing
    // (a healthy system's shape), 1 upload in 25 re-analysed, 1 in 100 never analysed.
    await db.query(
      `INSERT INTO users (username, email, password_hash, date_joined)
       SELECT CONCAT('bulk_', seq), CONCAT('bulk_', seq, '@example.test'), 'x', NOW(3) FROM seq_0_to_299`,
    );
    await db.query(
      `INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key,
                            created_at, taken_at)
       SELECT CONCAT('30000000-0000-4000-8000-', LPAD(seq, 12, '0')), u.id, 'title', 'x.jpg',
              ELT(1 + seq % 4, 'image/jpeg', 'image/heic', 'image/png', 'image/jpeg'), 10, LPAD(seq, 64, 'f'),
              1000, 800, CONCAT('k/', seq), NOW(3) - INTERVAL seq SECOND, NOW(3) - INTERVAL seq * 7 MINUTE
       FROM seq_1_to_20000 JOIN users u ON u.username = CONCAT('bulk_', seq % 300)`,
    );
    const status = `CASE WHEN seq % 100 < 3 THEN 'failed' WHEN seq % 100 < 5 THEN 'queued'
                         WHEN seq % 100 < 6 THEN 'processing' ELSE 'completed' END`;
    await db.query(
      `INSERT INTO visual_analysis_results (id, upload_id, user_id, status, progress, attempts, analyzer_version, created_at)
       SELECT CONCAT('40000000-0000-4000-8000-', LPAD(seq, 12, '0')), up.id, up.user_id, ${status}, 0, 1, '1',
              up.created_at
       FROM seq_1_to_20000 JOIN uploads up ON up.id = CONCAT('30000000-0000-4000-8000-', LPAD(seq, 12, '0'))
       WHERE seq % 100 <> 99`,
    );
    await db.query(
      `INSERT INTO visual_analysis_results (id, upload_id, user_id, status, progress, attempts, analyzer_version, created_at)
       SELECT CONCAT('50000000-0000-4000-8000-', LPAD(seq, 12, '0')), up.id, up.user_id, 'completed', 100, 1, '1',
              up.created_at + INTERVAL 1 HOUR
       FROM seq_1_to_20000 JOIN uploads up ON up.id = CONCAT('30000000-0000-4000-8000-', LPAD(seq, 12, '0'))
       WHERE seq % 25 = 0`,
    );
    await db.query('ANALYZE TABLE uploads, users, visual_analysis_results');
    [{ id: owner }] = await db.query("SELECT id FROM users WHERE username = 'bulk_7'");
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  type PlanRow = { id: number; select_type: string; table: string; type: string; key: string | null; Extra?: string };

  /** The page statement a request sends, EXPLAINed, and how long the request took. */
  const planOf = async (url: string) => {
    const seen: { sql: string; parameters: unknown[] }[] = [];
    const logger = db.logger as { logQuery: (sql: string, parameters?: unknown[]) => void };
    const original = logger.logQuery;
    logger.logQuery = (sql, parameters) => void seen.push({ sql, parameters: parameters ?? [] });
    const started = performance.now();
    try {
      const res = await stack.api.inject({ method: 'GET', url, headers: admin.auth });
      expect(res.statusCode, res.body).toBe(200);
    } finally {
      logger.logQuery = original;
    }
    const ms = performance.now() - started;
    const page = seen.find((q) => /FROM uploads up/.test(q.sql) && /ORDER BY/.test(q.sql));
    expect(page, url).toBeDefined();
    const plan = (await db.query(`EXPLAIN ${page!.sql}`, page!.parameters)) as PlanRow[];
    return { plan, ms };
  };
  const show = (plan: PlanRow[]) =>
    plan.map((r) => `${r.id} ${r.select_type} ${r.table} ${r.type} ${r.key} ${r.Extra ?? ''}`).join('\n');

  it.each(['failed', 'queued', 'processing'])(
    'analysis_status=%s: the ids come from the status index, the uploads by primary key; no table is scanned',
    async (status) => {
      for (const scope of ['', `&user_id=${owner}`])
        for (const mode of ['', '&cursor=']) {
          const url = `/api/admin/uploads?analysis_status=${status}${scope}${mode}`;
          const { plan, ms } = await planOf(url);
          const text = `${url}\n${show(plan)}`;
          console.log(`${url}: ${ms.toFixed(0)} ms`);
          // The page's uploads by primary key, from the ids the analyses gave (a small set to sort).
          const scan = plan.find((r) => r.select_type === 'DERIVED' && r.table === 'up');
          expect(scan?.key, text).toBe('PRIMARY');
          const analyses = plan.filter((r) => r.table === 'va');
          expect(analyses.length, text).toBeGreaterThan(0);
          for (const row of analyses)
            expect(row.key, text).toBe(scope ? 'ix_var_user_status_created' : 'ix_var_status_created');
          // "Is it the latest?": one probe of the upload's analyses, from the index alone.
          for (const row of plan.filter((r) => r.table === 'newest'))
            expect(row.key, text).toBe('ix_var_upload_created');
          for (const row of plan.filter((r) => r.table === 'up' || r.table === 'va' || r.table === 'newest'))
            expect(row.type, text).not.toBe('ALL');
        }
    },
  );

  it("analysis_status=completed: the list order's own index, no sort, one probe per upload read", async () => {
    for (const scope of ['', `&user_id=${owner}`])
      for (const mode of ['', '&cursor=']) {
        const url = `/api/admin/uploads?analysis_status=completed${scope}${mode}`;
        const { plan, ms } = await planOf(url);
        const text = `${url}\n${show(plan)}`;
        console.log(`${url}: ${ms.toFixed(0)} ms`);
        const scan = plan.find((r) => r.select_type === 'DERIVED' && r.table === 'up');
        expect(scan, text).toBeDefined();
        expect(scan!.type, text).not.toBe('ALL');
        expect(scan!.key, text).toBe(scope ? 'ix_uploads_user_created' : 'ix_uploads_created');
        expect(scan!.Extra ?? '', text).not.toMatch(/filesort|temporary/i);
        for (const row of plan.filter((r) => r.table === 'va')) expect(row.key, text).toBe('ix_var_upload_created');
      }
  });
});

describe('analysis_status plans (EXPLAIN QUERY PLAN on SQLite)', () => {
  let stack: TestStack;
  let db: DataSource;
  let admin: Session;

  beforeAll(async () => {
    stack = await startEmbedded('uploads-status-plans');
    db = stack.api.get(DataSource);
    admin = await registerAdmin(stack.api);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it.each(STATUSES)('analysis_status=%s: the same two shapes, indexes only', async (status) => {
    const seen: { sql: string; parameters: unknown[] }[] = [];
    const logger = db.logger as { logQuery: (sql: string, parameters?: unknown[]) => void };
    const original = logger.logQuery;
    logger.logQuery = (sql, parameters) => void seen.push({ sql, parameters: parameters ?? [] });
    const url = `/api/admin/uploads?analysis_status=${status}&cursor=`;
    try {
      const res = await stack.api.inject({ method: 'GET', url, headers: admin.auth });
      expect(res.statusCode, res.body).toBe(200);
    } finally {
      logger.logQuery = original;
    }
    const page = seen.find((q) => /FROM uploads up/.test(q.sql) && /ORDER BY/.test(q.sql));
    expect(page, url).toBeDefined();
    const rows = (await db.query(`EXPLAIN QUERY PLAN ${page!.sql}`, page!.parameters)) as { detail: string }[];
    const steps = rows.map((row) => row.detail).join('\n');
    expect(steps, url).not.toMatch(/^SCAN (up|va|newest)$/m);
    if (status === 'completed') {
      expect(steps, url).toMatch(/^SCAN up USING COVERING INDEX ix_uploads_created$/m);
      expect(steps, url).toMatch(/^SEARCH va USING INDEX ix_var_upload_created \(upload_id=\?\)$/m);
    } else {
      expect(steps, url).toMatch(/^SEARCH va USING INDEX ix_var_status_\w+ \(status=\?\)$/m);
      expect(steps, url).toMatch(/^SEARCH up USING INDEX sqlite_autoindex_uploads_1 \(id=\?\)$/m);
    }
  });
});
