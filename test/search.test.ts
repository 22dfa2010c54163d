import convert from 'color-convert';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { BLURRY_BELOW_SHARPNESS } from '@echo/uploads';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { exiftool, heifEnc, skipWithout } from './support/encoders.js';
import { multipart } from './support/images.js';
import { postUpload } from './support/uploads.js';
import { register, registerAdmin, type Session } from './support/users.js';
import { waitFor } from './support/wait.js';

/**
 * Issue 22's search on real analysed images: every filter's meaning, ordering and cursor, the
 * admin lists, validation, and the page cache's invalidation — on MariaDB with the worker and on
 * the embedded SQLite stack (in-process analysis).
 */

/** A photo-like image: a base colour with fine noise (sharp to the Laplacian), or blurred. */
async function texturedImage(
  width: number,
  height: number,
  base: string,
  blurSigma = 0,
): Promise<ReturnType<typeof sharp>> {
  const [r, g, b] = convert.hex.rgb(base.slice(1));
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // 16 px cells of ±35 around the base: detail that survives the analyzer's 256 px working size
      // without moving the dominant colour far.
      const cell = (Math.floor(x / 16) * 7919 + Math.floor(y / 16) * 104729) % 71;
      const i = (y * width + x) * 3;
      pixels[i] = Math.min(255, Math.max(0, r - 35 + cell));
      pixels[i + 1] = Math.min(255, Math.max(0, g - 35 + cell));
      pixels[i + 2] = Math.min(255, Math.max(0, b - 35 + cell));
    }
  }
  const image = sharp(pixels, { raw: { width, height, channels: 3 } });
  return blurSigma ? sharp(await image.blur(blurSigma).png().toBuffer()) : image;
}

interface Fixture {
  key: string;
  filename: string;
  contentType: string;
  title: string;
  bytes: () => Promise<Buffer>;
}

const FIXTURES: Fixture[] = [
  {
    key: 'summer',
    filename: 'IMG_0001.jpg',
    contentType: 'image/jpeg',
    title: 'Beach day',
    bytes: async () =>
      exiftool(await (await texturedImage(1200, 800, '#c0392b')).jpeg({ quality: 90 }).toBuffer(), 'jpg', [
        '-Make=Canon',
        '-Model=Canon EOS R5',
        '-DateTimeOriginal=2024:07:14 10:00:00',
        '-GPSLatitude=43.7',
        '-GPSLatitudeRef=N',
        '-GPSLongitude=7.26',
        '-GPSLongitudeRef=E',
      ]),
  },
  {
    key: 'harbour',
    filename: 'harbour_boats.png',
    contentType: 'image/png',
    title: '',
    bytes: async () => (await texturedImage(600, 900, '#2e5fa3')).png().toBuffer(),
  },
  {
    key: 'garden',
    filename: 'garden.webp',
    contentType: 'image/webp',
    title: 'Roses',
    bytes: async () => (await texturedImage(500, 500, '#2e8b57')).webp({ quality: 90 }).toBuffer(),
  },
  {
    key: 'winter',
    filename: 'winter-walk.jpg',
    contentType: 'image/jpeg',
    title: 'Snow 100%_done',
    bytes: async () =>
      exiftool(await (await texturedImage(900, 600, '#dfe6ee', 8)).jpeg({ quality: 90 }).toBuffer(), 'jpg', [
        '-Make=Apple',
        '-Model=iPhone 15 Pro',
        '-DateTimeOriginal=2023:01:05 18:30:00',
        '-OffsetTimeOriginal=+01:00',
      ]),
  },
  {
    key: 'heic',
    filename: 'sunflower.heic',
    contentType: 'image/heic',
    title: 'Sunflower',
    bytes: async () => heifEnc(await (await texturedImage(800, 600, '#e8b400')).png().toBuffer()),
  },
];

type Upload = Record<string, unknown> & { id: string; taken_at: string; created_at: string };

function describeSearch(name: string, start: () => Promise<TestStack>, opts: { mysql: boolean }) {
  describe.skipIf((opts.mysql && !servicesUp()) || skipWithout('exiftool', 'heifEnc'))(name, () => {
    let stack: TestStack;
    let api: TestStack['api'];
    let alice: Session;
    let bob: Session;
    let admin: Session;
    const uploads: Record<string, Upload> = {};
    const analyses: Record<string, { dominant_color: string; sharpness: number }> = {};

    const post = async (session: Session, f: Fixture) =>
      (await postUpload(
        api,
        session,
        multipart([
          { name: 'title', value: f.title },
          { name: 'file', filename: f.filename, contentType: f.contentType, data: await f.bytes() },
        ]),
      )) as Upload;
    const analysed = (session: Session, uploadId: string) =>
      waitFor(
        async () => {
          const res = await api.inject({
            method: 'GET',
            url: `/api/visual-analysis?upload_id=${uploadId}`,
            headers: session.auth,
          });
          const row = res.json().results?.[0];
          if (row?.status === 'failed') throw new Error(`analysis failed: ${row.error}`);
          return row?.status === 'completed' ? row : undefined;
        },
        60_000,
        `analysis of ${uploadId}`,
      );
    const get = (session: Session, url: string) => api.inject({ method: 'GET', url, headers: session.auth });
    /** The keys of the fixtures a search returns, in order. */
    const found = async (query: string, session = alice, path = '/api/uploads') => {
      const res = await get(session, `${path}?page_size=200&${query}`);
      expect(res.statusCode, `${query}: ${res.body}`).toBe(200);
      const byId = new Map(Object.entries(uploads).map(([key, u]) => [u.id, key]));
      return (res.json().results as Upload[]).map((u) => byId.get(u.id) ?? u.id);
    };
    const sorted = (keys: string[]) => [...keys].sort();

    beforeAll(async () => {
      stack = await start();
      api = stack.api;
      alice = await register(api, 'searcher');
      bob = await register(api, 'other');
      admin = await registerAdmin(api);
      for (const f of FIXTURES) uploads[f.key] = await post(alice, f);
      // Bob's copy of the summer photo: another owner's upload never appears in alice's searches.
      uploads.bobs = await post(bob, FIXTURES[0]);
      for (const [key, u] of Object.entries(uploads)) {
        const analysis = await analysed(key === 'bobs' ? bob : alice, u.id);
        analyses[key] = analysis.result;
      }
      // The upload objects after analysis (width/height, taken_at are the analysis').
      for (const [key, u] of Object.entries(uploads))
        uploads[key] = (await get(key === 'bobs' ? bob : alice, `/api/uploads/${u.id}`)).json();
    }, 180_000);
    afterAll(async () => {
      await stack?.close();
    });

    it('the fixtures are what the filters below assume (sharp ones sharp, the blurred one blurry)', () => {
      for (const key of ['summer', 'harbour', 'garden', 'heic'])
        expect(analyses[key].sharpness, key).toBeGreaterThanOrEqual(BLURRY_BELOW_SHARPNESS);
      expect(analyses.winter.sharpness).toBeLessThan(BLURRY_BELOW_SHARPNESS);
    });

    it('taken_after / taken_before: EXIF taken-at (offset applied), else the upload time', async () => {
      expect(uploads.summer.taken_at).toBe('2024-07-14T10:00:00.000Z');
      // 18:30 at +01:00.
      expect(uploads.winter.taken_at).toBe('2023-01-05T17:30:00.000Z');
      expect(uploads.harbour.taken_at).toBe(uploads.harbour.created_at);
      expect(await found('taken_after=2024-07-01T00:00:00Z&taken_before=2024-09-01T00:00:00Z')).toEqual(['summer']);
      expect(await found('taken_after=2023-01-05T17:30:00Z&taken_before=2023-01-05T17:30:00.001Z')).toEqual(['winter']);
      expect(sorted(await found('taken_before=2025-01-01T00:00:00Z'))).toEqual(['summer', 'winter']);
      // Uploaded today and without EXIF dates: found by their upload time.
      expect(sorted(await found(`taken_after=${encodeURIComponent(uploads.harbour.created_at)}`))).toEqual(
        sorted(['harbour', 'garden', 'heic'].filter((k) => uploads[k].taken_at >= uploads.harbour.created_at)),
      );
    });

    it('ordering by taken_at and created_at, both ways, in page and cursor mode', async () => {
      const keys = FIXTURES.map((f) => f.key);
      const by = (field: 'taken_at' | 'created_at', desc: boolean) =>
        [...keys].sort((a, b) => {
          const x = uploads[a][field] + uploads[a].id;
          const y = uploads[b][field] + uploads[b].id;
          return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
        });
      for (const [ordering, expected] of [
        ['taken_at', by('taken_at', false)],
        ['-taken_at', by('taken_at', true)],
        ['created_at', by('created_at', false)],
        ['-created_at', by('created_at', true)],
      ] as const) {
        expect(await found(`ordering=${ordering}`), ordering).toEqual(expected);
        expect((await found(`ordering=${ordering}&format=jpeg`)).length).toBe(2);
        // Cursor mode, two at a time, forwards to the end and back again.
        const forward: string[] = [];
        const byId = new Map(Object.entries(uploads).map(([key, u]) => [u.id, key]));
        let url: string | null = `/api/uploads?ordering=${ordering}&page_size=2&cursor=`;
        const pages: string[] = [];
        while (url) {
          const res = await get(alice, url);
          expect(res.statusCode, res.body).toBe(200);
          const body = res.json();
          forward.push(...body.results.map((u: Upload) => byId.get(u.id)!));
          pages.push(url);
          url = body.next ? new URL(body.next).pathname + new URL(body.next).search : null;
        }
        expect(forward, `${ordering} cursor`).toEqual(expected);
        const last = (await get(alice, pages[pages.length - 1])).json();
        const back = (await get(alice, new URL(last.previous).pathname + new URL(last.previous).search)).json();
        expect(
          back.results.map((u: Upload) => byId.get(u.id)),
          `${ordering} previous`,
        ).toEqual(expected.slice((pages.length - 2) * 2, (pages.length - 1) * 2));
        if (ordering !== '-created_at') {
          // The cursor is keyed on its ordering: used with another it is refused, not misread.
          const next = new URL((await get(alice, pages[0])).json().next);
          const res = await get(alice, `/api/uploads?page_size=2&cursor=${next.searchParams.get('cursor')}`);
          expect(res.statusCode).toBe(404);
          expect(res.json()).toEqual({ detail: 'Invalid cursor.' });
        }
      }
    });

    it('camera_make / camera_model: case-insensitive exact', async () => {
      expect(await found('camera_make=canon')).toEqual(['summer']);
      expect(await found('camera_make=CANON')).toEqual(['summer']);
      expect(await found('camera_make=can')).toEqual([]);
      expect(await found(`camera_model=${encodeURIComponent('canon eos r5')}`)).toEqual(['summer']);
      expect(await found(`camera_model=${encodeURIComponent('IPHONE 15 PRO')}`)).toEqual(['winter']);
      expect(await found(`camera_make=apple&camera_model=${encodeURIComponent('canon eos r5')}`)).toEqual([]);
    });

    it('has_gps, orientation, min_width / min_height, format', async () => {
      expect(await found('has_gps=true')).toEqual(['summer']);
      expect(sorted(await found('has_gps=false'))).toEqual(['garden', 'harbour', 'heic', 'winter']);
      expect(await found('orientation=portrait')).toEqual(['harbour']);
      expect(await found('orientation=square')).toEqual(['garden']);
      expect(sorted(await found('orientation=landscape'))).toEqual(['heic', 'summer', 'winter']);
      expect(await found('min_width=1000')).toEqual(['summer']);
      expect(await found('min_height=850')).toEqual(['harbour']);
      expect(sorted(await found('min_width=800&min_height=600'))).toEqual(['heic', 'summer', 'winter']);
      expect(await found('format=heic')).toEqual(['heic']);
      expect(await found('format=webp')).toEqual(['garden']);
      expect(await found('format=png')).toEqual(['harbour']);
      expect(sorted(await found('format=jpeg'))).toEqual(['summer', 'winter']);
      expect(await found('format=jpeg&has_gps=false')).toEqual(['winter']);
    });

    it('color: dominant colour within a CIELAB ΔE (CIE76), not an RGB distance', async () => {
      const lab = (hex: string) => convert.hex.lab.raw(hex.slice(1));
      const deltaE = (x: string, y: string) => Math.hypot(...lab(x).map((v, i) => v - lab(y)[i]));
      const keys = FIXTURES.map((f) => f.key);
      for (const [color, distance] of [
        ['#c0392b', 15],
        ['#2e5fa3', 15],
        ['#2e8b57', 5],
        ['#808080', 30],
        ['#e8b400', 40],
        [analyses.garden.dominant_color, 0.5],
      ] as const) {
        const expected = keys.filter((k) => deltaE(analyses[k].dominant_color, color) <= distance);
        expect(sorted(await found(`color=${encodeURIComponent(color)}&color_distance=${distance}`)), color).toEqual(
          sorted(expected),
        );
      }
      // Distance 0 still finds the colour itself (the stored Lab is single precision).
      expect(await found(`color=${encodeURIComponent(analyses.garden.dominant_color)}&color_distance=0`)).toEqual([
        'garden',
      ]);
      // Without `#`, and with the default distance (15).
      const bare = analyses.summer.dominant_color.slice(1);
      expect(await found(`color=${bare}`)).toContain('summer');
    });

    it('blurry: sharpness below the threshold', async () => {
      expect(await found('blurry=true')).toEqual(['winter']);
      expect(sorted(await found('blurry=false'))).toEqual(['garden', 'harbour', 'heic', 'summer']);
    });

    it('q: every word, whole words, in the title or the original file name, case-insensitive', async () => {
      expect(await found('q=beach')).toEqual(['summer']);
      expect(await found('q=HARBOUR')).toEqual(['harbour']);
      // File names split at `_`, `.` and `-` as titles at spaces; a query the same way.
      expect(await found(`q=${encodeURIComponent('day img_0001')}`)).toEqual(['summer']);
      expect(await found(`q=${encodeURIComponent('IMG-0001.JPG')}`)).toEqual(['summer']);
      expect(sorted(await found('q=jpg'))).toEqual(['summer', 'winter']);
      expect(await found(`q=${encodeURIComponent('walk winter')}`)).toEqual(['winter']);
      expect(await found(`q=${encodeURIComponent('sunflower heic')}`)).toEqual(['heic']);
      expect(await found(`q=${encodeURIComponent('beach roses')}`)).toEqual([]);
      // Punctuation separates: `100%_done` holds the words 100 and done.
      expect(await found(`q=${encodeURIComponent('100%_')}`)).toEqual(['winter']);
      expect(await found(`q=${encodeURIComponent('DONE')}`)).toEqual(['winter']);
      expect(await found('q=100x')).toEqual([]);
      // Whole words, not parts of them.
      expect(await found('q=bea')).toEqual([]);
      expect(await found('q=boat')).toEqual([]);
      // With other filters and in every ordering and mode.
      expect(await found('q=jpg&blurry=true')).toEqual(['winter']);
      expect(sorted(await found('q=jpg&ordering=taken_at&cursor='))).toEqual(['summer', 'winter']);
    });

    it('admin lists take the same filters', async () => {
      expect(sorted(await found('camera_make=canon', admin, '/api/admin/uploads'))).toEqual(['bobs', 'summer']);
      expect(await found('camera_make=canon', admin, `/api/admin/users/${alice.id}/uploads`)).toEqual(['summer']);
      expect(await found('format=heic&ordering=taken_at', admin, `/api/admin/users/${alice.id}/uploads`)).toEqual([
        'heic',
      ]);
      expect(await found('blurry=true', admin, '/api/admin/uploads')).toEqual(['winter']);
      const res = await get(admin, '/api/admin/uploads?ordering=taken_at&page_size=1&cursor=');
      expect(res.statusCode).toBe(200);
    });

    it('bad values: 400 naming the field, DRF-style', async () => {
      for (const [query, field] of [
        ['ordering=size', 'ordering'],
        ['has_gps=maybe', 'has_gps'],
        ['orientation=diagonal', 'orientation'],
        ['min_width=0', 'min_width'],
        ['min_height=abc', 'min_height'],
        ['format=bmp', 'format'],
        ['color=red', 'color'],
        ['color=%23ff00', 'color'],
        ['color_distance=-1', 'color_distance'],
        ['color_distance=101', 'color_distance'],
        ['color_distance=x', 'color_distance'],
        ['blurry=2', 'blurry'],
        ['q=%20%20', 'q'],
        // No letter or digit: no word to look for.
        [`q=${encodeURIComponent('%_ .')}`, 'q'],
        // A letter that is no word on its own (an iteration mark) would filter nothing: refused too.
        [`q=${encodeURIComponent('々')}`, 'q'],
        [`q=${'x'.repeat(101)}`, 'q'],
        [`camera_make=${'x'.repeat(65)}`, 'camera_make'],
        ['camera_model=a&camera_model=b', 'camera_model'],
        ['taken_after=yesterday', 'taken_after'],
        ['taken_before=2024-13-01', 'taken_before'],
      ]) {
        const res = await get(alice, `/api/uploads?${query}`);
        expect(res.statusCode, query).toBe(400);
        expect(Object.keys(res.json()), query).toEqual([field]);
        expect(res.json()[field][0], query).toMatch(/\w/);
      }
      // DRF's wording for bounds and blanks.
      expect((await get(alice, '/api/uploads?min_width=0')).json()).toEqual({
        min_width: ['Ensure this value is greater than or equal to 1.'],
      });
      expect((await get(alice, '/api/uploads?color_distance=101')).json()).toEqual({
        color_distance: ['Ensure this value is less than or equal to 100.'],
      });
      expect((await get(alice, '/api/uploads?camera_make=')).json()).toEqual({
        camera_make: ['This field may not be blank.'],
      });
    });

    it('a finished analysis invalidates filtered pages (the same versioned page cache)', async () => {
      expect(await found('format=webp')).toEqual(['garden']);
      const copy = await post(alice, {
        ...FIXTURES[2],
        filename: 'garden-2.webp',
        bytes: async () => (await texturedImage(400, 400, '#2e8b57')).webp().toBuffer(),
      });
      await analysed(alice, copy.id);
      const ids = (await get(alice, '/api/uploads?format=webp')).json().results.map((u: Upload) => u.id);
      expect(ids).toEqual([copy.id, uploads.garden.id]);
      const wordsOf = async () =>
        Number(
          (await api.get(DataSource).query('SELECT COUNT(*) AS n FROM upload_words WHERE upload_id = ?', [copy.id]))[0]
            .n,
        );
      expect(await wordsOf()).toBeGreaterThan(0);
      await api.inject({ method: 'DELETE', url: `/api/uploads/${copy.id}`, headers: alice.auth });
      expect(await found('format=webp')).toEqual(['garden']);
      // Its words went with it (ON DELETE CASCADE, on SQLite too): a word search no longer counts it.
      expect(await wordsOf()).toBe(0);
      expect(await found('q=garden')).toEqual(['garden']);
    });
  });
}

describeSearch('search on real analysed images (MariaDB + worker)', () => startStack('search', {}, { worker: true }), {
  mysql: true,
});
describeSearch('search on real analysed images (embedded SQLite)', () => startEmbedded('search'), { mysql: false });

describe.skipIf(!servicesUp() || skipWithout('exiftool'))('search before the analysis completes', () => {
  let stack: TestStack;
  let alice: Session;
  let id: string;
  const ids = async (query: string) => {
    const res = await stack.api.inject({ method: 'GET', url: `/api/uploads?${query}`, headers: alice.auth });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().results.map((u: Upload) => u.id);
  };

  beforeAll(async () => {
    // No worker: the analysis stays queued.
    stack = await startStack('search-pending');
    alice = await register(stack.api, 'pending');
    const jpeg = await exiftool(await (await texturedImage(1000, 700, '#c0392b')).jpeg().toBuffer(), 'jpg', [
      '-Make=Canon',
      '-DateTimeOriginal=2020:01:01 00:00:00',
    ]);
    const form = multipart([
      { name: 'title', value: 'Pending one' },
      { name: 'file', filename: 'pending.jpg', contentType: 'image/jpeg', data: jpeg },
    ]);
    id = (await postUpload(stack.api, alice, form)).id;
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  it('matches the filters that need no analysis, and none of those that do', async () => {
    for (const q of [
      'q=pending',
      'min_width=1000',
      'content_type=image/jpeg',
      'ordering=taken_at',
      'taken_after=2025-01-01T00:00:00Z',
    ])
      expect(await ids(q), q).toEqual([id]);
    for (const q of [
      'camera_make=canon',
      'format=jpeg',
      'has_gps=false',
      'orientation=landscape',
      'blurry=false',
      'blurry=true',
      'color=%23c0392b&color_distance=100',
      'taken_before=2021-01-01T00:00:00Z',
    ])
      expect(await ids(q), q).toEqual([]);
  });
});

describe.skipIf(!servicesUp())('search plans (EXPLAIN on MariaDB)', () => {
  let stack: TestStack;
  let db: DataSource;
  let carol: Session;
  let admin: Session;

  beforeAll(async () => {
    stack = await startStack('search-plans');
    db = stack.api.get(DataSource);
    carol = await register(stack.api, 'carol');
    admin = await registerAdmin(stack.api);
    // Many owners and rows, so the optimizer's choice is the one production sees.
    await db.query(
      `INSERT INTO users (username, email, password_hash, date_joined)
       SELECT CONCAT('bulk_', seq), CONCAT('bulk_', seq, '@example.test'), 'x', NOW(3) FROM seq_0_to_299`,
    );
    await db.query(
      `INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key,
                            created_at, taken_at, camera_make, camera_model, has_gps, orientation, format,
                            color_l, color_a, color_b, sharpness, phash)
       SELECT CONCAT('20000000-0000-4000-8000-', LPAD(seq, 12, '0')), IF(seq % 10 = 0, ?, u.id), 'title', 'x.jpg',
              'image/jpeg', 10, LPAD(seq, 64, 'f'), 1000 + seq % 3000, 800 + seq % 2000, CONCAT('k/', seq),
              NOW(3) - INTERVAL seq SECOND, NOW(3) - INTERVAL seq * 7 MINUTE, ELT(1 + seq % 4, 'apple', 'canon', 'sony', NULL),
              ELT(1 + seq % 3, 'iphone 15', 'eos r5', 'a7'), seq % 2, ELT(1 + seq % 3, 'landscape', 'portrait', 'square'),
              ELT(1 + seq % 3, 'jpeg', 'heic', 'png'), seq % 100, CAST(seq % 50 AS SIGNED) - 25, CAST(seq % 60 AS SIGNED) - 30, seq % 500, LPAD(HEX(seq), 16, '0')
       FROM seq_1_to_6000 JOIN users u ON u.username = CONCAT('bulk_', seq % 300)`,
      [carol.id],
    );
    // Their words, as the intake writes them (title, x, jpg).
    for (const word of ['title', 'x', 'jpg'])
      await db.query(
        `INSERT INTO upload_words (upload_id, word, user_id, created_at, taken_at)
         SELECT id, ?, user_id, created_at, taken_at FROM uploads WHERE id LIKE '20000000-%'`,
        [word],
      );
    await db.query('ANALYZE TABLE uploads, users, upload_words');
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  /** The page statement a request sends, EXPLAINed; the derived table's scan of uploads. */
  const scanOf = async (url: string, session: Session) => {
    const seen: { sql: string; parameters: unknown[] }[] = [];
    const logger = db.logger as { logQuery: (sql: string, parameters?: unknown[]) => void };
    const original = logger.logQuery;
    logger.logQuery = (sql, parameters) => void seen.push({ sql, parameters: parameters ?? [] });
    try {
      const res = await stack.api.inject({ method: 'GET', url, headers: session.auth });
      expect(res.statusCode, res.body).toBe(200);
    } finally {
      logger.logQuery = original;
    }
    const page = seen.find((q) => /page_ids/.test(q.sql));
    expect(page, url).toBeDefined();
    const plan = (await db.query(`EXPLAIN ${page!.sql}`, page!.parameters)) as {
      select_type: string;
      table: string;
      type: string;
      key: string | null;
      Extra?: string;
    }[];
    // A search by words is driven by the word index (`w`), any other by uploads.
    const driver = new URLSearchParams(url.split('?')[1]).has('q') ? 'w' : 'up';
    const scan = plan.find((row) => row.select_type === 'DERIVED' && row.table === driver);
    expect(scan, JSON.stringify(plan)).toBeDefined();
    return { scan: scan!, plan };
  };

  const OWNER_FILTERS = [
    // The bulk rows were taken over the last 29 days.
    `taken_after=${new Date(Date.now() - 10 * 86400_000).toISOString()}&taken_before=${new Date().toISOString()}`,
    'camera_make=Apple',
    'camera_model=eos%20r5',
    'has_gps=false',
    'orientation=portrait',
    'min_width=2000',
    'min_height=1500',
    'format=heic',
    'color=%23808080&color_distance=20',
    'blurry=true',
    'blurry=false',
    'q=title',
    'q=title%20jpg',
    'q=jpg&format=heic&has_gps=false',
    'content_type=image/jpeg',
    'format=heic&has_gps=false&min_width=1200&blurry=false',
  ];

  /** The count index of a one-filter search (UploadCountIndexes1764810000000), undefined for several. */
  const countIndexOf = (filter: string) => {
    const names = [...new Set([...new URLSearchParams(filter).keys()].filter((k) => k !== 'color_distance'))];
    if (names.every((n) => n.startsWith('taken_'))) return 'ix_uploads_user_taken_search';
    const index: Record<string, string> = {
      content_type: 'type',
      camera_make: 'make',
      camera_model: 'model',
      has_gps: 'gps',
      orientation: 'orientation',
      min_width: 'width',
      min_height: 'height',
      format: 'format',
      blurry: 'sharpness',
      color: 'color',
    };
    return names.length === 1 ? `ix_uploads_user_${index[names[0]]}_count` : undefined;
  };

  it.each(['-created_at', 'created_at', '-taken_at', 'taken_at'])(
    'ordering=%s: every filter scans an index that starts with the owner, with no sort and no full scan',
    async (ordering) => {
      const taken = ordering.endsWith('taken_at');
      let counted = 0;
      for (const filter of OWNER_FILTERS) {
        const expected = filter.startsWith('q=')
          ? `ix_upload_words_user_${taken ? 'taken' : 'created'}`
          : `ix_uploads_user_${taken ? 'taken' : 'created'}_search`;
        for (const mode of ['', '&cursor=']) {
          const url = `/api/uploads?ordering=${ordering}&${filter}${mode}`;
          const { scan, plan } = await scanOf(url, carol);
          expect(scan.key, url).toBe(expected);
          expect(scan.type, url).not.toBe('ALL');
          expect(scan.Extra ?? '', url).not.toMatch(/filesort|temporary/i);
          // The COUNT subquery (page mode) reads an index too, and a word's other words by key.
          for (const row of plan.filter((r) => r.select_type !== 'DERIVED' && !r.table.startsWith('<derived')))
            expect(row.type, `${url} ${JSON.stringify(row)}`).not.toBe('ALL');
          // One filter: its narrow count index, not the 16-column covering one (several: the page's).
          // (A count kept from another ordering's request leaves no COUNT in the statement.)
          const count = plan.find((r) => r.select_type === 'SUBQUERY' && r.table === 'up');
          if (!mode && !filter.startsWith('q=') && count) {
            expect(count.key, `${url} ${JSON.stringify(plan)}`).toBe(countIndexOf(filter) ?? expected);
            counted++;
          }
        }
      }
      // The first ordering run counts every filter (the others reuse the counts: the key has no ordering).
      if (ordering === '-created_at') expect(counted).toBe(OWNER_FILTERS.filter((f) => !f.startsWith('q=')).length);
      // Only the search needs the covering index: every filter but q is read from it alone.
      const { scan } = await scanOf(`/api/uploads?ordering=${ordering}&format=heic&has_gps=false`, carol);
      expect(scan.Extra ?? '').toMatch(/Using index/);
    },
  );

  it('the admin lists: no sort, no full scan for an ordering of their own', async () => {
    for (const url of [
      `/api/admin/users/${carol.id}/uploads?format=heic&ordering=taken_at`,
      '/api/admin/uploads?ordering=-taken_at',
      '/api/admin/uploads?ordering=taken_at&cursor=',
      '/api/admin/uploads?ordering=created_at&format=png',
    ]) {
      const { scan } = await scanOf(url, admin);
      expect(scan.type, url).not.toBe('ALL');
      expect(scan.Extra ?? '', url).not.toMatch(/filesort|temporary/i);
    }
  });
});

describe('search plans (EXPLAIN QUERY PLAN on SQLite)', () => {
  let stack: TestStack;
  let db: DataSource;
  let dana: Session;

  beforeAll(async () => {
    stack = await startEmbedded('search-plans');
    db = stack.api.get(DataSource);
    dana = await register(stack.api, 'dana');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it.each(['-created_at', 'taken_at'])('ordering=%s: the owner search index, no temp b-tree', async (ordering) => {
    const index = ordering.endsWith('taken_at') ? 'ix_uploads_user_taken_search' : 'ix_uploads_user_created_search';
    for (const filter of [
      'camera_make=canon',
      'blurry=true',
      'color=%23808080',
      'q=x',
      'q=x%20y&format=png',
      'format=png&has_gps=true',
    ]) {
      const seen: { sql: string; parameters: unknown[] }[] = [];
      const logger = db.logger as { logQuery: (sql: string, parameters?: unknown[]) => void };
      const original = logger.logQuery;
      logger.logQuery = (sql, parameters) => void seen.push({ sql, parameters: parameters ?? [] });
      // Cursor mode: page mode may answer from the list's cached count without a statement.
      const url = `/api/uploads?ordering=${ordering}&${filter}&cursor=`;
      try {
        const res = await stack.api.inject({ method: 'GET', url, headers: dana.auth });
        expect(res.statusCode, res.body).toBe(200);
      } finally {
        logger.logQuery = original;
      }
      const page = seen.find((q) => /page_ids/.test(q.sql));
      expect(page, url).toBeDefined();
      const rows = (await db.query(`EXPLAIN QUERY PLAN ${page!.sql}`, page!.parameters)) as {
        id: number;
        parent: number;
        detail: string;
      }[];
      // The scan that picks the page's ids (the outer query only re-sorts those ≤ page_size rows).
      const scan = rows.find((row) => row.detail === 'CO-ROUTINE page_ids');
      expect(scan, JSON.stringify(rows)).toBeDefined();
      const steps = rows.filter((row) => row.parent === scan!.id).map((row) => row.detail);
      const driver = filter.startsWith('q=')
        ? `w USING (COVERING )?INDEX ix_upload_words_user_${ordering.endsWith('taken_at') ? 'taken' : 'created'}`
        : `up USING (COVERING )?INDEX ${index}`;
      expect(steps.join('\n'), url).toMatch(new RegExp(`^SEARCH ${driver} \\(user_id=\\?`));
      expect(steps.join('\n'), url).not.toMatch(/TEMP B-TREE/);
    }
  });
});
