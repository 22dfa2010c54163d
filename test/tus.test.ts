import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import * as tus from 'tus-js-client';
import { Redis } from 'ioredis';
import { ERRORS } from '@tus/utils';
import { RedisLocker } from '../libs/uploads/src/tus/redis-locker.js';
import { tusErrorToDrf } from '../libs/uploads/src/tus/tus-errors.js';
import { OrphanSweeper } from '../libs/uploads/src/orphan-sweeper.js';
import { TusStaging } from '../libs/uploads/src/tus/tus-staging.js';
import {
  MemoryTusSlots,
  RedisTusSlots,
  STALE_RESERVATION_MS,
  type TusSlots,
} from '../libs/uploads/src/tus/tus-slots.js';
import { decodeTusId, encodeTusId, newTusId, ownerOfTusId } from '../libs/uploads/src/tus/tus-ids.js';
import { loadConfig } from '@echo/config';
import { UploadsService } from '@echo/uploads';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { register, type Session } from './support/users.js';
import { noisePng, pngHeaderBomb, solidPng } from './support/images.js';
import { REDIS_URL, uniquePrefix } from './support/services.js';
import { distBuilt, EchoProcess, freePort } from './support/processes.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { waitFor } from './support/wait.js';
import { UPLOAD_KEYS } from './support/uploads.js';

const TUS = '/api/uploads/tus';
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Files under a directory (recursively), relative paths. */
function filesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One HTTP request over a fresh connection (tus' PATCH bodies can be a stream). */
function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer | Readable,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, base), { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers as Record<string, string>,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

const tusHeaders = (s: Session, extra: Record<string, string> = {}) => ({
  ...s.auth,
  'tus-resumable': '1.0.0',
  ...extra,
});
const metadata = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');

async function create(
  base: string,
  s: Session,
  length: number,
  meta: Record<string, string> = { filename: 'photo.png' },
): Promise<Reply> {
  return send(base, 'POST', TUS, tusHeaders(s, { 'upload-length': String(length), 'upload-metadata': metadata(meta) }));
}

function patch(
  base: string,
  s: Session,
  location: string,
  offset: number,
  body: Buffer | Readable,
  length?: number,
): Promise<Reply> {
  const size = length ?? (Buffer.isBuffer(body) ? body.length : undefined);
  return send(
    base,
    'PATCH',
    location,
    tusHeaders(s, {
      'upload-offset': String(offset),
      'content-type': 'application/offset+octet-stream',
      ...(size !== undefined ? { 'content-length': String(size) } : {}),
    }),
    body,
  );
}

const head = (base: string, s: Session, location: string) => send(base, 'HEAD', location, tusHeaders(s));

/** A body that trickles `data` in `step`-byte pieces every `everyMs` (a slow phone). */
function trickle(data: Buffer, step: number, everyMs: number): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= data.length) return void this.push(null);
      const piece = data.subarray(at, at + step);
      at += piece.length;
      setTimeout(() => this.push(piece), everyMs);
    },
  });
}

/** tus-js-client, as a Node app would use it. Resolves with the last response. */
function clientUpload(
  base: string,
  s: Session,
  data: Buffer,
  options: Partial<tus.UploadOptions> = {},
): { upload: tus.Upload; done: Promise<tus.HttpResponse> } {
  let upload!: tus.Upload;
  const done = new Promise<tus.HttpResponse>((resolve, reject) => {
    upload = new tus.Upload(data, {
      endpoint: `${base}${TUS}`,
      headers: { authorization: s.auth.authorization },
      metadata: { filename: 'photo.png', filetype: 'image/png' },
      retryDelays: null,
      ...options,
      onSuccess: ({ lastResponse }) => resolve(lastResponse),
      onError: reject,
    });
  });
  upload.start();
  return { upload, done };
}

describe('tus ids, staging expiry and configuration (no services)', () => {
  it('ids carry their owner; only ids Echo made decode, whatever the URL segment holds', () => {
    const id = newTusId(42);
    expect(id).toMatch(/^42\/[0-9a-f]{32}$/);
    expect(ownerOfTusId(id)).toBe(42);
    const segment = encodeTusId(id);
    expect(segment).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeTusId(segment)).toBe(id);
    for (const junk of [
      undefined,
      '',
      'tus',
      encodeTusId('42/../../etc/passwd'),
      encodeTusId('abc/0123'),
      encodeTusId(`${id}x`),
      'a+b/c=',
      'A'.repeat(65),
    ]) {
      expect(decodeTusId(junk), String(junk)).toBeUndefined();
    }
  });

  it('the expiry sweep removes uploads older than TUS_EXPIRY by their creation date, and bytes whose info never got written', async () => {
    const dir = `.data/test-tus/${uniquePrefix('staging')}`;
    const staging = new TusStaging(dir, 3600_000);
    const now = Date.now();
    const write = (user: number, hex: string, created?: number, withBytes = true) => {
      mkdirSync(join(dir, String(user)), { recursive: true });
      if (withBytes) writeFileSync(join(dir, String(user), hex), 'bytes');
      if (created !== undefined)
        writeFileSync(
          join(dir, String(user), `${hex}.json`),
          JSON.stringify({ id: `${user}/${hex}`, size: 10, offset: 0, creation_date: new Date(created).toISOString() }),
        );
    };
    write(1, 'a'.repeat(32), now - 2 * 3600_000); // expired
    write(1, 'b'.repeat(32), now - 60_000); // fresh
    write(2, 'c'.repeat(32)); // bytes only, just written (mtime now): kept
    write(2, 'd'.repeat(32), now - 7200_000, false); // info only, expired
    expect(await staging.pendingIds(1)).toHaveLength(2);
    expect(await staging.sweepExpired(now)).toBe(2);
    expect(
      filesIn(dir)
        .map((f) => f.slice(dir.length + 1))
        .sort(),
    ).toEqual([`1/${'b'.repeat(32)}`, `1/${'b'.repeat(32)}.json`, `2/${'c'.repeat(32)}`]);
    expect(await staging.sweepExpired(now + 2 * 3600_000)).toBe(2); // later, the rest (the bare bytes by their mtime)
    expect(filesIn(dir)).toEqual([]);
    expect(await new TusStaging(`${dir}/missing`, 1000).sweepExpired()).toBe(0);
  });

  it('reads TUS_DIR, TUS_EXPIRY (seconds) and TUS_MAX_PENDING_PER_USER with their defaults', () => {
    expect(loadConfig({}).uploads.tus).toEqual({ dir: '.data/tus', expiryMs: 86_400_000, maxPendingPerUser: 20 });
    expect(loadConfig({ TUS_DIR: '/data/tus', TUS_EXPIRY: '3600', TUS_MAX_PENDING_PER_USER: '5' }).uploads.tus).toEqual(
      { dir: '/data/tus', expiryMs: 3_600_000, maxPendingPerUser: 5 },
    );
    expect(() => loadConfig({ TUS_EXPIRY: '10' })).toThrow(/TUS_EXPIRY/);
    expect(() => loadConfig({ TUS_MAX_PENDING_PER_USER: '0' })).toThrow(/TUS_MAX_PENDING_PER_USER/);
  });
});

describe.skipIf(!servicesUp())('tus resumable uploads (MariaDB, Redis locker)', () => {
  let stack: TestStack;
  let base: string;
  let tusDir: string;
  let db: DataSource;
  let alice: Session;
  let bob: Session;
  const countRows = async (userId: number) =>
    Number((await db.query('SELECT COUNT(*) AS n FROM uploads WHERE user_id = ?', [userId]))[0].n);

  beforeAll(async () => {
    tusDir = `.data/test-tus/${uniquePrefix('tus')}`;
    stack = await startStack('tus', { TUS_DIR: tusDir });
    await stack.api.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(stack.api.getHttpServer().address() as { port: number }).port}`;
    db = stack.api.get(DataSource);
    alice = await register(stack.api, 'alice');
    bob = await register(stack.api, 'bob');
  });
  afterAll(() => stack?.close());

  it('OPTIONS advertises tus 1.0, its extensions and Tus-Max-Size = UPLOAD_MAX_BYTES (no token needed)', async () => {
    const res = await send(base, 'OPTIONS', TUS, {});
    expect(res.status).toBe(204);
    expect(res.headers['tus-version']).toBe('1.0.0');
    expect(res.headers['tus-extension']?.split(',')).toEqual(
      expect.arrayContaining(['creation', 'creation-with-upload', 'termination', 'expiration']),
    );
    expect(Number(res.headers['tus-max-size'])).toBe(stack.config.uploads.maxBytes);
  });

  it('tus-js-client uploads an image: the last PATCH answers 201 with the upload object, the stored bytes match', async () => {
    const png = await solidPng(320, 240, '#123456');
    const { done } = clientUpload(base, alice, png, {
      metadata: { filename: '../../etc/red.png', filetype: 'image/png', title: 'Via tus' },
    });
    const last = await done;
    expect(last.getStatus()).toBe(201);
    const body = JSON.parse(last.getBody());
    expect(Object.keys(body).sort()).toEqual(UPLOAD_KEYS);
    expect(body).toMatchObject({
      user_id: alice.id,
      title: 'Via tus',
      original_name: 'red.png',
      content_type: 'image/png',
      size: png.length,
      sha256: sha256(png),
      width: 320,
      height: 240,
    });
    expect(body.analysis).toMatchObject({ status: 'queued' });
    const file = await stack.api.inject({ method: 'GET', url: `/api/uploads/${body.id}/file`, headers: alice.auth });
    expect(sha256(file.rawPayload)).toBe(sha256(png));
    expect(filesIn(tusDir)).toEqual([]); // staging is emptied once the upload is in
    // The same bytes again: the existing upload with duplicate: true, as POST /api/uploads answers.
    const again = await clientUpload(base, alice, png).done;
    expect(again.getStatus()).toBe(200);
    expect(JSON.parse(again.getBody())).toMatchObject({ id: body.id, duplicate: true });
  });

  it('creation-with-upload: a POST that carries the whole file answers with the upload object', async () => {
    const png = await solidPng(90, 60, '#abcdef');
    const last = await clientUpload(base, alice, png, { uploadDataDuringCreation: true }).done;
    expect(last.getStatus()).toBe(201);
    expect(JSON.parse(last.getBody())).toMatchObject({ sha256: sha256(png), width: 90, height: 60 });
    await waitFor(async () => filesIn(tusDir).length === 0, 2000, 'staging to be emptied after the response');
    const again = await clientUpload(base, alice, png, { uploadDataDuringCreation: true }).done;
    expect(again.getStatus()).toBe(200);
    expect(JSON.parse(again.getBody())).toMatchObject({ duplicate: true });
  });

  it("tus-js-client aborted midway: start() again resumes from the server's offset, and the stored SHA-256 matches", async () => {
    const data = await noisePng(1200, 1200); // ≈ 4.3 MB
    let abortedAt = 0;
    // Chunks of 512 KiB (a mobile client's usual setting): aborted once half is acknowledged.
    const first = clientUpload(base, alice, data, {
      chunkSize: 512 * 1024,
      onChunkComplete: (_chunk, accepted) => {
        if (!abortedAt && accepted >= data.length / 2) {
          abortedAt = accepted;
          void first.upload.abort();
        }
      },
    });
    first.done.catch(() => undefined);
    await waitFor(async () => abortedAt > 0, 30_000, 'the client to pass 50 %');
    const path = new URL(first.upload.url!).pathname;
    const offset = await waitFor(
      async () => {
        const res = await head(base, alice, path);
        return res.status === 200 ? Number(res.headers['upload-offset']) : undefined;
      },
      10_000,
      'HEAD after the abort',
    );
    expect(offset).toBeGreaterThanOrEqual(abortedAt);
    expect(offset).toBeLessThan(data.length);
    // The same Upload object, started again: tus-js-client asks the server (HEAD) where to go on.
    let resumedFrom: number | undefined;
    const resumed = new Promise<tus.HttpResponse>((resolve, reject) => {
      Object.assign(first.upload.options, {
        onSuccess: ({ lastResponse }: tus.OnSuccessPayload) => resolve(lastResponse),
        onError: reject,
        onChunkComplete: null,
        onBeforeRequest: (req: tus.HttpRequest) => {
          if (req.getMethod() === 'PATCH' && resumedFrom === undefined)
            resumedFrom = Number(req.getHeader('Upload-Offset'));
        },
      });
    });
    first.upload.start();
    const last = await resumed;
    expect(resumedFrom).toBe(offset);
    expect(last.getStatus()).toBe(201);
    const body = JSON.parse(last.getBody());
    expect(body).toMatchObject({ size: data.length, sha256: sha256(data) });
    const stored = await stack.api.inject({ method: 'GET', url: `/api/uploads/${body.id}/file`, headers: alice.auth });
    expect(sha256(stored.rawPayload)).toBe(sha256(data));
  }, 60_000);

  it('a network cut at 50 % of a 20 MB upload: the resume sends only the tail (measured on the wire)', async () => {
    const data = await noisePng(2580, 2580); // ≈ 20 MB of incompressible pixels
    expect(data.length).toBeGreaterThan(19_000_000);
    expect(data.length).toBeLessThanOrEqual(stack.config.uploads.maxBytes);
    const proxy = new TcpProxy({ host: '127.0.0.1', port: Number(new URL(base).port) });
    await proxy.listen();
    const viaProxy = `http://127.0.0.1:${proxy.port}`;
    try {
      let cutAt = 0;
      proxy.onUp = (up) => {
        if (!cutAt && up >= data.length / 2) {
          cutAt = up;
          proxy.dropAll();
        }
      };
      const first = clientUpload(viaProxy, alice, data);
      await expect(first.done).rejects.toThrow();
      proxy.onUp = undefined;
      const url = first.upload.url!;
      expect(url).toMatch(new RegExp(`^${viaProxy}${TUS}/[A-Za-z0-9_-]+$`));
      // The server keeps what arrived; once the cut request has let go of its lock, HEAD says how much.
      const offset = await waitFor(
        async () => {
          const res = await head(base, alice, new URL(url).pathname);
          return res.status === 200 ? Number(res.headers['upload-offset']) : undefined;
        },
        10_000,
        'HEAD after the cut',
      );
      expect(offset).toBeGreaterThan(0);
      expect(offset).toBeLessThanOrEqual(cutAt);
      const before = proxy.bytesUp;
      const resumed = await clientUpload(viaProxy, alice, data, { uploadUrl: url }).done;
      const resent = proxy.bytesUp - before;
      expect(resumed.getStatus()).toBe(201);
      const body = JSON.parse(resumed.getBody());
      expect(body).toMatchObject({ size: data.length, sha256: sha256(data) });
      const tail = data.length - offset;
      // The resume sends HEAD + one PATCH: the tail plus a few hundred bytes of headers.
      expect(resent).toBeGreaterThanOrEqual(tail);
      expect(resent).toBeLessThan(tail + 4096);
      console.log(
        `[tus measure] ${data.length} B upload, line cut after ${cutAt} B on the wire (${((cutAt / data.length) * 100).toFixed(1)} %); ` +
          `server kept ${offset} B; the resume sent ${resent} B (tail ${tail} B + ${resent - tail} B of HEAD/PATCH headers) = ` +
          `${((resent / data.length) * 100).toFixed(1)} % of the file instead of 100 %`,
      );
      const stored = await stack.api.inject({
        method: 'GET',
        url: `/api/uploads/${body.id}/file`,
        headers: alice.auth,
      });
      expect(sha256(stored.rawPayload)).toBe(sha256(data));
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('a socket cut mid-PATCH keeps the bytes that arrived: HEAD gives that offset, and the rest completes the upload', async () => {
    const png = await noisePng(300, 300);
    const created = await create(base, alice, png.length);
    expect(created.status).toBe(201);
    const location = created.headers.location;
    expect(location).toMatch(new RegExp(`^${TUS}/[A-Za-z0-9_-]+$`));
    const sent = 100_000;
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () => {
        socket.write(
          `PATCH ${location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${alice.auth.authorization}\r\nTus-Resumable: 1.0.0\r\n` +
            `Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: ${png.length}\r\n\r\n`,
        );
        socket.write(png.subarray(0, sent), () => setTimeout(() => (socket.destroy(), resolve()), 300));
      });
      socket.on('error', reject);
    });
    const offset = await waitFor(
      async () => {
        const res = await head(base, alice, location);
        return res.status === 200 && Number(res.headers['upload-offset']) === sent ? sent : undefined;
      },
      10_000,
      `HEAD offset ${sent}`,
    );
    expect(offset).toBe(sent);
    const rest = await patch(base, alice, location, sent, png.subarray(sent));
    expect(rest.status, rest.body).toBe(201);
    expect(JSON.parse(rest.body).sha256).toBe(sha256(png));
  });

  it('two concurrent PATCHes on one upload: one waits (then 409) or is told to stop, never mixed bytes', async () => {
    const a = await noisePng(400, 400);
    const b = Buffer.from(a);
    for (let i = 200_000; i < 300_000; i++) b[i] ^= 0xff; // same length and header, different bytes
    const created = await create(base, alice, a.length);
    const location = created.headers.location;
    const [ra, rb] = await Promise.all([
      patch(base, alice, location, 0, trickle(a, 32 * 1024, 20), a.length),
      patch(base, alice, location, 0, trickle(b, 32 * 1024, 20), b.length),
    ]);
    const statuses = JSON.stringify([ra.status, rb.status]);
    // Exactly one request wrote; the other waited for the lock and then found the offset moved
    // (409), or the upload finished and gone (404) — or gave up waiting (423).
    const wrote = (
      [
        [ra, a],
        [rb, b],
      ] as const
    ).filter(([r]) => r.status === 201 || r.status === 204);
    expect(wrote.length, statuses).toBe(1);
    const [other] = [ra, rb].filter((r) => r !== wrote[0][0]);
    expect([409, 404, 423], statuses).toContain(other.status);
    const winner = wrote[0][1];
    let final = wrote[0][0];
    if (final.status === 204) {
      // The winner was asked to stop early (lock handover): resume it from the server's offset.
      const at = Number((await head(base, alice, location)).headers['upload-offset']);
      final = await patch(base, alice, location, at, winner.subarray(at));
      expect(final.status, final.body).toBe(201);
    }
    expect(JSON.parse(final.body).sha256).toBe(sha256(winner));
    const stored = await stack.api.inject({
      method: 'GET',
      url: `/api/uploads/${JSON.parse(final.body).id}/file`,
      headers: alice.auth,
    });
    expect([sha256(a), sha256(b)]).toContain(sha256(stored.rawPayload));
  }, 30_000);

  it('Upload-Length over UPLOAD_MAX_BYTES is 413 at creation, in DRF shape, and nothing is staged', async () => {
    const before = filesIn(tusDir).length;
    const res = await create(base, alice, stack.config.uploads.maxBytes + 1);
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(res.body)).toEqual({
      detail: `File too large: the limit is ${stack.config.uploads.maxBytes} bytes.`,
    });
    expect(filesIn(tusDir).length).toBe(before);
  });

  it('protocol errors are DRF-shaped JSON too (412 without Tus-Resumable, 409 on a wrong offset)', async () => {
    const res = await send(base, 'POST', TUS, { ...alice.auth, 'upload-length': '10' });
    expect(res.status).toBe(412);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(res.body)).toEqual({ detail: 'Tus-Resumable Required' });
    const created = await create(base, alice, 10);
    const wrong = await patch(base, alice, created.headers.location, 5, Buffer.alloc(5));
    expect(wrong.status).toBe(409);
    expect(JSON.parse(wrong.body)).toEqual({ detail: 'Upload-Offset conflict.' });
    expect((await send(base, 'DELETE', created.headers.location, tusHeaders(alice))).status).toBe(204);
  });

  it('a non-image gets the same 415 as POST /api/uploads on its last PATCH, and leaves nothing behind', async () => {
    const rows = await countRows(bob.id);
    const storageFiles = filesIn(stack.config.storage.dir).length;
    const text = Buffer.from('hello, this is not an image at all '.repeat(100));
    const created = await create(base, bob, text.length, { filename: 'fake.png', filetype: 'image/png' });
    const res = await patch(base, bob, created.headers.location, 0, text);
    expect(res.status).toBe(415);
    expect(JSON.parse(res.body)).toEqual({
      detail: 'Unsupported file type: upload a JPEG, PNG, WebP, GIF, AVIF, HEIC/HEIF or TIFF image.',
    });
    expect(filesIn(join(tusDir, String(bob.id)))).toEqual([]);
    expect(filesIn(stack.config.storage.dir).length).toBe(storageFiles);
    expect(await countRows(bob.id)).toBe(rows);
    expect((await head(base, bob, created.headers.location)).status).toBe(404);
  });

  it('a pixel bomb gets 422 on its last PATCH and leaves nothing behind', async () => {
    const bomb = await pngHeaderBomb(100_000, 100_000);
    const created = await create(base, bob, bomb.length);
    const res = await patch(base, bob, created.headers.location, 0, bomb);
    expect(res.status).toBe(422);
    expect(JSON.parse(res.body).detail).toMatch(/over the limit/);
    expect(filesIn(join(tusDir, String(bob.id)))).toEqual([]);
  });

  it("another user's upload id is 404 on HEAD, PATCH and DELETE; a made-up id is 404; no token is 401", async () => {
    const png = await solidPng(50, 50);
    const created = await create(base, alice, png.length);
    const location = created.headers.location;
    expect((await head(base, bob, location)).status).toBe(404);
    const stolen = await patch(base, bob, location, 0, png);
    expect(stolen.status).toBe(404);
    expect(JSON.parse(stolen.body)).toEqual({ detail: 'The file for this url was not found.' });
    expect((await send(base, 'DELETE', location, tusHeaders(bob))).status).toBe(404);
    expect((await head(base, alice, location)).headers['upload-offset']).toBe('0'); // untouched
    expect((await head(base, alice, `${TUS}/bm90LWFuLWlk`)).status).toBe(404);
    const anonymous = await send(base, 'HEAD', location, { 'tus-resumable': '1.0.0' });
    expect(anonymous.status).toBe(401);
    // Termination by the owner removes the staged files.
    expect((await send(base, 'DELETE', location, tusHeaders(alice))).status).toBe(204);
    expect((await head(base, alice, location)).status).toBe(404);
  });

  it('an expired upload is 410 (HEAD and PATCH) and the maintenance sweep removes its files', async () => {
    const png = await noisePng(200, 200);
    const created = await create(base, bob, png.length);
    const location = created.headers.location;
    expect(created.headers['upload-expires']).toBeDefined();
    expect((await patch(base, bob, location, 0, png.subarray(0, 1000))).status).toBe(204);
    const dir = join(tusDir, String(bob.id));
    const info = filesIn(dir).find((f) => f.endsWith('.json'))!;
    // As if TUS_EXPIRY (24 h) had passed since the creation.
    const json = JSON.parse(readFileSync(info, 'utf8'));
    json.creation_date = new Date(Date.now() - stack.config.uploads.tus.expiryMs - 60_000).toISOString();
    writeFileSync(info, JSON.stringify(json));
    expect((await head(base, bob, location)).status).toBe(410);
    const late = await patch(base, bob, location, 1000, png.subarray(1000));
    expect(late.status).toBe(410);
    expect(JSON.parse(late.body)).toEqual({ detail: 'The file for this url no longer exists.' });
    const swept = await stack.api.get(UploadsService).sweepOrphans();
    expect(swept.expired).toBe(1);
    expect(filesIn(dir)).toEqual([]);
    expect((await head(base, bob, location)).status).toBe(404);
  });
});

describe.skipIf(!servicesUp())(
  'tus in embedded mode (SQLite, MemoryLocker): quota and the unfinished-upload cap',
  () => {
    let stack: TestStack;
    let base: string;
    let carol: Session;
    let tusDir: string;

    beforeAll(async () => {
      tusDir = `.data/test-tus/${uniquePrefix('tus_emb')}`;
      stack = await startEmbedded('tus-embedded', {
        TUS_DIR: tusDir,
        UPLOAD_QUOTA_BYTES: '30000',
        TUS_MAX_PENDING_PER_USER: '2',
        CORS_ORIGINS: 'https://app.example',
      });
      await stack.api.listen(0, '127.0.0.1');
      base = `http://127.0.0.1:${(stack.api.getHttpServer().address() as { port: number }).port}`;
      carol = await register(stack.api, 'carol');
    });
    afterAll(() => stack?.close());

    it('the embedded orphan sweeper expires unfinished uploads (TUS_EXPIRY after creation)', async () => {
      const created = await create(base, carol, 500);
      expect(created.status).toBe(201);
      const dir = join(tusDir, String(carol.id));
      const info = filesIn(dir).find((f) => f.endsWith('.json'))!;
      const json = JSON.parse(readFileSync(info, 'utf8'));
      json.creation_date = new Date(Date.now() - stack.config.uploads.tus.expiryMs - 1000).toISOString();
      writeFileSync(info, JSON.stringify(json));
      await stack.api.get(OrphanSweeper).run();
      expect(filesIn(dir)).toEqual([]);
      expect(created.headers['x-request-id']).toBeDefined(); // the API's own headers survive the hand-over
    });

    it('a browser on an allowed origin can use it: preflight answered, tus headers exposed; other origins get no CORS headers', async () => {
      const preflight = await send(base, 'OPTIONS', `${TUS}/abc`, {
        origin: 'https://app.example',
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'authorization,tus-resumable,upload-offset,content-type',
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example');
      const created = await send(base, 'POST', TUS, {
        ...tusHeaders(carol, { 'upload-length': '100' }),
        origin: 'https://app.example',
      });
      expect(created.status).toBe(201);
      expect(created.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(created.headers['access-control-expose-headers']).toMatch(/Location.*Upload-Offset.*X-Request-Id/s);
      const foreign = await send(base, 'HEAD', created.headers.location, {
        ...tusHeaders(carol),
        origin: 'https://evil.example',
      });
      expect(foreign.status).toBe(200);
      expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
      expect((await send(base, 'DELETE', created.headers.location, tusHeaders(carol))).status).toBe(204);
    });

    it('an Upload-Length over the remaining quota is 413 at creation', async () => {
      const res = await create(base, carol, 30_001);
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body).detail).toMatch(/^Upload quota exceeded/);
    });

    it('a finished upload counts against the quota; the cap on unfinished uploads is 429', async () => {
      const png = await noisePng(60, 60); // ~11 kB
      const done = await clientUpload(base, carol, png).done;
      expect(done.getStatus()).toBe(201);
      expect((await create(base, carol, 30_000 - png.length + 1)).status).toBe(413);
      expect((await create(base, carol, 100)).status).toBe(201);
      expect((await create(base, carol, 100)).status).toBe(201);
      const third = await create(base, carol, 100);
      expect(third.status).toBe(429);
      expect(third.headers['retry-after']).toBe('60');
      expect(JSON.parse(third.body).detail).toMatch(/Too many unfinished uploads/);
    });
  },
);

/**
 * Issue 26 §3.2 and §3.6, in both modes: the cap on unfinished uploads holds when creations arrive
 * together (a slot is reserved atomically: Redis, or this process's memory), every way an upload
 * ends frees its slot, and a deferred Upload-Length is checked against the quota when declared.
 */
describe.skipIf(!servicesUp()).each([
  { mode: 'MariaDB + Redis', start: (env: Record<string, string>) => startStack('tus_cap', env) },
  { mode: 'embedded', start: (env: Record<string, string>) => startEmbedded('tus-cap', env) },
])('tus limits under concurrency ($mode)', ({ start }) => {
  const CAP = 20;
  let stack: TestStack;
  let base: string;
  let tusDir: string;
  let erin: Session;
  let frank: Session;

  beforeAll(async () => {
    tusDir = `.data/test-tus/${uniquePrefix('tus_cap')}`;
    stack = await start({ TUS_DIR: tusDir, TUS_MAX_PENDING_PER_USER: String(CAP), UPLOAD_QUOTA_BYTES: '200000' });
    await stack.api.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(stack.api.getHttpServer().address() as { port: number }).port}`;
    erin = await register(stack.api, 'erin');
    frank = await register(stack.api, 'frank');
  });
  afterAll(() => stack?.close());

  const expectCapped = (res: Reply) => {
    expect(res.status, res.body).toBe(429);
    expect(res.headers['retry-after']).toBe('60');
    expect(JSON.parse(res.body)).toEqual({
      detail: expect.stringMatching(/^Too many unfinished uploads \(limit 20\)/),
    });
  };

  it('60 creations at once with a cap of 20: exactly 20 × 201, the rest 429 in DRF shape; each way an upload ends frees its slot', async () => {
    const all = await Promise.all(Array.from({ length: 60 }, () => create(base, erin, 100)));
    const created = all.filter((r) => r.status === 201);
    expect(created).toHaveLength(CAP);
    for (const res of all.filter((r) => r.status !== 201)) expectCapped(res);
    expect(filesIn(join(tusDir, String(erin.id))).filter((f) => f.endsWith('.json'))).toHaveLength(CAP);
    expectCapped(await create(base, erin, 100));
    expect((await create(base, frank, 100)).status).toBe(201); // the cap is per user

    // Termination frees one slot (and only one).
    expect((await send(base, 'DELETE', created[0].headers.location, tusHeaders(erin))).status).toBe(204);
    const again = await create(base, erin, 100);
    expect(again.status).toBe(201);
    expectCapped(await create(base, erin, 100));

    // Finishing (the last PATCH commits the upload) frees one.
    const png = await solidPng(8, 8);
    const finishing = await create(base, erin, png.length);
    expectCapped(finishing);
    expect((await send(base, 'DELETE', created[1].headers.location, tusHeaders(erin))).status).toBe(204);
    const slot = await create(base, erin, png.length);
    expect(slot.status).toBe(201);
    const done = await patch(base, erin, slot.headers.location, 0, png);
    expect(done.status, done.body).toBe(201);
    expect((await create(base, erin, 100)).status).toBe(201);
    expectCapped(await create(base, erin, 100));

    // Expiry: the sweep that removes an expired upload frees its slot.
    const info = join(tusDir, `${decodeTusId(created[2].headers.location.split('/').pop())}.json`);
    const json = JSON.parse(readFileSync(info, 'utf8'));
    json.creation_date = new Date(Date.now() - stack.config.uploads.tus.expiryMs - 60_000).toISOString();
    writeFileSync(info, JSON.stringify(json));
    expect((await stack.api.get(UploadsService).sweepOrphans()).expired).toBe(1);
    expect((await create(base, erin, 100)).status).toBe(201);
    expectCapped(await create(base, erin, 100));
  });

  it('a deferred Upload-Length over the remaining quota is refused when declared (413, as at creation); within it is accepted', async () => {
    const deferred = () => send(base, 'POST', TUS, tusHeaders(frank, { 'upload-defer-length': '1' }));
    const declare = (location: string, length: number) =>
      send(
        base,
        'PATCH',
        location,
        tusHeaders(frank, {
          'upload-offset': '0',
          'upload-length': String(length),
          'content-type': 'application/offset+octet-stream',
          'content-length': '0',
        }),
      );
    const atCreation = await create(base, frank, 200_001);
    const first = await deferred();
    expect(first.status).toBe(201);
    const refused = await declare(first.headers.location, 200_001);
    expect(refused.status, refused.body).toBe(atCreation.status);
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.body)).toEqual(JSON.parse(atCreation.body));
    const still = await head(base, frank, first.headers.location);
    expect(still.headers['upload-defer-length']).toBe('1'); // nothing was declared
    const accepted = await declare(first.headers.location, 200_000);
    expect(accepted.status, accepted.body).toBe(204);
    expect((await head(base, frank, first.headers.location)).headers['upload-length']).toBe('200000');
  });
});

describe.skipIf(!servicesUp()).each([
  { kind: 'Redis', make: () => new RedisTusSlots(3, 3600_000, () => new Redis(REDIS_URL), uniquePrefix('tusslots')) },
  { kind: 'memory', make: () => new MemoryTusSlots(3, 3600_000) },
])('TusSlots ($kind): reservations reconciled with the staging directory', ({ make }) => {
  let slots: TusSlots;
  beforeAll(() => {
    slots = make();
  });
  afterAll(() => slots?.close());
  const ids = (user: number, n: number) => Array.from({ length: n }, () => newTusId(user));

  it('200 reservations at once with a cap of 3: exactly 3 taken; a release frees one', async () => {
    const wanted = ids(1, 200);
    const taken = await Promise.all(wanted.map((id) => slots.reserve(1, id, [])));
    expect(taken.filter(Boolean)).toHaveLength(3);
    await slots.release(wanted[taken.indexOf(true)]);
    expect(await slots.reserve(1, newTusId(1), [])).toBe(true);
    expect(await slots.reserve(1, newTusId(1), [])).toBe(false);
    expect(await slots.reserve(2, newTusId(2), [])).toBe(true); // per user
  });

  it('uploads on disk without a reservation (Redis flushed, a restart) still count; reserved ones on disk count once', async () => {
    const [a, b] = ids(3, 2);
    expect(await slots.reserve(3, a, [])).toBe(true);
    expect(await slots.reserve(3, b, [a, ...ids(3, 1)])).toBe(true); // a (reserved, on disk) + one unknown + b
    expect(await slots.reserve(3, newTusId(3), [a, b, ...ids(3, 1)])).toBe(false);
  });

  it('a reservation whose upload never reached the disk (a crashed creation) is dropped after the grace; one on disk is kept until it expires with TUS_EXPIRY', async () => {
    const now = Date.now();
    const [crashed, alive, other] = ids(4, 3);
    expect(await slots.reserve(4, crashed, [], now)).toBe(true);
    expect(await slots.reserve(4, alive, [], now)).toBe(true);
    expect(await slots.reserve(4, other, [], now)).toBe(true);
    expect(await slots.reserve(4, newTusId(4), [alive, other], now + STALE_RESERVATION_MS - 1000)).toBe(false);
    const later = now + STALE_RESERVATION_MS + 1000;
    expect(await slots.reserve(4, newTusId(4), [alive, other], later)).toBe(true); // crashed's slot came back
    expect(await slots.reserve(4, newTusId(4), [alive, other], later)).toBe(false);
    // Past TUS_EXPIRY every reservation is gone; what is still on disk (until the sweep) counts.
    expect(await slots.reserve(4, newTusId(4), [alive], now + 3600_000 + 1)).toBe(true);
  });
});

const built = distBuilt('api');
describe.skipIf(!servicesUp() || !built)(
  built
    ? 'tus across two API processes (dist/, shared TUS_DIR, Redis locker)'
    : 'tus across processes — SKIPPED: run `npx nest build` first',
  () => {
    let stack: TestStack;
    let one: { proc: EchoProcess; base: string };
    let two: { proc: EchoProcess; base: string };
    let dave: Session;
    let tusDir: string;

    const spawnApi = async (env: Record<string, string>) => {
      const port = await freePort();
      const proc = EchoProcess.spawn('api', {
        ...env,
        HOST: '127.0.0.1',
        PORT: String(port),
        API_WORKERS: '1',
        LOG_LEVEL: 'warn',
        METRICS_PORT: '0',
      });
      const url = `http://127.0.0.1:${port}`;
      await waitFor(
        async () => {
          if (proc.exited) throw new Error(`the API exited: ${proc.output}`);
          return (await fetch(`${url}/health`)).status === 200;
        },
        40_000,
        `API on ${port}`,
      );
      return { proc, base: url };
    };

    beforeAll(async () => {
      tusDir = `.data/test-tus/${uniquePrefix('tus_cl')}`;
      stack = await startStack('tus_cluster', { TUS_DIR: tusDir });
      [one, two] = await Promise.all([spawnApi(stack.env), spawnApi(stack.env)]);
      dave = await register(stack.api, 'dave');
    }, 90_000);
    afterAll(async () => {
      await Promise.all([one?.proc.kill(), two?.proc.kill()]);
      await stack?.close();
    });

    it('created on one process, continued on the other, finished on the first', async () => {
      const png = await noisePng(300, 300);
      const created = await create(one.base, dave, png.length);
      expect(created.status).toBe(201);
      const location = created.headers.location;
      expect((await patch(two.base, dave, location, 0, png.subarray(0, 120_000))).status).toBe(204);
      expect((await head(one.base, dave, location)).headers['upload-offset']).toBe('120000');
      const last = await patch(one.base, dave, location, 120_000, png.subarray(120_000));
      expect(last.status, last.body).toBe(201);
      expect(JSON.parse(last.body)).toMatchObject({ user_id: dave.id, sha256: sha256(png) });
    });

    it('a PATCH on process B while process A holds the lock: A is asked to let go (Redis), B waits for it, then gets 409; bytes stay whole', async () => {
      const png = await noisePng(500, 500); // ~750 kB, trickled over ~6 s
      const created = await create(one.base, dave, png.length);
      const location = created.headers.location;
      const slow = patch(one.base, dave, location, 0, trickle(png, 16 * 1024, 120), png.length);
      // Watch the shared staging file, not HEAD: a HEAD would take the lock itself.
      const staged = () => filesIn(join(tusDir, String(dave.id))).filter((f) => !f.endsWith('.json'));
      await waitFor(async () => staged().some((f) => statSync(f).size > 0), 10_000, 'A to start writing');
      const started = Date.now();
      const competing = await patch(two.base, dave, location, 0, png);
      const waited = Date.now() - started;
      expect(competing.status, competing.body).toBe(409); // it waited for the lock, then found bytes already there
      const first = await slow.catch(() => undefined);
      if (first) expect([204, 409]).toContain(first.status);
      expect(waited).toBeGreaterThan(500); // it did wait for A's request to wind down
      const at = Number((await head(two.base, dave, location)).headers['upload-offset']);
      expect(at).toBeGreaterThan(0);
      expect(at).toBeLessThan(png.length);
      const rest = await patch(two.base, dave, location, at, png.subarray(at));
      expect(rest.status, rest.body).toBe(201);
      expect(JSON.parse(rest.body).sha256).toBe(sha256(png));
    }, 30_000);

    it('60 creations at once spread over both processes: exactly TUS_MAX_PENDING_PER_USER (20) get 201; a DELETE on one frees a slot on the other', async () => {
      const gina = await register(stack.api, 'gina');
      const all = await Promise.all(Array.from({ length: 60 }, (_, i) => create((i % 2 ? one : two).base, gina, 100)));
      const created = all.filter((r) => r.status === 201);
      expect(created).toHaveLength(20);
      for (const res of all.filter((r) => r.status !== 201)) expect(res.status, res.body).toBe(429);
      expect((await create(one.base, gina, 100)).status).toBe(429);
      expect((await send(one.base, 'DELETE', created[0].headers.location, tusHeaders(gina))).status).toBe(204);
      expect((await create(two.base, gina, 100)).status).toBe(201);
      expect((await create(one.base, gina, 100)).status).toBe(429);
    });
  },
);

describe.skipIf(!servicesUp())('RedisLocker (the shared Redis, a private key prefix)', () => {
  const clients: Redis[] = [];
  const newLocker = (options: { ttlMs?: number; acquireTimeoutMs?: number } = {}, prefix = uniquePrefix('tuslock')) => {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const subscriber = new Redis(REDIS_URL);
    clients.push(redis, subscriber);
    return { locker: new RedisLocker(redis, subscriber, { prefix, ...options }), redis, prefix };
  };
  const never = () => new AbortController().signal;
  afterAll(() => clients.forEach((c) => c.disconnect()));

  it('a second locker (another process) waits, asks the holder to let go over pub/sub, and gets the lock once it is released', async () => {
    const { locker: a, prefix } = newLocker();
    const { locker: b } = newLocker({}, prefix);
    let asked = 0;
    const held = a.newLock('u/1');
    await held.lock(never(), () => void asked++);
    const started = Date.now();
    const waiting = b.newLock('u/1').lock(never(), () => undefined);
    await waitFor(async () => asked > 0, 3000, 'the release request to reach the holder');
    await new Promise((r) => setTimeout(r, 200));
    await held.unlock();
    await waiting;
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(asked).toBeGreaterThanOrEqual(1);
  });

  it('a held lock is renewed past its TTL; a waiter times out (→ 423) instead of taking it', async () => {
    const { locker: a, prefix } = newLocker({ ttlMs: 300 });
    const { locker: b } = newLocker({ ttlMs: 300, acquireTimeoutMs: 900 }, prefix);
    const held = a.newLock('u/2');
    await held.lock(never(), () => undefined);
    await expect(b.newLock('u/2').lock(never(), () => undefined)).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT);
    expect(tusErrorToDrf(ERRORS.ERR_LOCK_TIMEOUT)).toMatchObject({ status: 423, headers: { 'retry-after': '1' } });
    await held.unlock();
  });

  it("a crashed holder's lock expires by itself after its TTL", async () => {
    const { locker, redis } = newLocker({ ttlMs: 400 });
    await redis.set(locker.key('u/3'), 'a-process-that-died', 'PX', 400);
    const started = Date.now();
    const lock = locker.newLock('u/3');
    await lock.lock(never(), () => undefined);
    expect(Date.now() - started).toBeGreaterThan(200);
    await lock.unlock();
    expect(await redis.exists(locker.key('u/3'))).toBe(0);
  });

  it('a waiter whose request is aborted stops waiting at once', async () => {
    const { locker } = newLocker({ acquireTimeoutMs: 10_000 });
    const held = locker.newLock('u/4');
    await held.lock(never(), () => undefined);
    const abort = new AbortController();
    const started = Date.now();
    const waiting = locker.newLock('u/4').lock(abort.signal, () => undefined);
    setTimeout(() => abort.abort(), 100);
    await expect(waiting).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT);
    expect(Date.now() - started).toBeLessThan(1000);
    await held.unlock();
  });

  it("a holder whose lock vanished (expired under it) is asked to stop; unlock never deletes another holder's lock", async () => {
    const { locker, redis } = newLocker({ ttlMs: 300 });
    let asked = 0;
    const lock = locker.newLock('u/5');
    await lock.lock(never(), () => void asked++);
    await redis.set(locker.key('u/5'), 'someone-else', 'PX', 5000); // as if it had expired and been taken
    await waitFor(async () => asked > 0, 2000, 'the lost-lock release request');
    await lock.unlock();
    expect(await redis.get(locker.key('u/5'))).toBe('someone-else');
  });
});
