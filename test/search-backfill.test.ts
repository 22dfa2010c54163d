import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { labOfHex, UploadListings, UploadsRepository } from '@echo/uploads';
import { SearchBackfill } from '@echo/visual-analysis';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { builtEnv, distBuilt, EchoProcess } from './support/processes.js';
import { register, type Session } from './support/users.js';

/**
 * Uploads made before the search columns existed (UploadSearch1764600000000 adds them null): the
 * batched backfill gives each its latest completed analysis' attributes, or its upload time as
 * taken_at, through the CLI's migration:run and the worker's start alike, and never overwrites a
 * row an analysis completed meanwhile.
 */
describe.skipIf(!servicesUp())('search backfill (MariaDB)', () => {
  let stack: TestStack;
  let db: DataSource;
  let userId: number;
  let owner: Session;
  const ROWS = 1234;
  const id = (n: number) => `30000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  const result = (make: string, takenAt: string, color: string) =>
    JSON.stringify({
      format: 'jpeg',
      width: 4000,
      height: 3000,
      orientation: 6,
      oriented_width: 3000,
      oriented_height: 4000,
      exif: { make, model: 'EOS R5', taken_at: takenAt, gps: true },
      dominant_color: color,
      sharpness: 420.5,
      phash: '0123456789abcdef',
      near_duplicates: [],
    });

  beforeAll(async () => {
    stack = await startStack('search-backfill');
    db = stack.api.get(DataSource);
    owner = await register(stack.api, 'old');
    userId = owner.id;
    // Rows as the migration leaves them: every search column null.
    await db.query(
      `INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key, created_at)
       SELECT CONCAT('30000000-0000-4000-8000-', LPAD(seq, 12, '0')), ?, '', 'x.jpg', 'image/jpeg', 10, LPAD(seq, 64, 'e'),
              4000, 3000, CONCAT('k/', seq), TIMESTAMP('2025-01-01 00:00:00') + INTERVAL seq MINUTE
       FROM seq_1_to_${ROWS}`,
      [userId],
    );
    const analysis = (n: number, status: string, res: string | null, createdAt: string, suffix = 'a') =>
      db.query(
        `INSERT INTO visual_analysis_results (id, upload_id, user_id, status, progress, attempts, result, analyzer_version, created_at)
         VALUES (?, ?, ?, ?, 100, 1, ?, '1', ?)`,
        [`${suffix}${id(n).slice(1)}`, id(n), userId, status, res, createdAt],
      );
    // Even rows: a completed analysis. Every tenth: an older completed one too (the newer wins).
    for (let n = 2; n <= ROWS; n += 2) {
      await analysis(n, 'completed', result('Canon', '2021-06-01T12:00:00', '#336699'), '2025-02-01 00:00:00');
      if (n % 10 === 0)
        await analysis(n, 'completed', result('Nikon', '2019-01-01T00:00:00', '#ff0000'), '2025-01-15', 'b');
    }
    // Odd rows divisible by 3: only a failed analysis (no attributes to take).
    for (let n = 3; n <= ROWS; n += 6) await analysis(n, 'failed', null, '2025-02-01 00:00:00');
    // Row 1: completed by a worker after the migration, before the backfill reached it.
    await db.query(`UPDATE uploads SET taken_at = '2020-05-05 05:05:05', format = 'png' WHERE id = ?`, [id(1)]);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  const row = async (n: number) =>
    (
      await db.query(
        'SELECT taken_at, camera_make, camera_model, has_gps, orientation, format, color_l, color_a, color_b, sharpness, phash, width, height FROM uploads WHERE id = ?',
        [id(n)],
      )
    )[0];

  it.skipIf(!distBuilt('cli'))(
    'migration:run fills every row in batches; a second run finds nothing to do',
    async () => {
      const env = builtEnv(stack.env.DATABASE_URL, 'backfill-cli');
      const run = async () => {
        const cli = EchoProcess.spawn('cli', env, ['migration:run']);
        const code = await new Promise<number | null>((resolve) => cli.child.once('exit', resolve));
        expect(code, cli.output).toBe(0);
        return cli.output;
      };
      expect(await run()).toContain(`Search columns filled on ${ROWS - 1} uploads.`);
      expect(Number((await db.query('SELECT COUNT(*) AS n FROM uploads WHERE taken_at IS NULL'))[0].n)).toBe(0);
      expect(await run()).not.toContain('Search columns filled');

      // The newest completed analysis, as the worker would have written it (displayed size, lower-cased camera).
      const analysed = await row(10);
      expect(analysed).toMatchObject({
        camera_make: 'canon',
        camera_model: 'eos r5',
        has_gps: 1,
        orientation: 'portrait',
        format: 'jpeg',
        phash: '0123456789abcdef',
        width: 3000,
        height: 4000,
      });
      expect(new Date(analysed.taken_at).toISOString()).toBe('2021-06-01T12:00:00.000Z');
      const [l, a, b] = labOfHex('#336699')!;
      expect(analysed.color_l).toBeCloseTo(l, 3);
      expect(analysed.color_a).toBeCloseTo(a, 3);
      expect(analysed.color_b).toBeCloseTo(b, 3);
      expect(analysed.sharpness).toBeCloseTo(420.5, 3);
      // No completed analysis: the upload time, nothing else.
      for (const n of [3, 5]) {
        const plain = await row(n);
        expect(new Date(plain.taken_at).getTime(), `row ${n}`).toBe(Date.UTC(2025, 0, 1, 0, n));
        expect(plain).toMatchObject({ camera_make: null, format: null, sharpness: null, phash: null, width: 4000 });
      }
      // Written by an analysis before the backfill got there: left alone.
      expect(await row(1)).toMatchObject({ format: 'png', camera_make: null });
      expect(new Date((await row(1)).taken_at).toISOString()).toBe('2020-05-05T05:05:05.000Z');

      // The word index (UploadWords1764800000000): every old upload's words, with its final taken_at.
      const words = await db.query(
        'SELECT word, COUNT(*) AS n, SUM(w.taken_at = up.taken_at) AS same FROM upload_words w JOIN uploads up ON up.id = w.upload_id WHERE w.user_id = ? GROUP BY word ORDER BY word',
        [userId],
      );
      expect(
        words.map((w: { word: string; n: number; same: number }) => [w.word, Number(w.n), Number(w.same)]),
      ).toEqual([
        ['jpg', ROWS, ROWS],
        ['x', ROWS, ROWS],
      ]);
      const res = await stack.api.inject({
        method: 'GET',
        url: '/api/uploads?q=x%20jpg&ordering=-taken_at&page_size=2',
        headers: owner.auth,
      });
      expect(res.statusCode, res.body).toBe(200);
      // Newest taken first: unanalysed rows keep their upload time (2025), analysed ones 2021, row 1 2020.
      expect(res.json().count).toBe(ROWS);
      expect(res.json().results.map((u: { id: string }) => u.id)).toEqual([id(ROWS - 1), id(ROWS - 3)]);
    },
  );

  it('the worker-side backfill is idempotent and safe to run twice at once', async () => {
    await db.query('UPDATE uploads SET taken_at = NULL, camera_make = NULL WHERE id IN (?, ?)', [id(20), id(21)]);
    await db.query('DELETE FROM upload_words WHERE upload_id IN (?, ?)', [id(20), id(22)]);
    const backfill = () => new SearchBackfill(db, stack.api.get(UploadsRepository)).run();
    const [x, y] = await Promise.all([backfill(), backfill()]);
    // Each row was claimed by whichever run read it first; both ran to the end.
    expect(x + y).toBeGreaterThanOrEqual(2);
    expect((await row(20)).camera_make).toBe('canon');
    expect(new Date((await row(21)).taken_at).getTime()).toBe(Date.UTC(2025, 0, 1, 0, 21));
    // Both runs met on the same missing words: each is there once, none failed the run.
    const words = await db.query(
      'SELECT upload_id, word FROM upload_words WHERE upload_id IN (?, ?) ORDER BY upload_id, word',
      [id(20), id(22)],
    );
    expect(words.map((w: { upload_id: string; word: string }) => `${w.upload_id.slice(-2)} ${w.word}`)).toEqual([
      '20 jpg',
      '20 x',
      '22 jpg',
      '22 x',
    ]);
    expect(await backfill()).toBe(0);
  });

  it('a filled row shows in the owner\u2019s cached pages at once (the backfill bumps their list version)', async () => {
    await db.query('UPDATE uploads SET taken_at = NULL WHERE id = ?', [id(ROWS)]);
    const newest = async () => {
      const res = await stack.api.inject({ method: 'GET', url: '/api/uploads?page_size=1', headers: owner.auth });
      expect(res.statusCode, res.body).toBe(200);
      return res.json().results[0] as { id: string; taken_at: string };
    };
    // Unfilled, the page shows the upload time (and is now cached).
    expect(await newest()).toMatchObject({
      id: id(ROWS),
      taken_at: new Date(Date.UTC(2025, 0, 1, 0, ROWS)).toISOString(),
    });
    expect(
      await new SearchBackfill(db, stack.api.get(UploadsRepository), stack.api.get(UploadListings)).run(),
    ).toBeGreaterThanOrEqual(1);
    expect((await newest()).taken_at).toBe('2021-06-01T12:00:00.000Z');
  });
});
