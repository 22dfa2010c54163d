import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as yauzl from 'yauzl';
import { writeExportArchive, type ExportItem, type ExportSource } from './export-archive.js';

/** Every entry of a ZIP: its bytes and compression method (0 stored, 8 deflated). */
async function readZip(zip: Buffer): Promise<Map<string, { data: Buffer; method: number }>> {
  const file = await yauzl.fromBufferPromise(zip, { lazyEntries: true });
  const entries = new Map<string, { data: Buffer; method: number }>();
  await new Promise<void>((resolve, reject) => {
    file.on('entry', (entry: yauzl.Entry) => {
      file.openReadStream(entry, async (err, stream) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        entries.set(entry.fileName, { data: Buffer.concat(chunks), method: entry.compressionMethod });
        file.readEntry();
      });
    });
    file.on('end', resolve);
    file.on('error', reject);
    file.readEntry();
  });
  return entries;
}

const toBuffer = async (stream: Readable) => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

function item(
  id: string,
  name: string,
  data: Buffer | null,
  contentType = 'image/jpeg',
): ExportItem & { data: Buffer | null } {
  return {
    id,
    originalName: name,
    contentType,
    size: data?.length ?? 10,
    mtime: new Date('2024-06-01T12:00:00Z'),
    record: { id, original_name: name },
    data,
  };
}

function source(
  items: Array<ExportItem & { data: Buffer | null }>,
  open?: (i: ExportItem) => Readable | null,
): ExportSource {
  return {
    profile: async () => ({ user: { id: 7, username: 'alice' } }),
    count: async () => items.length,
    async *pages() {
      for (let i = 0; i < items.length; i += 2) yield items.slice(i, i + 2);
    },
    open: async (i) =>
      open
        ? open(i)
        : items.find((x) => x.id === i.id)!.data && Readable.from([items.find((x) => x.id === i.id)!.data!]),
  };
}

describe('writeExportArchive', () => {
  let spoolDir: string;
  beforeAll(async () => {
    spoolDir = await mkdtemp(join(tmpdir(), 'echo-export-spec-'));
  });
  afterAll(() => rm(spoolDir, { recursive: true, force: true }));

  it('writes profile.json, every original byte for byte under a unique name (stored), and uploads.json naming each file', async () => {
    const a = randomBytes(5000);
    const b = randomBytes(7000);
    const c = randomBytes(300);
    const items = [
      item('u1', 'photo.jpg', a),
      item('u2', 'photo.jpg', b),
      item('u3', '../evil.png', c, 'image/png'),
      item('u4', 'gone.jpg', null),
    ];
    let sink: Buffer | undefined;
    const progress: number[] = [];
    const result = await writeExportArchive(
      source(items),
      async (archive) => {
        sink = await toBuffer(archive);
        return { size: sink.length };
      },
      { exportId: 'e1', spoolDir, onFile: async (done) => void progress.push(done) },
    );
    expect(result).toEqual({ size: sink!.length, files: 3, missing: 1 });
    expect(progress).toEqual([1, 2, 3, 4]);

    const entries = await readZip(sink!);
    expect([...entries.keys()].sort()).toEqual(
      ['photos/evil.png', 'photos/photo (2).jpg', 'photos/photo.jpg', 'profile.json', 'uploads.json'].sort(),
    );
    expect(entries.get('photos/photo.jpg')!.data.equals(a)).toBe(true);
    expect(entries.get('photos/photo (2).jpg')!.data.equals(b)).toBe(true);
    expect(entries.get('photos/evil.png')!.data.equals(c)).toBe(true);
    // Originals stored as they are; the JSON deflated.
    expect(entries.get('photos/photo.jpg')!.method).toBe(0);
    expect(entries.get('uploads.json')!.method).toBe(8);
    expect(JSON.parse(entries.get('profile.json')!.data.toString())).toEqual({ user: { id: 7, username: 'alice' } });

    const uploads = JSON.parse(entries.get('uploads.json')!.data.toString());
    expect(uploads.export_id).toBe('e1');
    expect(uploads.count).toBe(4);
    expect(uploads.missing_files).toBe(1);
    expect(uploads.uploads).toEqual([
      { id: 'u1', original_name: 'photo.jpg', file: 'photos/photo.jpg' },
      { id: 'u2', original_name: 'photo.jpg', file: 'photos/photo (2).jpg' },
      { id: 'u3', original_name: '../evil.png', file: 'photos/evil.png' },
      { id: 'u4', original_name: 'gone.jpg', file: null, file_missing: true },
    ]);
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('writes a valid archive for a user with no uploads', async () => {
    let sink: Buffer | undefined;
    await writeExportArchive(source([]), async (archive) => ({ size: (sink = await toBuffer(archive)).length }), {
      exportId: 'e0',
      spoolDir,
    });
    const entries = await readZip(sink!);
    expect(JSON.parse(entries.get('uploads.json')!.data.toString())).toMatchObject({ uploads: [], count: 0 });
  });

  it('stops when onFile throws (cancelled): the sink sees an error, the spool file is gone', async () => {
    const items = [item('u1', 'a.jpg', randomBytes(100)), item('u2', 'b.jpg', randomBytes(100))];
    let sinkError: Error | undefined;
    const run = writeExportArchive(
      source(items),
      (archive) =>
        toBuffer(archive).then(
          (b) => ({ size: b.length }),
          (err: Error) => {
            sinkError = err;
            throw err;
          },
        ),
      {
        exportId: 'e2',
        spoolDir,
        onFile: async () => {
          throw new Error('cancelled');
        },
      },
    );
    await expect(run).rejects.toThrow('cancelled');
    expect(sinkError?.message).toBe('cancelled');
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('fails (no crash, no short file) when an original errors midway or is shorter than its recorded size', async () => {
    const broken = new Readable({
      read() {
        this.push(Buffer.alloc(10));
        this.destroy(new Error('connection reset'));
      },
    });
    const sink = async (archive: Readable) => ({ size: (await toBuffer(archive)).length });
    await expect(
      writeExportArchive(
        source([item('u1', 'a.jpg', Buffer.alloc(50))], () => broken),
        sink,
        { exportId: 'e3', spoolDir },
      ),
    ).rejects.toThrow('connection reset');

    const short = item('u1', 'a.jpg', Buffer.alloc(40));
    short.size = 50;
    await expect(writeExportArchive(source([short]), sink, { exportId: 'e4', spoolDir })).rejects.toThrow(
      /unexpected number of bytes/,
    );
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('stops when the sink fails (storage down) instead of waiting on the archive', async () => {
    const items = Array.from({ length: 6 }, (_, i) => item(`u${i}`, 'x.jpg', randomBytes(200_000)));
    const run = writeExportArchive(
      source(items),
      async (archive) => {
        archive.once('data', () => undefined);
        archive.pause();
        throw new Error('storage unavailable');
      },
      { exportId: 'e5', spoolDir },
    );
    await expect(run).rejects.toThrow('storage unavailable');
  });
});
