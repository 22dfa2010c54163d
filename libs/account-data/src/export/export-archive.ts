import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PHOTOS_DIR, safeFileName, UniqueNames } from './archive-names.js';
import { ZipWriter } from './zip-writer.js';

/** One upload as the archive needs it: its wire object, its latest analysis, how to read its bytes. */
export interface ExportItem {
  id: string;
  originalName: string;
  contentType: string;
  size: number;
  /** The ZIP entry's modification time: when the photo was taken, else uploaded. */
  mtime: Date;
  /** uploads.json's record, before the archive adds `file`. */
  record: Record<string, unknown>;
}

/** Where an export's data comes from (the database and storage, or a spec's fixtures). */
export interface ExportSource {
  /** profile.json's content. */
  profile(): Promise<Record<string, unknown>>;
  /** How many uploads there are (progress only; pages may end up longer or shorter). */
  count(): Promise<number>;
  /** Every upload, a page at a time, in a stable order. */
  pages(): AsyncIterable<ExportItem[]>;
  /** The original's bytes, or null when storage has no object for it (listed as missing). */
  open(item: ExportItem): Promise<Readable | null>;
}

export interface ArchiveResult {
  size: number;
  files: number;
  missing: number;
}

export interface ArchiveOptions {
  exportId: string;
  /** Where uploads.json is assembled while the originals are written (a private temp file). */
  spoolDir: string;
  /** Called after each original; may throw to stop the export (it was cancelled). */
  onFile?: (done: number, total: number) => Promise<void>;
  now?: Date;
}

/**
 * Writes one export archive into `sink` (a storage put that reads the stream to its end):
 *
 *   profile.json   the account (deflated)
 *   photos/…       every original, byte for byte, under its sanitised, de-duplicated file name
 *   uploads.json   every upload with its latest analysis and its `file` in the archive (deflated)
 *
 * Originals are stored, not deflated: JPEG, PNG, WebP, GIF, AVIF and HEIC are already compressed,
 * so deflate would spend a core to gain ~0-2 % and make CPU, not I/O, the limit of an export.
 * Memory stays flat: one original is copied at a time (the next one opened meanwhile), the
 * uploads are read a page at a time, and uploads.json is assembled in a temp file, because each
 * record names the file it got in the archive. What grows with the number of uploads is only
 * yazl's central directory and the set of names taken (tens of bytes per upload).
 */
export async function writeExportArchive(
  source: ExportSource,
  sink: (archive: Readable) => Promise<{ size: number }>,
  options: ArchiveOptions,
): Promise<ArchiveResult> {
  const zip = new ZipWriter();
  const stored = sink(zip.output);
  // A failed put (storage down, disk full) must stop the loop below, which may wait on yazl.
  stored.catch((err: Error) => zip.abort(err));
  const spoolPath = join(options.spoolDir, `echo-export-${options.exportId}-${randomUUID()}.json`);
  let spool: WriteStream | undefined;
  try {
    const now = options.now ?? new Date();
    const total = await source.count();
    zip.addBuffer('profile.json', Buffer.from(JSON.stringify(await source.profile(), null, 2) + '\n'), now);

    // Personal data: readable by this user only, removed in `finally`.
    spool = createWriteStream(spoolPath, { flags: 'wx', mode: 0o600 });
    spool.on('error', (err) => zip.abort(err));
    const write = async (text: string) => {
      if (!spool!.write(text)) await Promise.race([once(spool!, 'drain'), zip.failedPromise]);
    };
    await write(`{\n  "export_id": ${JSON.stringify(options.exportId)},\n  "exported_at": "${now.toISOString()}",\n`);
    await write('  "uploads": [');

    const names = new UniqueNames();
    let files = 0;
    let missing = 0;
    let first = true;
    for await (const page of source.pages()) {
      for (const item of page) {
        const original = await source.open(item);
        let file: string | null = null;
        if (original) {
          file = `${PHOTOS_DIR}/${names.take(safeFileName(item.originalName, item.contentType, item.id))}`;
          await zip.addStream(file, original, { compress: false, mtime: item.mtime, size: item.size });
          files++;
        } else {
          missing++;
        }
        const record = { ...item.record, file, ...(original ? {} : { file_missing: true }) };
        await write(`${first ? '' : ','}\n    ${indent(JSON.stringify(record, null, 2), '    ')}`);
        first = false;
        await options.onFile?.(files + missing, Math.max(total, files + missing));
      }
    }
    await write(`${first ? '' : '\n  '}],\n  "count": ${files + missing},\n  "missing_files": ${missing}\n}\n`);
    spool.end();
    await Promise.race([once(spool, 'close'), zip.failedPromise]);

    await zip.addStream('uploads.json', createReadStream(spoolPath), { compress: true, mtime: now });
    await zip.end();
    const { size } = await stored;
    return { size, files, missing };
  } catch (err) {
    zip.abort(err as Error);
    await stored.catch(() => undefined);
    throw err;
  } finally {
    spool?.destroy();
    await rm(spoolPath, { force: true }).catch(() => undefined);
  }
}

const indent = (json: string, pad: string) => json.replace(/\n/g, `\n${pad}`);
