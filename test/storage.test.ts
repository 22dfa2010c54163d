import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Test } from '@nestjs/testing';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { loadConfig } from '@echo/config';
import { S3_CREDENTIALS, startLoopbackS3 } from './support/s3.js';
import { S3StorageDriver } from '../libs/storage/src/s3-storage.driver.js';
import {
  assertSafeKey,
  LocalStorageDriver,
  objectKey,
  STORAGE,
  StorageModule,
  StorageNotFoundError,
  tempKey,
  thumbnailKey,
  UnsafeStorageKeyError,
  type StorageDriver,
} from '@echo/storage';

const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

const readAll = (stream: Readable): Promise<Buffer> => buffer(stream);

/** A Readable that yields `data` in 64 KiB chunks (asynchronously, like a socket). */
function chunked(data: Buffer, chunk = 64 * 1024): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < data.length; i += chunk) {
        await new Promise((r) => setImmediate(r));
        yield data.subarray(i, i + chunk);
      }
    })(),
    { objectMode: false },
  );
}

/** Yields `bytesBefore` bytes, then errors (a broken upload). */
function failing(bytesBefore: number): Readable {
  return Readable.from(
    (async function* () {
      for (let sent = 0; sent < bytesBefore; sent += 64 * 1024) {
        await new Promise((r) => setImmediate(r));
        yield randomBytes(64 * 1024);
      }
      throw new Error('client went away');
    })(),
    { objectMode: false },
  );
}

/** Pushes some bytes then is destroyed without an error (an aborted request). */
function aborted(bytesBefore: number): Readable {
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= bytesBefore) {
        setImmediate(() => stream.destroy());
        return;
      }
      sent += 64 * 1024;
      setImmediate(() => stream.push(randomBytes(64 * 1024)));
    },
  });
  return stream;
}

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const k of it) out.push(k);
  return out;
}

/** Every regular file below `dir`, relative to it, with '/' separators. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'));
}

interface Harness {
  driver: StorageDriver;
  /** Makes a key look old (local only: S3 has no way to backdate LastModified). */
  backdate?: (key: string, to: Date) => Promise<void>;
  /** Asserts nothing but the listed keys exists in the backing store (no partial leftovers). */
  keysOnDisk?: () => Promise<string[]>;
  close: () => Promise<void>;
}

const harnesses: Array<{ name: string; start: () => Promise<Harness> }> = [
  {
    name: 'local',
    start: async () => {
      const base = await mkdtemp(join(tmpdir(), 'echo-storage-local-'));
      const driver = await new LocalStorageDriver(join(base, 'root')).init();
      return {
        driver,
        backdate: (key, to) => utimes(join(driver.rootDir, ...key.split('/')), to, to),
        keysOnDisk: () => filesUnder(driver.rootDir),
        close: () => rm(base, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 's3 (s3rver)',
    start: async () => {
      const s3 = await startLoopbackS3();
      const driver = new S3StorageDriver({
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        region: 'us-east-1',
        ...S3_CREDENTIALS,
        forcePathStyle: true,
      });
      return {
        driver,
        close: async () => {
          driver.onApplicationShutdown();
          await s3.close();
        },
      };
    },
  },
];

describe.each(harnesses)('StorageDriver contract: $name', ({ start }) => {
  let h: Harness;
  let driver: StorageDriver;
  const big = randomBytes(3 * 1024 * 1024 + 123); // 3 MB + an odd tail

  beforeAll(async () => {
    h = await start();
    driver = h.driver;
  });
  afterAll(() => h?.close());

  it('answers ping', async () => {
    await expect(driver.ping()).resolves.toBeUndefined();
  });

  it('puts a Buffer and gets the same bytes back', async () => {
    const key = objectKey(1, 'buffer');
    const data = randomBytes(10_000);
    await expect(driver.put(key, data, { contentType: 'image/png' })).resolves.toEqual({ size: 10_000 });
    expect(sha256(await readAll(await driver.get(key)))).toBe(sha256(data));
    expect((await driver.stat(key))?.size).toBe(10_000);
  });

  it('puts a 3 MB stream and gets the same bytes back', async () => {
    const key = tempKey();
    await expect(driver.put(key, chunked(big), { contentType: 'image/jpeg' })).resolves.toEqual({ size: big.length });
    const back = await readAll(await driver.get(key));
    expect(back.length).toBe(big.length);
    expect(sha256(back)).toBe(sha256(big));
    const st = await driver.stat(key);
    expect(st?.size).toBe(big.length);
    expect(st?.modifiedAt).toBeInstanceOf(Date);
    expect(Math.abs(st!.modifiedAt.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('overwrites an existing key', async () => {
    const key = objectKey(1, 'overwrite');
    await driver.put(key, Buffer.from('first version, longer'));
    await driver.put(key, chunked(Buffer.from('second')));
    expect((await readAll(await driver.get(key))).toString()).toBe('second');
  });

  it('returns exact inclusive byte ranges', async () => {
    const key = objectKey(1, 'ranged');
    await driver.put(key, chunked(big));
    const slice = async (start: number, end: number) => readAll(await driver.get(key, { start, end }));
    expect((await slice(1000, 1999)).equals(big.subarray(1000, 2000))).toBe(true);
    expect((await slice(0, 0)).equals(big.subarray(0, 1))).toBe(true);
    expect((await slice(big.length - 10, big.length - 1)).equals(big.subarray(big.length - 10))).toBe(true);
    expect(sha256(await slice(65_530, 2_000_000))).toBe(sha256(big.subarray(65_530, 2_000_001)));
    await expect(driver.get(key, { start: 5, end: 4 })).rejects.toThrow(RangeError);
  });

  it('does not show an object until its put completes', async () => {
    const key = tempKey();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const source = Readable.from(
      (async function* () {
        yield randomBytes(64 * 1024);
        await gate;
        yield randomBytes(64 * 1024);
      })(),
      { objectMode: false },
    );
    const putting = driver.put(key, source);
    await new Promise((r) => setTimeout(r, 50));
    expect(await driver.stat(key)).toBeNull();
    await expect(driver.get(key)).rejects.toBeInstanceOf(StorageNotFoundError);
    release();
    await expect(putting).resolves.toEqual({ size: 128 * 1024 });
    expect((await driver.stat(key))?.size).toBe(128 * 1024);
  });

  it('moves an object: old key gone, new key has the bytes', async () => {
    const from = tempKey();
    const to = objectKey(7, 'moved');
    await driver.put(from, chunked(big));
    await driver.move(from, to);
    expect(await driver.stat(from)).toBeNull();
    await expect(driver.get(from)).rejects.toBeInstanceOf(StorageNotFoundError);
    expect(sha256(await readAll(await driver.get(to)))).toBe(sha256(big));
    expect((await driver.stat(to))?.size).toBe(big.length);
  });

  it('rejects moving a missing key', async () => {
    await expect(driver.move(tempKey(), objectKey(7, 'nothing'))).rejects.toBeInstanceOf(StorageNotFoundError);
    expect(await driver.stat(objectKey(7, 'nothing'))).toBeNull();
  });

  it('deletes idempotently', async () => {
    const key = thumbnailKey(3, 'thumb');
    await driver.put(key, Buffer.from('webp'), { contentType: 'image/webp' });
    await driver.delete(key);
    expect(await driver.stat(key)).toBeNull();
    await expect(driver.delete(key)).resolves.toBeUndefined();
    await expect(driver.delete(objectKey(999, 'never-existed'))).resolves.toBeUndefined();
  });

  it('deleteMany removes every key given (missing ones are no-ops) and nothing else', async () => {
    const keys = Array.from({ length: 1005 }, (_, i) => objectKey(31, `many-${i}`));
    for (let at = 0; at < keys.length; at += 50)
      await Promise.all(keys.slice(at, at + 50).map((k) => driver.put(k, Buffer.from('x'))));
    await driver.put(objectKey(31, 'keep'), Buffer.from('k'));
    await driver.deleteMany([...keys, objectKey(31, 'never-existed')]);
    for (const k of [keys[0], keys[999], keys[1000], keys[1004]]) expect(await driver.stat(k), k).toBeNull();
    expect(await driver.stat(objectKey(31, 'keep'))).not.toBeNull();
    await expect(driver.deleteMany(['../x'])).rejects.toBeInstanceOf(UnsafeStorageKeyError);
  }, 60_000);

  it('stat of a missing key is null; get of a missing key rejects', async () => {
    expect(await driver.stat(objectKey(404, 'missing'))).toBeNull();
    expect(await driver.stat('no-such-dir/deeper/missing')).toBeNull();
    await expect(driver.get(objectKey(404, 'missing'))).rejects.toBeInstanceOf(StorageNotFoundError);
    await expect(driver.get(objectKey(404, 'missing'), { start: 0, end: 9 })).rejects.toBeInstanceOf(
      StorageNotFoundError,
    );
  });

  it('a source stream that errors mid-way rejects put and leaves nothing behind', async () => {
    const before = await h.keysOnDisk?.();
    const key = tempKey();
    await expect(driver.put(key, failing(512 * 1024))).rejects.toThrow('client went away');
    expect(await driver.stat(key)).toBeNull();
    if (h.keysOnDisk) expect(await h.keysOnDisk()).toEqual(before);
  });

  it('a source stream destroyed mid-way (client abort) rejects put and leaves nothing behind', async () => {
    const before = await h.keysOnDisk?.();
    const key = tempKey();
    await expect(driver.put(key, aborted(256 * 1024))).rejects.toThrow();
    expect(await driver.stat(key)).toBeNull();
    if (h.keysOnDisk) expect(await h.keysOnDisk()).toEqual(before);
  });

  it('a failed overwrite keeps the previous object intact', async () => {
    const key = objectKey(1, 'keep');
    await driver.put(key, Buffer.from('original'));
    await expect(driver.put(key, failing(128 * 1024))).rejects.toThrow('client went away');
    expect((await readAll(await driver.get(key))).toString()).toBe('original');
  });

  it('listOlderThan finds old temp keys, not new ones, and only under the prefix', async () => {
    const oldKey = tempKey();
    const newKey = tempKey();
    const other = objectKey(55, 'not-temp');
    await driver.put(oldKey, Buffer.from('old'));
    await driver.put(newKey, Buffer.from('new'));
    await driver.put(other, Buffer.from('other'));
    const hourAgo = new Date(Date.now() - 3600_000);

    if (h.backdate) {
      await h.backdate(oldKey, new Date(Date.now() - 2 * 3600_000));
      await h.backdate(other, new Date(Date.now() - 2 * 3600_000));
      const found = await collect(driver.listOlderThan('tmp/', hourAgo));
      expect(found).toContain(oldKey);
      expect(found).not.toContain(newKey);
      expect(found).not.toContain(other);
    } else {
      // S3 LastModified cannot be backdated: an hour ago finds neither, an hour ahead finds both.
      const none = await collect(driver.listOlderThan('tmp/', hourAgo));
      expect(none).not.toContain(oldKey);
      expect(none).not.toContain(newKey);
    }
    const future = await collect(driver.listOlderThan('tmp/', new Date(Date.now() + 3600_000)));
    expect(future).toEqual(expect.arrayContaining([oldKey, newKey]));
    expect(future).not.toContain(other);
    expect(future.every((k) => k.startsWith('tmp/'))).toBe(true);

    // The sweeper's loop: delete what is listed.
    for await (const key of driver.listOlderThan('tmp/', new Date(Date.now() + 3600_000))) await driver.delete(key);
    expect(await collect(driver.listOlderThan('tmp/', new Date(Date.now() + 3600_000)))).toEqual([]);
    expect(await driver.stat(other)).not.toBeNull();
    expect(await collect(driver.listOlderThan('nothing-here/', new Date(Date.now() + 3600_000)))).toEqual([]);
  });

  it('rejects unsafe keys in every method', async () => {
    for (const bad of ['../x', '/abs', 'a//b', 'a\u0000b', 'a\\b', '', 'a/', 'a/../../b', '.']) {
      await expect(driver.put(bad, Buffer.from('x'))).rejects.toBeInstanceOf(UnsafeStorageKeyError);
      await expect(driver.get(bad)).rejects.toBeInstanceOf(UnsafeStorageKeyError);
      await expect(driver.stat(bad)).rejects.toBeInstanceOf(UnsafeStorageKeyError);
      await expect(driver.delete(bad)).rejects.toBeInstanceOf(UnsafeStorageKeyError);
      await expect(driver.move(bad, 'ok/key')).rejects.toBeInstanceOf(UnsafeStorageKeyError);
      await expect(driver.move('ok/key', bad)).rejects.toBeInstanceOf(UnsafeStorageKeyError);
    }
    await expect(collect(driver.listOlderThan('../', new Date()))).rejects.toBeInstanceOf(UnsafeStorageKeyError);
  });
});

describe('key helpers', () => {
  it('generates the documented key shapes', () => {
    expect(tempKey()).toMatch(/^tmp\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(tempKey()).not.toBe(tempKey());
    expect(objectKey(42, 'abc')).toBe('42/abc');
    expect(thumbnailKey(42, 'abc')).toBe('thumbs/42/abc.webp');
    expect(() => objectKey('..', 'x')).toThrow(UnsafeStorageKeyError);
    expect(() => thumbnailKey(1, '../../etc/passwd')).toThrow(UnsafeStorageKeyError);
  });

  it('assertSafeKey rejects traversal, absolute paths, empty segments, NUL and backslashes', () => {
    for (const bad of ['../x', '/abs', 'a//b', 'a\u0000b', 'a\\b', '', 'a/', 'x/..', './x', 'a\nb']) {
      expect(() => assertSafeKey(bad), JSON.stringify(bad)).toThrow(UnsafeStorageKeyError);
    }
    for (const good of ['tmp/0b0c', '1/2', 'thumbs/1/2.webp', 'a..b', '.hidden/x']) {
      expect(() => assertSafeKey(good), good).not.toThrow();
    }
  });
});

describe('LocalStorageDriver confinement', () => {
  let base: string;
  let driver: LocalStorageDriver;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'echo-storage-jail-'));
    await mkdir(join(base, 'outside'));
    await writeFile(join(base, 'outside', 'secret'), 'secret');
    driver = new LocalStorageDriver(join(base, 'nested', 'root'));
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  it('creates its root on start', async () => {
    await driver.init();
    expect(await readdir(join(base, 'nested'))).toEqual(['root']);
  });

  it('never writes, reads or deletes outside its root', async () => {
    const hostile = [
      '../outside/secret',
      '../../outside/secret',
      '/etc/passwd',
      `${base}/outside/secret`,
      'a/../../outside/secret',
    ];
    for (const key of hostile) {
      await expect(driver.put(key, Buffer.from('pwned'))).rejects.toBeInstanceOf(UnsafeStorageKeyError);
      await expect(driver.put(key, chunked(Buffer.from('pwned')))).rejects.toBeInstanceOf(UnsafeStorageKeyError);
      await expect(driver.get(key)).rejects.toBeInstanceOf(UnsafeStorageKeyError);
      await expect(driver.delete(key)).rejects.toBeInstanceOf(UnsafeStorageKeyError);
      await expect(driver.move('tmp/x', key)).rejects.toBeInstanceOf(UnsafeStorageKeyError);
    }
    // Normal traffic, including failed writes.
    await driver.put(tempKey(), chunked(randomBytes(200_000)));
    await driver.put(objectKey(1, 'a'), Buffer.from('a'));
    await driver.move(objectKey(1, 'a'), objectKey(1, 'b'));
    await expect(driver.put(tempKey(), failing(100_000))).rejects.toThrow();

    const everything = await filesUnder(base);
    const outsideRoot = everything.filter((f) => !f.startsWith('nested/root/'));
    expect(outsideRoot).toEqual(['outside/secret']);
    expect(everything.some((f) => f.endsWith('.partial'))).toBe(false);
  });

  it('lists nothing outside its root', async () => {
    const all = await collect(driver.listOlderThan('', new Date(Date.now() + 3600_000)));
    expect(all.length).toBeGreaterThan(0);
    expect(all.every((k) => !k.includes('..') && !k.startsWith('/'))).toBe(true);
    expect(all).not.toContain('outside/secret');
  });
});

describe('StorageModule', () => {
  it('provides the local driver by default and the S3 driver with STORAGE_DRIVER=s3', async () => {
    const base = await mkdtemp(join(tmpdir(), 'echo-storage-module-'));
    try {
      const local = await Test.createTestingModule({
        imports: [StorageModule.forRoot(loadConfig({ NODE_ENV: 'test', STORAGE_DIR: join(base, 'store') }))],
      }).compile();
      const localDriver = local.get<StorageDriver>(STORAGE);
      expect(localDriver).toBeInstanceOf(LocalStorageDriver);
      expect(await readdir(base)).toEqual(['store']);
      await local.close();

      const s3 = await Test.createTestingModule({
        imports: [
          StorageModule.forRoot(
            loadConfig({
              NODE_ENV: 'test',
              STORAGE_DRIVER: 's3',
              S3_BUCKET: 'b',
              S3_ENDPOINT: 'http://127.0.0.1:1',
              S3_ACCESS_KEY_ID: 'k',
              S3_SECRET_ACCESS_KEY: 's',
            }),
          ),
        ],
      }).compile();
      const s3Driver = s3.get<StorageDriver>(STORAGE);
      expect(s3Driver).toBeInstanceOf(S3StorageDriver);
      const config = (s3Driver as S3StorageDriver).client.config;
      expect(await config.forcePathStyle).toBe(true);
      expect(await config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
      expect(await config.responseChecksumValidation()).toBe('WHEN_REQUIRED');
      const shutdown = vi.spyOn(s3Driver as S3StorageDriver, 'onApplicationShutdown');
      await s3.close();
      expect(shutdown).toHaveBeenCalledOnce(); // the SDK client's sockets are released on app.close()
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe('S3StorageDriver against s3rver specifics', () => {
  it('stores the content type and the exact streamed length (no aws-chunked framing)', async () => {
    const s3 = await startLoopbackS3('content-type');
    const driver = new S3StorageDriver({
      bucket: 'content-type',
      endpoint: s3.endpoint,
      region: 'us-east-1',
      ...S3_CREDENTIALS,
      forcePathStyle: true,
    });
    try {
      const data = randomBytes(300_000);
      await driver.put('tmp/typed', chunked(data), { contentType: 'image/webp' });
      await driver.move('tmp/typed', '9/typed');
      const head = await driver.client.send(new HeadObjectCommand({ Bucket: 'content-type', Key: '9/typed' }));
      expect(head.ContentType).toBe('image/webp');
      expect(head.ContentLength).toBe(data.length);
      // Spool files are cleaned up.
      expect((await readdir(tmpdir())).filter((f) => f.startsWith('echo-s3-put-'))).toEqual([]);
    } finally {
      driver.onApplicationShutdown();
      await s3.close();
    }
  });
});
