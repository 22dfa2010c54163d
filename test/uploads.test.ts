import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DataSource } from 'typeorm';
import { dbQueriesSent, mysqlPool } from '@echo/database';
import { UploadsService } from '@echo/uploads';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { register, registerAdmin, type Session } from './support/users.js';
import { cameraJpeg, multipart, noisePng, pngHeaderBomb, solidJpeg, solidPng } from './support/images.js';
import { UPLOAD_KEYS } from './support/uploads.js';

describe.skipIf(!servicesUp())('uploads (MariaDB + local storage)', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let db: DataSource;
  let alice: Session;
  let bob: Session;

  const filesOnDisk = (): string[] => {
    const root = stack.config.storage.dir;
    if (!existsSync(root)) return [];
    return readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));
  };
  const countRows = async () => Number((await db.query('SELECT COUNT(*) AS n FROM uploads'))[0].n);
  const upload = (s: Session, data: Buffer, opts: { filename?: string; contentType?: string; title?: string } = {}) => {
    const form = multipart([
      ...(opts.title !== undefined ? [{ name: 'title', value: opts.title }] : []),
      { name: 'file', filename: opts.filename ?? 'photo.jpg', contentType: opts.contentType ?? 'image/jpeg', data },
    ]);
    return api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...s.auth, ...form.headers },
      payload: form.payload,
    });
  };

  beforeAll(async () => {
    stack = await startStack('uploads', { UPLOAD_MAX_BYTES: String(2 * 1024 * 1024), UPLOAD_MAX_PIXELS: '50000000' });
    api = stack.api;
    db = api.get(DataSource);
    alice = await register(api, 'alice');
    bob = await register(api, 'bob');
  });
  afterAll(() => stack?.close());

  it('accepts an image: 201 with the upload object, file stored under a generated key', async () => {
    const png = await solidPng(300, 200);
    const res = await upload(alice, png, { filename: 'red.png', contentType: 'image/png', title: 'Red' });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(UPLOAD_KEYS);
    expect(body).toMatchObject({
      user_id: alice.id,
      title: 'Red',
      original_name: 'red.png',
      content_type: 'image/png',
      size: png.length,
      sha256: createHash('sha256').update(png).digest('hex'),
      width: 300,
      height: 200,
    });
    expect(body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(filesOnDisk().some((f) => f.endsWith(join(String(alice.id), body.id)))).toBe(true);
  });

  it('the same bytes again → 200 with the existing upload and duplicate: true, no second file', async () => {
    const jpeg = await solidJpeg(64, 64, '#00ff00');
    const first = await upload(alice, jpeg);
    expect(first.statusCode).toBe(201);
    const files = filesOnDisk().length;
    const again = await upload(alice, jpeg, { filename: 'other-name.jpg' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ id: first.json().id, duplicate: true });
    expect(filesOnDisk().length).toBe(files);
    // Another user uploading the same bytes gets their own upload.
    expect((await upload(bob, jpeg)).statusCode).toBe(201);
  });

  it('a camera JPEG with EXIF orientation 6 reports its displayed (upright) size', async () => {
    const res = await upload(alice, await cameraJpeg(400, 200, 6), { filename: 'IMG_0001.JPG' });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      content_type: 'image/jpeg',
      width: 200,
      height: 400,
      original_name: 'IMG_0001.JPG',
    });
  });

  it('trusts bytes, not names: a PNG named .jpg with a wrong Content-Type is accepted as PNG', async () => {
    const res = await upload(alice, await solidPng(10, 10, '#123456'), {
      filename: 'fake.jpg',
      contentType: 'image/jpeg',
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().content_type).toBe('image/png');
  });

  it('sanitises the file name: no path, no NUL', async () => {
    const res = await upload(alice, await solidPng(11, 11, '#654321'), { filename: '../../etc/pa\u0000sswd.png' });
    expect(res.statusCode).toBe(201);
    expect(res.json().original_name).toBe('passwd.png');
    expect(filesOnDisk().every((f) => f.startsWith(stack.config.storage.dir))).toBe(true);
  });

  describe('bad input: DRF-shaped error, no file, no row', () => {
    const cases: Array<
      [string, () => Promise<{ statusCode: number; json(): Record<string, unknown> }>, number, string]
    > = [
      [
        'a text file named .jpg',
        () => upload(alice, Buffer.from('hello, this is plainly not an image at all, just text\n'.repeat(3))),
        415,
        'detail',
      ],
      [
        'a JPEG cut off inside its header',
        async () => upload(alice, (await cameraJpeg(300, 300)).subarray(0, 120)),
        422,
        'detail',
      ],
      [
        'a 20000×20000 header bomb',
        async () => upload(alice, await pngHeaderBomb(20000, 20000), { contentType: 'image/png' }),
        422,
        'detail',
      ],
      ['an empty file', () => upload(alice, Buffer.alloc(0)), 400, 'file'],
      [
        'an oversize file',
        async () => upload(alice, await noisePng(1000, 1000), { contentType: 'image/png' }),
        413,
        'detail',
      ],
      [
        'two files in one request',
        async () => {
          const form = multipart([
            { name: 'file', filename: 'a.png', data: await solidPng(5, 5, '#010203') },
            { name: 'file', filename: 'b.png', data: await solidPng(6, 6, '#010203') },
          ]);
          return api.inject({
            method: 'POST',
            url: '/api/uploads',
            headers: { ...alice.auth, ...form.headers },
            payload: form.payload,
          });
        },
        400,
        'file',
      ],
      [
        'a missing file field',
        () => {
          const form = multipart([{ name: 'title', value: 'no file' }]);
          return api.inject({
            method: 'POST',
            url: '/api/uploads',
            headers: { ...alice.auth, ...form.headers },
            payload: form.payload,
          });
        },
        400,
        'file',
      ],
      [
        'an unknown field',
        async () => {
          const form = multipart([
            { name: 'owner', value: '1' },
            { name: 'file', filename: 'a.png', data: await solidPng(7, 7, '#0a0b0c') },
          ]);
          return api.inject({
            method: 'POST',
            url: '/api/uploads',
            headers: { ...alice.auth, ...form.headers },
            payload: form.payload,
          });
        },
        400,
        'owner',
      ],
      [
        'JSON instead of multipart',
        () => api.inject({ method: 'POST', url: '/api/uploads', headers: alice.auth, payload: { file: 'x' } }),
        415,
        'detail',
      ],
    ];
    it.each(cases)('%s', async (_, send, status, key) => {
      const rows = await countRows();
      const files = filesOnDisk().length;
      const res = await send();
      expect(res.statusCode).toBe(status);
      const body = res.json();
      expect(Object.keys(body)).toEqual([key]);
      expect(await countRows()).toBe(rows);
      expect(filesOnDisk().length).toBe(files);
    });

    it('the header bomb message names the limit', async () => {
      const res = await upload(alice, await pngHeaderBomb(20000, 20000));
      expect(res.json().detail).toMatch(/20000×20000.*50000000/);
    });

    it('a client disconnect mid-upload leaves no file and no row', async () => {
      await api.listen({ port: 0, host: '127.0.0.1' });
      const { port } = api.getHttpServer().address() as { port: number };
      const rows = await countRows();
      const files = filesOnDisk().length;
      const boundary = 'xxBOUNDARYxx';
      const head = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`,
      );
      const body = await noisePng(600, 600); // ≈1 MB, under the limit
      await new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(
            `POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${alice.auth.authorization}\r\n` +
              `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${head.length + body.length + 100}\r\n\r\n`,
          );
          socket.write(head);
          socket.write(body.subarray(0, body.length / 2), () => setTimeout(() => socket.destroy(), 150));
        });
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(await countRows()).toBe(rows);
      expect(filesOnDisk().length).toBe(files);
    });
  });

  describe('owner routes', () => {
    let id: string;
    let bytes: Buffer;
    beforeAll(async () => {
      bytes = await cameraJpeg(320, 240, 1);
      id = (await upload(bob, bytes, { title: 'mine' })).json().id;
    });

    it("another user's upload id is 404 on every route", async () => {
      for (const [method, url] of [
        ['GET', `/api/uploads/${id}`],
        ['GET', `/api/uploads/${id}/file`],
        ['GET', `/api/uploads/${id}/thumbnail`],
        ['DELETE', `/api/uploads/${id}`],
      ] as const) {
        const res = await api.inject({ method, url, headers: alice.auth });
        expect(res.statusCode, `${method} ${url}`).toBe(404);
        expect(res.json()).toEqual({ detail: expect.any(String) });
      }
      expect((await api.inject({ method: 'GET', url: '/api/uploads/not-a-uuid', headers: bob.auth })).statusCode).toBe(
        404,
      );
    });

    it('GET /file streams the bytes with Content-Type, ETag and private caching; 304 and Range work', async () => {
      const res = await api.inject({ method: 'GET', url: `/api/uploads/${id}/file`, headers: bob.auth });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('image/jpeg');
      expect(res.headers['cache-control']).toMatch(/^private/);
      expect(res.rawPayload.equals(bytes)).toBe(true);
      const etag = res.headers.etag as string;
      expect(etag).toBe(`"${createHash('sha256').update(bytes).digest('hex')}"`);

      const cached = await api.inject({
        method: 'GET',
        url: `/api/uploads/${id}/file`,
        headers: { ...bob.auth, 'if-none-match': etag },
      });
      expect(cached.statusCode).toBe(304);
      expect(cached.rawPayload.length).toBe(0);

      const part = await api.inject({
        method: 'GET',
        url: `/api/uploads/${id}/file`,
        headers: { ...bob.auth, range: 'bytes=10-109' },
      });
      expect(part.statusCode).toBe(206);
      expect(part.headers['content-range']).toBe(`bytes 10-109/${bytes.length}`);
      expect(part.rawPayload.equals(bytes.subarray(10, 110))).toBe(true);

      const suffix = await api.inject({
        method: 'GET',
        url: `/api/uploads/${id}/file`,
        headers: { ...bob.auth, range: 'bytes=-16' },
      });
      expect(suffix.rawPayload.equals(bytes.subarray(bytes.length - 16))).toBe(true);

      const bad = await api.inject({
        method: 'GET',
        url: `/api/uploads/${id}/file`,
        headers: { ...bob.auth, range: `bytes=${bytes.length + 5}-` },
      });
      expect(bad.statusCode).toBe(416);
      expect(bad.headers['content-range']).toBe(`bytes */${bytes.length}`);
    });

    it('lists own uploads newest first, with filters, in page and cursor modes', async () => {
      const before = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      const newer = (await upload(bob, await solidPng(20, 20, '#aabbcc'), { filename: 'n.png' })).json();
      const page = await api.inject({ method: 'GET', url: '/api/uploads?page_size=2', headers: bob.auth });
      expect(page.statusCode).toBe(200);
      const body = page.json();
      expect(Object.keys(body).sort()).toEqual(['count', 'next', 'previous', 'results']);
      expect(body.results[0].id).toBe(newer.id);
      expect(body.results.every((u: { user_id: number }) => u.user_id === bob.id)).toBe(true);

      const png = await api.inject({ method: 'GET', url: '/api/uploads?content_type=image/png', headers: bob.auth });
      expect(png.json().results.map((u: { id: string }) => u.id)).toEqual([newer.id]);
      const after = await api.inject({
        method: 'GET',
        url: `/api/uploads?created_after=${encodeURIComponent(before)}`,
        headers: bob.auth,
      });
      expect(after.json().count).toBe(1);
      const badDate = await api.inject({
        method: 'GET',
        url: '/api/uploads?created_after=yesterday',
        headers: bob.auth,
      });
      expect(badDate.statusCode).toBe(400);
      expect(badDate.json()).toHaveProperty('created_after');

      const first = await api.inject({ method: 'GET', url: '/api/uploads?cursor=&page_size=1', headers: bob.auth });
      const c1 = first.json();
      expect(Object.keys(c1).sort()).toEqual(['next', 'previous', 'results']);
      expect(c1.results[0].id).toBe(newer.id);
      const second = await api.inject({
        method: 'GET',
        url: new URL(c1.next).pathname + new URL(c1.next).search,
        headers: bob.auth,
      });
      expect(second.json().results[0].id).not.toBe(newer.id);
    });

    it('serves a repeated listing from the cache, and a new upload or a delete shows at once', async () => {
      const pool = mysqlPool(db)!;
      const list = () => api.inject({ method: 'GET', url: '/api/uploads?page_size=3', headers: bob.auth });
      const first = (await list()).json();
      let acquired = 0;
      const count = () => acquired++;
      pool.on('acquire', count);
      const again = (await list()).json();
      (pool as unknown as { off(e: string, f: () => void): void }).off('acquire', count);
      expect(acquired).toBe(0);
      expect(again).toEqual(first);
      const added = (await upload(bob, await solidPng(21, 22, '#a1b2c3'))).json();
      const after = (await list()).json();
      expect(after.results[0].id).toBe(added.id);
      expect(after.count).toBe(first.count + 1);
      await api.inject({ method: 'DELETE', url: `/api/uploads/${added.id}`, headers: bob.auth });
      expect((await list()).json().count).toBe(first.count);
    });

    it('DELETE removes row and file; repeating it is 404', async () => {
      const created = (await upload(bob, await solidPng(30, 30, '#dd00dd'))).json();
      const files = filesOnDisk().length;
      const del = await api.inject({ method: 'DELETE', url: `/api/uploads/${created.id}`, headers: bob.auth });
      expect(del.statusCode).toBe(204);
      expect(filesOnDisk().length).toBe(files - 1);
      expect((await db.query('SELECT id FROM uploads WHERE id = ?', [created.id])).length).toBe(0);
      const again = await api.inject({ method: 'DELETE', url: `/api/uploads/${created.id}`, headers: bob.auth });
      expect(again.statusCode).toBe(404);
    });
  });

  describe('admin listings', () => {
    let admin: Session;
    let carol: Session;
    beforeAll(async () => {
      admin = await registerAdmin(api);
      carol = await register(api, 'carol');
      for (let i = 0; i < 3; i++) await upload(carol, await solidPng(8 + i, 8, '#0000ff'), { filename: `c${i}.png` });
    });

    it("pages any user's uploads with the owner's username; non-admins get 403", async () => {
      const res = await api.inject({
        method: 'GET',
        url: `/api/admin/users/${carol.id}/uploads?page_size=2`,
        headers: admin.auth,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.count).toBe(3);
      expect(body.results).toHaveLength(2);
      expect(body.results[0]).toMatchObject({ user_id: carol.id, username: carol.username });
      expect(new URL(body.next).searchParams.get('page')).toBe('2');
      expect(
        (await api.inject({ method: 'GET', url: `/api/admin/users/${carol.id}/uploads`, headers: carol.auth }))
          .statusCode,
      ).toBe(403);
      expect(
        (await api.inject({ method: 'GET', url: '/api/admin/users/999999/uploads', headers: admin.auth })).statusCode,
      ).toBe(404);
      const clamped = await api.inject({
        method: 'GET',
        url: `/api/admin/uploads?page_size=1000`,
        headers: admin.auth,
      });
      expect(clamped.statusCode).toBe(200);
    });

    it('filters all uploads by user_id and content_type', async () => {
      const res = await api.inject({
        method: 'GET',
        url: `/api/admin/uploads?user_id=${carol.id}&content_type=image/png`,
        headers: admin.auth,
      });
      expect(res.json().count).toBe(3);
      expect(res.json().results.every((u: { username: string }) => u.username === carol.username)).toBe(true);
      const none = await api.inject({
        method: 'GET',
        url: `/api/admin/uploads?user_id=${carol.id}&content_type=image/gif`,
        headers: admin.auth,
      });
      expect(none.json().count).toBe(0);
    });

    it('a 200-item page costs the same number of queries as a 1-item page (no N+1), all on one pooled connection', async () => {
      // Seed 200 rows directly: the query count is about reading them.
      const values = Array.from({ length: 200 }, (_, i) => [
        `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        carol.id,
        '',
        'x.png',
        'image/png',
        10,
        `seed${String(i).padStart(60, '0')}`,
        1,
        1,
        `k/${i}`,
        new Date(Date.now() - i * 1000),
      ]);
      await db
        .query(
          'INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key, created_at) VALUES ?',
          [values],
        )
        .catch(async () => {
          for (const v of values)
            await db.query(
              'INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
              v,
            );
        });
      const pool = mysqlPool(db)!;
      const cost = async (size: number) => {
        let acquired = 0;
        const count = () => acquired++;
        const sentBefore = dbQueriesSent();
        pool.on('acquire', count);
        const res = await api.inject({
          method: 'GET',
          url: `/api/admin/users/${carol.id}/uploads?page_size=${size}`,
          headers: admin.auth,
        });
        (pool as unknown as { off(e: string, f: () => void): void }).off('acquire', count);
        expect(res.statusCode).toBe(200);
        expect(res.json().results).toHaveLength(size);
        return { queries: dbQueriesSent() - sentBefore, acquired };
      };
      const one = await cost(1);
      const many = await cost(200);
      expect(many.queries).toBe(one.queries);
      // One statement: the page's rows with their latest analysis and owner, the list's count
      // inside it (the caller's user record comes from the cache).
      expect(one.queries).toBe(1);
      // One trip through the pool's wait queue per listing, not one per query (see withReadConnection).
      expect(many.acquired).toBe(1);
      expect(one.acquired).toBe(1);
    });

    // The SQL TypeORM sends for a request (its logger sees every query with its parameters).
    const sent = async (request: () => Promise<{ statusCode: number; body: string }>) => {
      const seen: { sql: string; parameters: unknown[] }[] = [];
      const spy = vi
        .spyOn(db.logger, 'logQuery')
        .mockImplementation(
          (sql: string, parameters?: unknown) =>
            void seen.push({ sql, parameters: (parameters as unknown[] | undefined) ?? [] }),
        );
      try {
        const res = await request();
        expect(res.statusCode, res.body).toBe(200);
      } finally {
        spy.mockRestore();
      }
      return seen;
    };
    const pageQuery = async (url: string, session: Session) => {
      const page = (await sent(() => api.inject({ method: 'GET', url, headers: session.auth }))).find(
        (q) => /^SELECT/i.test(q.sql) && /FROM uploads up/.test(q.sql) && /ORDER BY/.test(q.sql),
      );
      expect(page, `no ordered uploads query for ${url}`).not.toBeUndefined();
      return page!;
    };
    const indexOf = async (query: { sql: string; parameters: unknown[] }) => {
      const plan = (await db.query(`EXPLAIN ${query.sql}`, query.parameters)) as {
        key: string | null;
        table: string;
      }[];
      return plan.map((row) => row.key);
    };
    // The plan row of the page's scan: the derived table's read of uploads (ids from an index).
    const scanOf = async (query: { sql: string; parameters: unknown[] }) => {
      const plan = (await db.query(`EXPLAIN ${query.sql}`, query.parameters)) as {
        select_type: string;
        table: string;
        key: string | null;
        Extra?: string;
      }[];
      const scan = plan.find((row) => row.select_type === 'DERIVED' && row.table === 'up');
      expect(scan, JSON.stringify(plan)).toBeDefined();
      return scan!;
    };

    it('every listing query the API sends uses the index made for it (EXPLAIN of the captured SQL)', async () => {
      // Enough rows, spread over many users, that the optimizer's choice is the one production sees.
      await db.query(
        `INSERT INTO users (username, email, password_hash, date_joined)
         SELECT CONCAT('bulk_', seq), CONCAT('bulk_', seq, '@example.test'), 'x', NOW(3) FROM seq_0_to_299`,
      );
      await db.query(
        `INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key, created_at)
         SELECT CONCAT('10000000-0000-4000-8000-', LPAD(seq, 12, '0')), u.id, '', 'x.png', IF(seq % 3 = 0, 'image/jpeg', 'image/png'), 10,
                LPAD(seq, 64, 'f'), 1, 1, CONCAT('k/', seq), NOW(3) - INTERVAL seq SECOND
         FROM seq_1_to_5000 JOIN users u ON u.username = CONCAT('bulk_', seq % 300)`,
      );
      await db.query('ANALYZE TABLE uploads, users');
      const first = (
        await api.inject({ method: 'GET', url: '/api/uploads?cursor=&page_size=1', headers: carol.auth })
      ).json();
      const cases: [string, Session, string][] = [
        ['/api/uploads', carol, 'ix_uploads_user_created'],
        [new URL(first.next).pathname + new URL(first.next).search, carol, 'ix_uploads_user_created'],
        ['/api/admin/uploads?content_type=image/png', admin, 'ix_uploads_content_type_created'],
      ];
      for (const [url, session, index] of cases) {
        const scan = await scanOf(await pageQuery(url, session));
        expect(scan.key, url).toBe(index);
        expect(scan.Extra ?? '', url).not.toMatch(/filesort|temporary/i);
      }
      // Each page row's latest analysis: one probe of (upload_id, created_at), not a scan.
      expect(await indexOf(await pageQuery('/api/uploads?page_size=7', carol))).toContain('ix_var_upload_created');
      // The duplicate check of an upload (the same bytes again: 200): the unique (user_id, sha256) index.
      const again = await sent(async () => upload(carol, await solidPng(8, 8, '#0000ff'), { filename: 'c0.png' }));
      const duplicate = again.find(
        (q) => /^SELECT/i.test(q.sql) && /FROM `uploads`/.test(q.sql) && /`sha256` = \?/.test(q.sql),
      );
      expect(duplicate, JSON.stringify(again.map((q) => q.sql))).not.toBeUndefined();
      expect(await indexOf(duplicate!)).toContain('uq_uploads_user_sha256');
    });

    // The admin listing pages uploads alone (a derived table of ids) and joins the owners to the
    // page's rows only: joined before the LIMIT, MariaDB read users first and filesorted every upload.
    it('the unfiltered admin listing walks ix_uploads_created, without a filesort, and names the owners', async () => {
      const query = await pageQuery('/api/admin/uploads', admin);
      const scan = await scanOf(query);
      expect(scan.key).toBe('ix_uploads_created');
      expect(scan.Extra ?? '').not.toMatch(/filesort|temporary/i);
      const page = (
        await api.inject({ method: 'GET', url: '/api/admin/uploads?page_size=200', headers: admin.auth })
      ).json();
      const names = new Map(
        (await db.query('SELECT id, username FROM users')).map((u: { id: number; username: string }) => [
          u.id,
          u.username,
        ]),
      );
      expect(page.results.length).toBeGreaterThan(100);
      for (const item of page.results) expect(item.username).toBe(names.get(item.user_id));
    });
  });

  it('the sweeper removes old temp objects and completes a committed-but-unmoved upload', async () => {
    const service = api.get(UploadsService);
    const { STORAGE } = await import('@echo/storage');
    const storage = api.get<import('@echo/storage').StorageDriver>(STORAGE);
    await storage.put('tmp/orphan-leftover', Buffer.from('junk'));
    const created = (await upload(alice, await solidPng(40, 40, '#0f0f0f'))).json();
    const key = `${alice.id}/${created.id}`;
    await storage.move(key, `tmp/${created.id}`); // as if the process died between commit and move
    const result = await service.sweepOrphans(new Date(Date.now() + 60_000));
    expect(result.removed).toBeGreaterThanOrEqual(1);
    expect(result.recovered).toBe(1);
    expect(await storage.stat('tmp/orphan-leftover')).toBeNull();
    expect(await storage.stat(key)).not.toBeNull();
  });
});

describe.skipIf(!servicesUp())('upload quota', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack('quota', { UPLOAD_QUOTA_BYTES: '3000' });
  });
  afterAll(() => stack?.close());

  it('refuses an upload over the per-user quota with 413 and a clear detail', async () => {
    const s = await register(stack.api, 'q');
    const send = async (data: Buffer) => {
      const form = multipart([{ name: 'file', filename: 'a.png', data }]);
      return stack.api.inject({
        method: 'POST',
        url: '/api/uploads',
        headers: { ...s.auth, ...form.headers },
        payload: form.payload,
      });
    };
    expect((await send(await noisePng(20, 20))).statusCode).toBe(201); // ≈1.3 kB
    const over = await send(await noisePng(25, 25)); // ≈2 kB: over 3000 in total
    expect(over.statusCode).toBe(413);
    expect(over.json().detail).toMatch(/quota/i);
  });
});
