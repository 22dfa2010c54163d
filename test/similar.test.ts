import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { CacheService } from '@echo/cache';
import { hammingDistance, NearDuplicates, UploadListings } from '@echo/uploads';
import { nearDuplicateGroups } from '../libs/uploads/src/similar/phash-groups.js';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { register, registerAdmin, type Session } from './support/users.js';
import { multipart } from './support/images.js';
import { heifEnc, skipWithout } from './support/encoders.js';
import { postUpload } from './support/uploads.js';
import { waitFor } from './support/wait.js';

/** A photo-like scene: a diagonal gradient, a disc and a block. */
function scene(width: number, height: number): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#1e3c72"/><stop offset="1" stop-color="#f5af19"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${width * 0.3}" cy="${height * 0.4}" r="${height * 0.22}" fill="#e94e77"/>
    <rect x="${width * 0.55}" y="${height * 0.5}" width="${width * 0.3}" height="${height * 0.35}" fill="#2ecc71"/></svg>`);
}

/** Another scene altogether (its pHash is ~24 bits from the first's). */
function otherScene(width: number, height: number): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="1" y1="0" x2="0" y2="0"><stop offset="0" stop-color="#102010"/><stop offset="1" stop-color="#d0e0f0"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <rect x="${width * 0.1}" y="${height * 0.05}" width="${width * 0.2}" height="${height * 0.9}" fill="#f0c020"/>
    <circle cx="${width * 0.75}" cy="${height * 0.75}" r="${height * 0.15}" fill="#203080"/></svg>`);
}

/** The original and its copies as a phone, a chat app or an export would make them. */
async function fixtures() {
  const original = await sharp(scene(1024, 768)).jpeg({ quality: 90 }).toBuffer();
  return {
    original,
    jpeg: await sharp(original).resize(800, 600).jpeg({ quality: 60 }).toBuffer(),
    png: await sharp(original).resize(640, 480).png().toBuffer(),
    other: await sharp(otherScene(1024, 768)).jpeg({ quality: 90 }).toBuffer(),
  };
}

/** Calls on one app as one user. */
function client(api: NestFastifyApplication) {
  const get = (session: Session, url: string) => api.inject({ method: 'GET', url, headers: session.auth });
  const json = async (session: Session, url: string) => {
    const res = await get(session, url);
    expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
    return res.json();
  };
  const upload = async (session: Session, data: Buffer, filename: string) =>
    postUpload(api, session, multipart([{ name: 'file', filename, data }]));
  const settled = (session: Session, analysisId: string) =>
    waitFor(
      async () => {
        const a = await json(session, `/api/visual-analysis/${analysisId}`);
        return a.status === 'completed' || a.status === 'failed' ? a : undefined;
      },
      60_000,
      `analysis ${analysisId}`,
    );
  /** Uploads and waits for its analysis: the upload object and the completed analysis. */
  const analysed = async (session: Session, data: Buffer, filename: string) => {
    const up = await upload(session, data, filename);
    const analysis = await settled(session, up.analysis.id);
    expect(analysis.status, JSON.stringify(analysis.error)).toBe('completed');
    return { up, analysis };
  };
  return { get, json, upload, analysed };
}

/**
 * An upload object with its signed URLs cut to their path: two reads a moment apart may fall in
 * two signing windows (MediaUrls), and then only the expiry and signature differ.
 */
function unsigned<T extends Record<string, unknown>>(upload: T): T {
  return Object.fromEntries(
    Object.entries(upload).map(([key, value]) =>
      key.endsWith('_url') && typeof value === 'string' ? [key, value.split('?')[0]] : [key, value],
    ),
  ) as T;
}

/** The SQL statements TypeORM sends while `request` runs (its logger sees each with its parameters). */
async function statementsOf(db: DataSource, request: () => Promise<unknown>) {
  const seen: { sql: string; parameters: unknown[] }[] = [];
  const spy = vi
    .spyOn(db.logger, 'logQuery')
    .mockImplementation(
      (sql: string, parameters?: unknown) =>
        void seen.push({ sql, parameters: (parameters as unknown[] | undefined) ?? [] }),
    );
  try {
    await request();
  } finally {
    spy.mockRestore();
  }
  return seen;
}

const hashRead = (statements: { sql: string; parameters: unknown[] }[]) =>
  statements.find((s) => /SELECT id, user_id, phash FROM uploads/.test(s.sql));

describe.skipIf(!servicesUp())('similar photos and duplicate groups (API + worker, MariaDB + Redis)', () => {
  let stack: TestStack;
  let api: NestFastifyApplication;
  let db: DataSource;
  let alice: Session;
  let bob: Session;
  let admin: Session;
  let http: ReturnType<typeof client>;
  let images: Awaited<ReturnType<typeof fixtures>>;
  const ids: Record<string, string> = {};
  const analyses: Record<string, { id: string; result: { phash: string; near_duplicates: string[] } }> = {};

  beforeAll(async () => {
    // Load shedding off: the timings below run the API, the worker and the grouping in one process
    // on a shared machine, where a busy moment must not turn a measured request into a 503.
    stack = await startStack(
      'similar',
      { WORKER_CONCURRENCY: '2', PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' },
      { worker: true },
    );
    api = stack.api;
    db = api.get(DataSource);
    http = client(api);
    [alice, bob, admin] = await Promise.all([register(api, 'alice'), register(api, 'bob'), registerAdmin(api)]);
    images = await fixtures();
  });
  afterAll(() => stack?.close());

  it('the original is analysed first, then its JPEG copy: each lists the other (near_duplicates now symmetric)', async () => {
    const original = await http.analysed(alice, images.original, 'original.jpg');
    // Before the copy exists: nothing alike.
    expect(original.analysis.result.near_duplicates).toEqual([]);
    expect((await http.json(alice, `/api/uploads/${original.up.id}/similar`)).count).toBe(0);
    const jpeg = await http.analysed(alice, images.jpeg, 'copy-q60.jpg');
    ids.original = original.up.id;
    ids.jpeg = jpeg.up.id;
    analyses.original = original.analysis;
    analyses.jpeg = jpeg.analysis;
    expect(hammingDistance(original.analysis.result.phash, jpeg.analysis.result.phash)).toBeLessThanOrEqual(10);
    // The bug the issue measured: the first-analysed upload never listed the copy made after it.
    expect((await http.json(alice, `/api/visual-analysis/${original.analysis.id}`)).result.near_duplicates).toEqual([
      ids.jpeg,
    ]);
    expect((await http.json(alice, `/api/visual-analysis/${jpeg.analysis.id}`)).result.near_duplicates).toEqual([
      ids.original,
    ]);
  });

  it('similar and duplicates move on when more copies are analysed (their caches follow the list version)', async () => {
    // Read (and cached) with one copy…
    expect((await http.json(alice, `/api/uploads/${ids.original}/similar`)).count).toBe(1);
    expect((await http.json(alice, '/api/uploads/duplicates')).results.map((g: { size: number }) => g.size)).toEqual([
      2,
    ]);
    const png = await http.analysed(alice, images.png, 'copy.png');
    const other = await http.analysed(alice, images.other, 'unrelated.jpg');
    ids.png = png.up.id;
    ids.other = other.up.id;
    analyses.png = png.analysis;
    expect(hammingDistance(analyses.original.result.phash, other.analysis.result.phash)).toBeGreaterThan(10);
    if (!skipWithout('heifEnc')) {
      const heic = await http.analysed(alice, await heifEnc(images.original, 60), 'IMG_0001.HEIC');
      ids.heic = heic.up.id;
      expect(heic.analysis.result.format).toBe('heic');
    }
    // …and current once the copies are in.
    const copies = ['jpeg', 'png', 'heic'].filter((k) => ids[k]).map((k) => ids[k]);
    const page = await http.json(alice, `/api/uploads/${ids.original}/similar`);
    expect(page.count).toBe(copies.length);
    expect(page.results.map((u: { id: string }) => u.id).sort()).toEqual([...copies].sort());
  });

  it('GET /api/uploads/:id/similar: the copies, nearest first (newest first on ties), as upload objects with distance', async () => {
    const page = await http.json(alice, `/api/uploads/${ids.original}/similar`);
    expect(page).toMatchObject({ next: null, previous: null });
    const results: Array<{ id: string; distance: number; created_at: string; file_url: string }> = page.results;
    expect(results.map((u) => u.id)).not.toContain(ids.other);
    expect(results.map((u) => u.id)).not.toContain(ids.original);
    for (let i = 1; i < results.length; i++) {
      const [a, b] = [results[i - 1], results[i]];
      expect(a.distance < b.distance || (a.distance === b.distance && a.created_at >= b.created_at)).toBe(true);
    }
    // Each the upload object GET /api/uploads/:id shows, plus its distance (signed URLs included).
    for (const item of results) {
      const detail = await http.json(alice, `/api/uploads/${item.id}`);
      expect(Object.keys(item).sort()).toEqual([...Object.keys(detail), 'distance'].sort());
      expect(unsigned(item)).toMatchObject(unsigned(detail));
      expect(item.file_url).toMatch(/sig=/);
      expect(item.distance).toBeLessThanOrEqual(10);
      expect(item.distance).toBe(hammingDistance(analyses.original.result.phash, (await phashOf(item.id))!));
    }
    // The resized PNG comes first: it hashes as the original (0 bits; the JPEG and HEIC copies 2).
    expect(results[0]).toMatchObject({ id: ids.png, distance: 0 });
    // The unrelated scene is found only with a far looser distance.
    const loose = await http.json(alice, `/api/uploads/${ids.original}/similar?max_distance=32`);
    expect(loose.results.map((u: { id: string }) => u.id)).toContain(ids.other);
    const exact = await http.json(alice, `/api/uploads/${ids.original}/similar?max_distance=0`);
    const same = results.filter((u) => u.distance === 0).map((u) => u.id);
    expect(same.length).toBeGreaterThan(0);
    expect(exact.results.map((u: { id: string; distance: number }) => u.id)).toEqual(same);
  });

  const phashOf = async (id: string) =>
    ((await db.query('SELECT phash FROM uploads WHERE id = ?', [id])) as { phash: string | null }[])[0]?.phash;

  it('GET /api/uploads/duplicates: one group, best picture first; not captured by /api/uploads/:id', async () => {
    const res = await http.get(alice, '/api/uploads/duplicates');
    // Through `:id` this would be a 404 (no upload has that id) or an upload object, never a page.
    expect(res.statusCode, res.body).toBe(200);
    const page = res.json();
    const members = ['original', 'jpeg', 'png', 'heic'].filter((k) => ids[k]).map((k) => ids[k]);
    expect(page).toMatchObject({ count: 1, next: null, previous: null });
    const [group] = page.results;
    expect(group.size).toBe(members.length);
    expect(group.uploads.map((u: { id: string }) => u.id).sort()).toEqual([...members].sort());
    const pixels = (u: { width: number; height: number }) => u.width * u.height;
    for (let i = 1; i < group.uploads.length; i++) {
      const [a, b] = [group.uploads[i - 1], group.uploads[i]];
      expect(pixels(a) > pixels(b) || (pixels(a) === pixels(b) && a.size >= b.size)).toBe(true);
    }
    // The 1024×768 JPEG at q90 is the one to keep (the HEIC has as many pixels but fewer bytes).
    expect(group.uploads[0].id).toBe(ids.original);
    const detail = await http.json(alice, `/api/uploads/${ids.original}`);
    expect(unsigned(group.uploads[0])).toEqual(unsigned(detail));
    // max_distance applies here too: at 0 only uploads that hash exactly alike are grouped.
    const hashes = await Promise.all(members.map(phashOf));
    const classes = [...new Set(hashes)].map((h) => hashes.filter((x) => x === h).length).filter((n) => n >= 2);
    const exact = await http.json(alice, '/api/uploads/duplicates?max_distance=0');
    expect(exact.results.map((g: { size: number }) => g.size)).toEqual(classes.sort((a, b) => b - a));
    for (const group of exact.results) {
      const groupHashes = await Promise.all(group.uploads.map((u: { id: string }) => phashOf(u.id)));
      expect(new Set(groupHashes).size).toBe(1);
    }
  });

  it('max_distance must be an integer from 0 to 32 (12 for duplicates): a DRF 400 naming it', async () => {
    const cases: Array<[string, string]> = [
      ['abc', 'A valid integer is required.'],
      ['1.5', 'A valid integer is required.'],
      ['-1', 'Ensure this value is greater than or equal to 0.'],
    ];
    const res33 = await http.get(alice, `/api/uploads/${ids.original}/similar?max_distance=33`);
    expect(res33.json()).toEqual({ max_distance: ['Ensure this value is less than or equal to 32.'] });
    for (const [value, message] of cases)
      for (const url of [`/api/uploads/${ids.original}/similar`, '/api/uploads/duplicates']) {
        const res = await http.get(alice, `${url}?max_distance=${value}`);
        expect(res.statusCode, `${url} ${value}`).toBe(400);
        expect(res.json()).toEqual({ max_distance: [message] });
      }
    // Duplicate groups stop at 12: grouping a whole library costs steeply more beyond (docs/api.md).
    for (const value of ['13', '32']) {
      const res = await http.get(alice, `/api/uploads/duplicates?max_distance=${value}`);
      expect(res.statusCode, value).toBe(400);
      expect(res.json()).toEqual({ max_distance: ['Ensure this value is less than or equal to 12.'] });
    }
    expect((await http.get(alice, '/api/uploads/duplicates?max_distance=12')).statusCode).toBe(200);
    // An empty value is no value (the default).
    expect((await http.json(alice, `/api/uploads/${ids.original}/similar?max_distance=`)).count).toBeGreaterThan(0);
    // Unknown parameters are refused as on every list.
    expect((await http.get(alice, '/api/uploads/duplicates?distance=3')).json()).toEqual({
      distance: ['This field is not allowed.'],
    });
  });

  it("another user's upload, or an unknown one, is 404; the admin sees it with the owner's username", async () => {
    expect((await http.get(bob, `/api/uploads/${ids.original}/similar`)).statusCode).toBe(404);
    expect((await http.get(alice, '/api/uploads/00000000-0000-4000-8000-000000000000/similar')).statusCode).toBe(404);
    // Bob's duplicates are his own (none).
    expect(await http.json(bob, '/api/uploads/duplicates')).toEqual({
      count: 0,
      next: null,
      previous: null,
      results: [],
    });
    const own = await http.json(alice, `/api/uploads/${ids.original}/similar`);
    const adminPage = await http.json(admin, `/api/admin/uploads/${ids.original}/similar`);
    expect(adminPage.count).toBe(own.count);
    expect(adminPage.results.map((u: { id: string }) => u.id)).toEqual(own.results.map((u: { id: string }) => u.id));
    for (const item of adminPage.results) expect(item.username).toBe(alice.username);
    expect((await http.get(alice, `/api/admin/uploads/${ids.original}/similar`)).statusCode).toBe(403);
    expect((await http.get(admin, '/api/admin/uploads/not-a-uuid/similar')).statusCode).toBe(400);
    expect((await http.get(admin, '/api/admin/uploads/00000000-0000-4000-8000-000000000000/similar')).statusCode).toBe(
      404,
    );
  });

  it('pages: page_size and page as on every list, links keep max_distance; past the end 404; cursor refused', async () => {
    const all = await http.json(alice, `/api/uploads/${ids.original}/similar?max_distance=12`);
    expect(all.count).toBeGreaterThanOrEqual(2);
    const first = await http.json(alice, `/api/uploads/${ids.original}/similar?max_distance=12&page_size=1`);
    expect(first.count).toBe(all.count);
    expect(first.results).toHaveLength(1);
    const next = new URL(first.next);
    expect(Object.fromEntries(next.searchParams)).toEqual({ max_distance: '12', page_size: '1', page: '2' });
    const second = await http.json(alice, next.pathname + next.search);
    expect(second.results.map((u: { id: string }) => u.id)).toEqual([all.results[1].id]);
    expect(new URL(second.previous).searchParams.has('page')).toBe(false);
    const past = await http.get(alice, `/api/uploads/${ids.original}/similar?page=${all.count + 1}&page_size=1`);
    expect([past.statusCode, past.json()]).toEqual([404, { detail: 'Invalid page.' }]);
    const cursor = await http.get(alice, '/api/uploads/duplicates?cursor=');
    expect(cursor.statusCode).toBe(400);
    expect(Object.keys(cursor.json())).toEqual(['cursor']);
  });

  it('an upload without a pHash yet has an empty page', async () => {
    await db.query('UPDATE uploads SET phash = NULL WHERE id = ?', [ids.other]);
    await api.get(UploadListings).changed(alice.id);
    expect(await http.json(alice, `/api/uploads/${ids.other}/similar`)).toEqual({
      count: 0,
      next: null,
      previous: null,
      results: [],
    });
    expect((await http.get(alice, `/api/uploads/${ids.other}/similar?page=2`)).statusCode).toBe(404);
  });

  it('the analysis list shows the same near_duplicates, from one hash read per page', async () => {
    await api.get(CacheService).bump(`analyses:${alice.id}`);
    let list: { results: Array<{ id: string; result: { near_duplicates: string[] } | null }> } = { results: [] };
    const statements = await statementsOf(db, async () => {
      list = await http.json(alice, '/api/visual-analysis?page_size=50');
    });
    expect(list.results.length).toBeGreaterThanOrEqual(4);
    expect(statements.filter((s) => /SELECT id, user_id, phash FROM uploads/.test(s.sql))).toHaveLength(1);
    const original = list.results.find((a) => a.id === analyses.original.id)!;
    const detail = await http.json(alice, `/api/visual-analysis/${analyses.original.id}`);
    expect(original.result!.near_duplicates).toEqual(detail.result.near_duplicates);
    expect(original.result!.near_duplicates).toContain(ids.jpeg);
    expect(original.result!.near_duplicates).not.toContain(ids.original);
    // Symmetric: every copy lists the original back.
    for (const a of list.results)
      if (a.result && original.result!.near_duplicates.includes((a as unknown as { upload_id: string }).upload_id))
        expect(a.result.near_duplicates).toContain(ids.original);
  });

  it('a deleted copy drops out of near_duplicates, similar and duplicates', async () => {
    const del = await api.inject({ method: 'DELETE', url: `/api/uploads/${ids.jpeg}`, headers: alice.auth });
    expect(del.statusCode).toBe(204);
    const detail = await http.json(alice, `/api/visual-analysis/${analyses.original.id}`);
    expect(detail.result.near_duplicates).not.toContain(ids.jpeg);
    expect(detail.result.near_duplicates).toContain(ids.png);
    const list = await http.json(alice, '/api/visual-analysis?page_size=50');
    const original = list.results.find((a: { id: string }) => a.id === analyses.original.id);
    expect(original.result.near_duplicates).not.toContain(ids.jpeg);
    const similar = await http.json(alice, `/api/uploads/${ids.original}/similar`);
    expect(similar.results.map((u: { id: string }) => u.id)).not.toContain(ids.jpeg);
    const [group] = (await http.json(alice, '/api/uploads/duplicates')).results;
    expect(group.uploads.map((u: { id: string }) => u.id)).not.toContain(ids.jpeg);
    expect(group.size).toBe(ids.heic ? 3 : 2);
  });

  it('the runner stores no near_duplicates any more; an old stored list is ignored on read', async () => {
    const [row] = (await db.query('SELECT result FROM visual_analysis_results WHERE id = ?', [analyses.png.id])) as {
      result: string;
    }[];
    expect(JSON.parse(row.result)).not.toHaveProperty('near_duplicates');
    // A result stored by the old runner, listing an upload that is long gone.
    const stale = { ...JSON.parse(row.result), near_duplicates: ['11111111-1111-4111-8111-111111111111'] };
    await db.query('UPDATE visual_analysis_results SET result = ? WHERE id = ?', [
      JSON.stringify(stale),
      analyses.png.id,
    ]);
    await api.get(CacheService).del(`analysis:${analyses.png.id}`);
    await api.get(CacheService).bump(`analyses:${alice.id}`);
    const detail = await http.json(alice, `/api/visual-analysis/${analyses.png.id}`);
    expect(detail.result.near_duplicates).not.toContain('11111111-1111-4111-8111-111111111111');
    expect(detail.result.near_duplicates).toContain(ids.original);
  });

  describe('at scale: 20,000 uploads with random and clustered hashes', () => {
    const N = 20_000;
    let carol: Session;
    let hashes: string[];
    let clusterIds: string[];
    /** An upload of the largest group (it has near neighbours for `similar`). */
    let grouped: string;
    const results: Record<string, string> = {};

    beforeAll(async () => {
      carol = await register(api, 'carol');
      ({ hashes, clusterIds } = await insertLibrary(db, carol.id, N));
      const largest = nearDuplicateGroups(hashes, 10).sort((a, b) => b.length - a.length)[0];
      grouped = `20000000-0000-4000-8000-${String(largest[0]).padStart(12, '0')}`;
      // Completed analyses for a list page of 50 (their results carry the pHash the page compares).
      const rows = clusterIds
        .slice(0, 50)
        .map((uploadId, i) => [
          `30000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          uploadId,
          carol.id,
          'completed',
          100,
          1,
          JSON.stringify({ format: 'jpeg', phash: hashes[i] }),
          hashes[i],
          '1.1.0',
          new Date(Date.now() - i * 1000),
          new Date(),
          new Date(),
        ]);
      await db.query(
        `INSERT INTO visual_analysis_results (id, upload_id, user_id, status, progress, attempts, result, phash, analyzer_version, created_at, started_at, completed_at) VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        rows.flat(),
      );
      await db.query('ANALYZE TABLE uploads');
    }, 120_000);

    afterAll(() => {
      console.log(`similar/duplicates at ${N} uploads (p50 over 20 calls):\n${JSON.stringify(results, null, 2)}`);
    });

    /**
     * p50 of `calls` timed requests (each after `before`, untimed): wall time, and this process'
     * CPU time (API and grouping run here; MariaDB and Redis do not), which a busy machine inflates less.
     */
    const p50 = async (url: string, calls = 20, before?: () => Promise<unknown>) => {
      const times: number[] = [];
      const cpu: number[] = [];
      let last: { statusCode: number; body: string } | undefined;
      for (let i = 0; i < calls; i++) {
        await before?.();
        const started = performance.now();
        const used = process.cpuUsage();
        last = await http.get(carol, url);
        const spent = process.cpuUsage(used);
        times.push(performance.now() - started);
        cpu.push((spent.user + spent.system) / 1000);
        expect(last.statusCode, last.body).toBe(200);
      }
      const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
      return { ms: median(times), cpuMs: median(cpu), body: JSON.parse(last!.body) };
    };
    const uncached = () => api.get(UploadListings).changed(carol.id);

    it('the reads behind duplicates come from indexes alone (EXPLAIN: Using index)', async () => {
      const statements = await statementsOf(db, async () => {
        await uncached();
        await http.get(carol, '/api/uploads/duplicates');
      });
      const plan = async (statement: { sql: string; parameters: unknown[] } | undefined) => {
        expect(statement, JSON.stringify(statements.map((s) => s.sql))).toBeDefined();
        return (await db.query(`EXPLAIN ${statement!.sql}`, statement!.parameters)) as {
          key: string | null;
          type: string;
          Extra: string;
        }[];
      };
      // The owner's hashes: a range of (user_id, phash, id).
      const hashes = await plan(hashRead(statements));
      expect(hashes, JSON.stringify(hashes)).toHaveLength(1);
      expect(hashes[0].key).toBe('ix_uploads_user_phash');
      expect(hashes[0].Extra).toContain('Using index');
      expect(hashes[0].type).not.toBe('ALL');
      // The grouped uploads' times (14,000 of them here): the owner's (user_id, created_at, id) range.
      const times = await plan(
        statements.find((s) => /^SELECT id, created_at FROM uploads WHERE user_id = \?$/.test(s.sql)),
      );
      expect(times, JSON.stringify(times)).toHaveLength(1);
      expect(times[0].key).toMatch(/^ix_uploads_user_created/);
      expect(times[0].Extra).toContain('Using index');
      expect(times[0].type).not.toBe('ALL');
    });

    it('duplicates: the groups the grouping finds, largest first; uncached and cached p50', async () => {
      const expected = nearDuplicateGroups(hashes, 10);
      const cold = await p50('/api/uploads/duplicates', 20, uncached);
      results.duplicatesUncachedP50Ms = cold.ms.toFixed(1);
      results.duplicatesUncachedCpuP50Ms = cold.cpuMs.toFixed(1);
      expect(cold.body.count).toBe(expected.length);
      const sizes = cold.body.results.map((g: { size: number }) => g.size);
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
      expect(sizes[0]).toBe(Math.max(...expected.map((g) => g.length)));
      const warm = await p50('/api/uploads/duplicates?page=2');
      results.duplicatesCachedPage2P50Ms = warm.ms.toFixed(1);
      results.duplicatesCachedPage2CpuP50Ms = warm.cpuMs.toFixed(1);
      expect(warm.body.results).toHaveLength(50);
      // Generous for a shared two-core machine; the report gives the measured figures.
      expect(cold.ms).toBeLessThan(2000);

      // The grouping alone, in this process (after the requests: 20 runs back to back would hold
      // the event loop long enough for the API's load shedding to answer 503).
      const timedGrouping: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = process.cpuUsage();
        nearDuplicateGroups(hashes, 10);
        const spent = process.cpuUsage(t);
        timedGrouping.push((spent.user + spent.system) / 1000);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      results.groupingCpuP50Ms = timedGrouping.sort((a, b) => a - b)[10].toFixed(1);
    }, 120_000);

    it('similar: uncached and cached p50 for an upload in a cluster', async () => {
      const url = `/api/uploads/${grouped}/similar`;
      const cold = await p50(url, 20, uncached);
      results.similarUncachedP50Ms = cold.ms.toFixed(1);
      results.similarUncachedCpuP50Ms = cold.cpuMs.toFixed(1);
      expect(cold.body.count).toBeGreaterThan(0);
      for (const item of cold.body.results) expect(item.distance).toBeLessThanOrEqual(10);
      const warm = await p50(url);
      results.similarCachedP50Ms = warm.ms.toFixed(1);
      const loose = await p50(`${url}?max_distance=32&page_size=50`, 5, uncached);
      results.similarMaxDistance32UncachedP50Ms = loose.ms.toFixed(1);
      results.similarMaxDistance32Count = String(loose.body.count);
      expect(cold.ms).toBeLessThan(2000);
    }, 120_000);

    it('an analysis list page pays one hash read for its 50 near_duplicates', async () => {
      const near = api.get(NearDuplicates);
      const list = await http.json(carol, '/api/visual-analysis?page_size=50');
      expect(list.results).toHaveLength(50);
      expect(list.results.some((a: { result: { near_duplicates: string[] } }) => a.result.near_duplicates.length)).toBe(
        true,
      );
      const queries = list.results.map((a: { upload_id: string; result: { phash: string } }) => ({
        userId: carol.id,
        uploadId: a.upload_id,
        phash: a.result.phash,
      }));
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        await near.lists(queries);
        times.push(performance.now() - t);
      }
      results.nearDuplicatesFor50RowsP50Ms = times.sort((a, b) => a - b)[10].toFixed(1);
      const page = await p50('/api/visual-analysis?page_size=50', 20, () =>
        api.get(CacheService).bump(`analyses:${carol.id}`),
      );
      results.analysisListPageUncachedP50Ms = page.ms.toFixed(1);
      results.analysisListPageUncachedCpuP50Ms = page.cpuMs.toFixed(1);
      const cached = await p50('/api/visual-analysis?page_size=50');
      results.analysisListPageCachedP50Ms = cached.ms.toFixed(1);
    }, 120_000);
  });
});

describe('similar photos and duplicate groups (embedded SQLite)', () => {
  let stack: TestStack;
  let http: ReturnType<typeof client>;
  let alice: Session;

  beforeAll(async () => {
    stack = await startEmbedded('similar');
    http = client(stack.api);
    alice = await register(stack.api, 'emb');
  });
  afterAll(() => stack?.close());

  it('similar, duplicates and symmetric near_duplicates; a deleted copy drops out; the hash read is a covering index scan', async () => {
    const images = await fixtures();
    const original = await http.analysed(alice, images.original, 'original.jpg');
    const copy = await http.analysed(alice, images.jpeg, 'copy.jpg');
    const other = await http.analysed(alice, images.other, 'other.jpg');

    expect((await http.json(alice, `/api/visual-analysis/${original.analysis.id}`)).result.near_duplicates).toEqual([
      copy.up.id,
    ]);
    const db = stack.api.get(DataSource);
    const statements = await statementsOf(db, async () => {
      const similar = await http.json(alice, `/api/uploads/${original.up.id}/similar`);
      expect(similar.results.map((u: { id: string; distance: number }) => u.id)).toEqual([copy.up.id]);
      expect(similar.results[0].distance).toBeLessThanOrEqual(10);
    });
    const read = hashRead(statements)!;
    expect(read).toBeDefined();
    const plan = (await db.query(`EXPLAIN QUERY PLAN ${read.sql}`, read.parameters)) as { detail: string }[];
    expect(plan.map((row) => row.detail).join('; ')).toMatch(/USING COVERING INDEX ix_uploads_user_phash/);

    const duplicates = await http.json(alice, '/api/uploads/duplicates');
    expect(duplicates.count).toBe(1);
    expect(duplicates.results[0].uploads.map((u: { id: string }) => u.id)).toEqual([original.up.id, copy.up.id]);
    expect(duplicates.results[0].uploads.map((u: { id: string }) => u.id)).not.toContain(other.up.id);

    const del = await stack.api.inject({ method: 'DELETE', url: `/api/uploads/${copy.up.id}`, headers: alice.auth });
    expect(del.statusCode).toBe(204);
    expect((await http.json(alice, `/api/visual-analysis/${original.analysis.id}`)).result.near_duplicates).toEqual([]);
    expect((await http.json(alice, '/api/uploads/duplicates')).count).toBe(0);
  });
});

/**
 * `n` uploads for the user straight into the table: 70 % in clusters of 2–7 copies (0–8 bits from
 * their cluster's hash), the rest random hashes. Returns the hashes (in row order) and the ids
 * of the clustered rows.
 */
async function insertLibrary(db: DataSource, userId: number, n: number) {
  let seed = 1234;
  const next = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const word = () => ((next() * 2 ** 32) >>> 0).toString(16).padStart(8, '0');
  const flip = (hash: string, bits: number) => {
    let value = BigInt(`0x${hash}`);
    const chosen = new Set<number>();
    while (chosen.size < bits) chosen.add(Math.floor(next() * 64));
    for (const bit of chosen) value ^= 1n << BigInt(bit);
    return value.toString(16).padStart(16, '0');
  };
  const hashes: string[] = [];
  while (hashes.length < n * 0.7) {
    const centre = word() + word();
    const copies = 2 + Math.floor(next() * 6);
    for (let c = 0; c < copies; c++) hashes.push(flip(centre, Math.floor(next() * 9)));
  }
  const clustered = hashes.length;
  while (hashes.length < n) hashes.push(word() + word());
  const now = Date.now();
  const ids = hashes.map((_, i) => `20000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
  for (let at = 0; at < n; at += 1000) {
    const rows = hashes.slice(at, at + 1000).map((phash, k) => {
      const i = at + k;
      const created = new Date(now - i * 1000);
      const [width, height] = [
        [4032, 3024],
        [1920, 1080],
        [1024, 768],
      ][i % 3];
      return [
        ids[i],
        userId,
        '',
        `IMG_${i}.jpg`,
        'image/jpeg',
        100_000 + i,
        i.toString(16).padStart(64, '0'),
        width,
        height,
        `k/${i}`,
        created,
        created,
        phash,
      ];
    });
    await db.query(
      `INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key, created_at, taken_at, phash) VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      rows.flat(),
    );
  }
  return { hashes, clusterIds: ids.slice(0, clustered) };
}
