import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '@echo/config';
import { PasswordHasher } from '@echo/users';
import { BLURRY_BELOW_SHARPNESS, NEAR_DUPLICATE_MAX_DISTANCE } from '@echo/uploads';
import type { StoredResult } from '@echo/visual-analysis';
import { searchAttributes } from '../libs/visual-analysis/src/search/search-attributes.js';
import { seed, DEFAULT_SEED_PASSWORD } from '../apps/cli/src/seed/seed.js';
import { createTestDatabase } from './support/services.js';

const mysqlUp = process.env.ECHO_TEST_MYSQL === '1';

describe.skipIf(!mysqlUp)('seed command (bench data set) on MariaDB', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let conn: mysql.Connection;
  const config = () =>
    loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: db.url, JWT_SECRET: 'x'.repeat(40) });
  const rows = async <T>(sql: string) => (await conn.query(sql))[0] as T[];

  beforeAll(async () => {
    db = await createTestDatabase('seed');
    // timezone Z: DATETIME columns are UTC, as the app writes them.
    conn = await mysql.createConnection({ uri: db.url, timezone: 'Z' });
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await conn?.end();
    await db?.drop();
  });

  it('writes exactly the asked sizes, through the entity metadata, with a working password', async () => {
    await seed(config(), ['--users', '40', '--uploads', '120', '--analyses', '50', '--batch', '16', '--seed', '7']);
    const [counts] = await rows<{ users: number; uploads: number; analyses: number }>(
      'SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM uploads) AS uploads, (SELECT COUNT(*) FROM visual_analysis_results) AS analyses',
    );
    expect({ users: Number(counts.users), uploads: Number(counts.uploads), analyses: Number(counts.analyses) }).toEqual(
      { users: 40, uploads: 120, analyses: 50 },
    );
    // Every analysis belongs to its upload's owner; statuses are the app's.
    const [mismatch] = await rows<{ n: number }>(
      'SELECT COUNT(*) AS n FROM visual_analysis_results a JOIN uploads u ON u.id = a.upload_id WHERE a.user_id <> u.user_id',
    );
    expect(Number(mismatch.n)).toBe(0);
    const statuses = (await rows<{ status: string }>('SELECT DISTINCT status FROM visual_analysis_results')).map(
      (r) => r.status,
    );
    for (const status of statuses) expect(['queued', 'processing', 'completed', 'failed']).toContain(status);
    const [user] = await rows<{ password_hash: string }>('SELECT password_hash FROM users ORDER BY id LIMIT 1');
    expect(await new PasswordHasher().verify(user.password_hash, DEFAULT_SEED_PASSWORD)).toBe(true);
  });

  it('is reproducible for a --seed: the same users again after --reset', async () => {
    const names = async () =>
      (await rows<{ username: string }>('SELECT username FROM users ORDER BY id')).map((r) => r.username);
    const before = await names();
    await seed(config(), ['--users', '40', '--uploads', '120', '--analyses', '50', '--seed', '7', '--reset']);
    expect(await names()).toEqual(before);
    await seed(config(), ['--users', '40', '--uploads', '0', '--analyses', '0', '--seed', '8', '--reset']);
    expect(await names()).not.toEqual(before);
  });

  describe('search columns (issue 22) and --big-users', () => {
    const args = [
      '--users',
      '30',
      '--uploads',
      '3000',
      '--analyses',
      '2400',
      '--big-users',
      '400,1600',
      '--seed',
      '11',
    ];
    interface Searchable {
      id: string;
      user_id: number;
      content_type: string;
      title: string;
      width: number;
      height: number;
      created_at: Date;
      taken_at: Date | null;
      camera_make: string | null;
      camera_model: string | null;
      has_gps: number | null;
      orientation: string | null;
      format: string | null;
      color_l: number | null;
      color_a: number | null;
      color_b: number | null;
      sharpness: number | null;
      phash: string | null;
      preview_key: string | null;
      result: string | null;
    }
    const uploadsWithResult = () =>
      rows<Searchable>(
        `SELECT u.*, a.result FROM uploads u
           LEFT JOIN visual_analysis_results a ON a.upload_id = u.id AND a.status = 'completed' ORDER BY u.user_id, u.created_at, u.id`,
      );
    const share = (items: unknown[], of: unknown[]) => items.length / of.length;
    // FLOAT columns come back with ~6 significant digits.
    const close = (actual: number | null, expected: number | null) =>
      expected === null
        ? actual === null
        : actual !== null && Math.abs(actual - expected) <= 1e-3 + 1e-5 * Math.abs(expected);

    beforeAll(() => seed(config(), [...args, '--reset', '--batch', '500']));

    it('gives the big users exactly their sizes, every upload analysed, the rest spread over the others', async () => {
      const perUser = await rows<{ user_id: number; n: number; analysed: number }>(
        `SELECT u.user_id, COUNT(*) AS n, COUNT(a.id) AS analysed FROM uploads u
           LEFT JOIN visual_analysis_results a ON a.upload_id = u.id GROUP BY u.user_id ORDER BY n DESC`,
      );
      expect(perUser.slice(0, 2).map((r) => [Number(r.n), Number(r.analysed)])).toEqual([
        [1600, 1600],
        [400, 400],
      ]);
      expect(perUser.reduce((a, r) => a + Number(r.n), 0)).toBe(3000);
      expect(perUser.reduce((a, r) => a + Number(r.analysed), 0)).toBe(2400);
      const [bigUsers] = await rows<{ n: number }>(
        `SELECT COUNT(*) AS n FROM users WHERE id IN (${perUser
          .slice(0, 2)
          .map((r) => Number(r.user_id))
          .join(',')}) AND is_active = 1 AND role = 'user'`,
      );
      expect(Number(bigUsers.n)).toBe(2);
    });

    it("fills each completed upload's columns as the worker's searchAttributes does from its result; others only taken_at", async () => {
      const all = await uploadsWithResult();
      const completed = all.filter((u) => u.result);
      expect(completed.length).toBeGreaterThan(2000);
      const wrong: string[] = [];
      for (const u of completed) {
        const a = searchAttributes(JSON.parse(u.result!) as StoredResult, u.created_at);
        const same =
          u.taken_at?.getTime() === a.takenAt.getTime() &&
          u.camera_make === a.cameraMake &&
          u.camera_model === a.cameraModel &&
          Boolean(u.has_gps) === a.hasGps &&
          u.has_gps !== null &&
          u.orientation === a.orientation &&
          u.format === a.format &&
          close(u.color_l, a.colorL) &&
          close(u.color_a, a.colorA) &&
          close(u.color_b, a.colorB) &&
          close(u.sharpness, a.sharpness) &&
          u.phash === a.phash &&
          u.width === a.width &&
          u.height === a.height;
        if (!same) wrong.push(`${u.id}: ${JSON.stringify({ row: { ...u, result: undefined }, expected: a })}`);
      }
      expect(wrong.slice(0, 3)).toEqual([]);
      // The decoded format names the content type's format (image/heic → heic, …).
      for (const u of completed) expect(`image/${u.format}`).toBe(u.content_type);
      const others = all.filter((u) => !u.result);
      expect(others.length).toBeGreaterThan(500);
      for (const u of others) {
        expect(u.taken_at?.getTime()).toBe(u.created_at.getTime());
        expect([u.camera_make, u.camera_model, u.has_gps, u.orientation, u.format]).toEqual([
          null,
          null,
          null,
          null,
          null,
        ]);
        expect([u.color_l, u.color_a, u.color_b, u.sharpness, u.phash, u.preview_key]).toEqual([
          null,
          null,
          null,
          null,
          null,
          null,
        ]);
      }
      for (const u of all) expect(u.taken_at!.getTime()).toBeLessThanOrEqual(u.created_at.getTime());
    });

    it('draws realistic shares: EXIF, GPS, orientation, blurry, colours, seasons, near-duplicate clusters', async () => {
      const all = await uploadsWithResult();
      const [bigId] = (
        await rows<{ user_id: number }>('SELECT user_id FROM uploads GROUP BY user_id ORDER BY COUNT(*) DESC LIMIT 1')
      ).map((r) => Number(r.user_id));
      const lib = all.filter((u) => u.user_id === bigId && u.result);
      expect(lib.length).toBeGreaterThan(1400);
      const photos = lib.filter((u) => ['jpeg', 'heic', 'tiff'].includes(u.format!));
      expect(share(photos, lib)).toBeGreaterThan(0.6);
      expect(
        share(
          photos.filter((u) => u.camera_make === null),
          photos,
        ),
      ).toBeGreaterThan(0.13);
      expect(
        share(
          photos.filter((u) => u.camera_make === null),
          photos,
        ),
      ).toBeLessThan(0.27);
      const makes = new Map<string, number>();
      for (const u of lib) if (u.camera_make) makes.set(u.camera_make, (makes.get(u.camera_make) ?? 0) + 1);
      expect(makes.size).toBeGreaterThanOrEqual(8);
      expect([...makes.entries()].sort((x, y) => y[1] - x[1])[0][0]).toBe('apple');
      expect(new Set(lib.map((u) => u.camera_model).filter(Boolean)).size).toBeGreaterThanOrEqual(12);
      // HEIC comes from iPhones only.
      for (const u of lib) if (u.format === 'heic' && u.camera_make) expect(u.camera_make).toBe('apple');
      const gps = share(
        lib.filter((u) => u.has_gps),
        lib,
      );
      expect(gps).toBeGreaterThan(0.32);
      expect(gps).toBeLessThan(0.48);
      const orientation = (o: string) =>
        share(
          lib.filter((u) => u.orientation === o),
          lib,
        );
      expect(orientation('landscape')).toBeGreaterThan(0.53);
      expect(orientation('landscape')).toBeLessThan(0.67);
      expect(orientation('portrait')).toBeGreaterThan(0.29);
      expect(orientation('portrait')).toBeLessThan(0.41);
      expect(orientation('square')).toBeGreaterThan(0.02);
      expect(orientation('square')).toBeLessThan(0.09);
      const blurry = share(
        lib.filter((u) => u.sharpness! < BLURRY_BELOW_SHARPNESS),
        lib,
      );
      expect(blurry).toBeGreaterThan(0.06);
      expect(blurry).toBeLessThan(0.14);
      // Colours: many near-greys (|a|,|b| small), and hues all round the circle.
      const greys = lib.filter((u) => Math.hypot(u.color_a!, u.color_b!) < 6);
      expect(share(greys, lib)).toBeGreaterThan(0.2);
      const hues = new Set(
        lib
          .filter((u) => Math.hypot(u.color_a!, u.color_b!) > 15)
          .map((u) => Math.floor(((Math.atan2(u.color_b!, u.color_a!) * 180) / Math.PI + 360) / 45) % 8),
      );
      expect(hues.size).toBe(8);
      // Taken-at: most EXIF photos weeks to years before their upload, summers and Decembers ahead of February/November.
      const dated = lib.filter((u) => u.camera_make !== null);
      const old = dated.filter((u) => u.created_at.getTime() - u.taken_at!.getTime() > 30 * 86400_000);
      expect(share(old, dated)).toBeGreaterThan(0.4);
      expect(new Set(old.map((u) => u.taken_at!.getUTCFullYear())).size).toBeGreaterThanOrEqual(4);
      const inMonths = (months: number[]) => old.filter((u) => months.includes(u.taken_at!.getUTCMonth())).length;
      expect(inMonths([6, 7])).toBeGreaterThan(2 * inMonths([1, 10]));
      // Near-duplicates: ~15 % of the library has another upload within the threshold, in groups of 2–5.
      // (Hamming distance on two 32-bit halves: hammingDistance's per-digit parse is slow for 1,500² pairs.)
      const halves = lib.map((u) => [parseInt(u.phash!.slice(0, 8), 16), parseInt(u.phash!.slice(8), 16)]);
      const neighbours = halves.map(
        ([hi, lo], i) =>
          halves.filter(
            ([h2, l2], j) => j !== i && popcount(hi ^ h2) + popcount(lo ^ l2) <= NEAR_DUPLICATE_MAX_DISTANCE,
          ).length,
      );
      const clustered = neighbours.filter((n) => n > 0).length / lib.length;
      expect(clustered).toBeGreaterThan(0.1);
      expect(clustered).toBeLessThan(0.2);
      expect(Math.max(...neighbours)).toBeLessThanOrEqual(4);
    });

    it('draws the same libraries again for the same --seed', async () => {
      const fingerprint = async () =>
        (await uploadsWithResult())
          .map((u) =>
            [u.user_id, u.content_type, u.width, u.height, u.camera_model, u.phash, u.sharpness, u.title].join('|'),
          )
          .sort();
      await seed(config(), [...args, '--reset', '--batch', '700']);
      const before = await fingerprint();
      await seed(config(), [...args, '--reset']);
      const after = await fingerprint();
      const differ = before.flatMap((line, i) => (line === after[i] ? [] : [`${line} ≠ ${after[i]}`]));
      expect(differ.slice(0, 5)).toEqual([]);
    });
  });
});

function popcount(x: number): number {
  let n = x >>> 0;
  n -= (n >>> 1) & 0x55555555;
  n = (n & 0x33333333) + ((n >>> 2) & 0x33333333);
  return (((n + (n >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
