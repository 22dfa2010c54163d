import { randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import {
  access,
  mkdir,
  open,
  opendir,
  realpath,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  assertRange,
  assertSafeKey,
  assertSafePrefix,
  StorageNotFoundError,
  UnsafeStorageKeyError,
  type StorageDriver,
} from './storage.driver.js';

/** Suffix of in-progress writes; `<final>.<uuid>.partial` is renamed to `<final>` when complete. */
export const PARTIAL_SUFFIX = '.partial';

/**
 * Files under one root directory. Writes go to a uniquely named `.partial` sibling and are renamed
 * into place, so readers never see half files and concurrent writers of one key cannot clobber
 * each other's partial file. Every path is resolved and checked to stay inside the root.
 * A crash mid-write can leave a `.partial` file: it is listed by `listOlderThan` like any other
 * file, so the orphan sweeper (which lists `tmp/`, where uploads are written) removes it.
 */
export class LocalStorageDriver implements StorageDriver {
  private root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
  }

  /** Creates the root directory (and resolves symlinks in its path). Called once on start. */
  async init(): Promise<this> {
    await mkdir(this.root, { recursive: true });
    this.root = await realpath(this.root);
    return this;
  }

  get rootDir(): string {
    return this.root;
  }

  async put(key: string, body: Readable | Buffer, _meta?: { contentType?: string }): Promise<{ size: number }> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    const partial = `${target}.${randomUUID()}${PARTIAL_SUFFIX}`;
    try {
      let size: number;
      if (Buffer.isBuffer(body)) {
        await writeFile(partial, body, { flag: 'wx' });
        size = body.length;
      } else {
        const out = createWriteStream(partial, { flags: 'wx' });
        // pipeline rejects on a source error and on premature close (a destroyed/aborted source).
        await pipeline(body, out);
        size = out.bytesWritten;
      }
      await rename(partial, target);
      return { size };
    } catch (err) {
      await rm(partial, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** On disk a stream is already written without buffering: the same as `put`. */
  putStream(key: string, body: Readable, meta?: { contentType?: string }): Promise<{ size: number }> {
    return this.put(key, body, meta);
  }

  async move(from: string, to: string): Promise<void> {
    const src = this.path(from);
    const dst = this.path(to);
    await mkdir(dirname(dst), { recursive: true });
    try {
      await rename(src, dst);
    } catch (err) {
      if (isMissing(err)) throw new StorageNotFoundError(from);
      throw err;
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    if (range) assertRange(range);
    const file = this.path(key);
    // Open eagerly so a missing key rejects here instead of erroring the stream later.
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      if (isMissing(err)) throw new StorageNotFoundError(key);
      throw err;
    }
    try {
      if (!(await handle.stat()).isFile()) throw new StorageNotFoundError(key);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  async stat(key: string): Promise<{ size: number; modifiedAt: Date } | null> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size, modifiedAt: s.mtime } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.path(key));
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let at = 0; at < keys.length; at += 32) await Promise.all(keys.slice(at, at + 32).map((k) => this.delete(k)));
  }

  async *listOlderThan(prefix: string, olderThan: Date): AsyncIterable<string> {
    assertSafePrefix(prefix);
    // Walk the deepest directory the prefix names, then filter by the full string prefix (S3 semantics).
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = dirKey ? this.path(dirKey) : this.root;
    const cutoff = olderThan.getTime();
    for await (const key of this.walk(start, dirKey)) {
      if (!key.startsWith(prefix)) continue;
      const s = await stat(join(this.root, ...key.split('/'))).catch(() => null); // may vanish meanwhile
      if (s?.isFile() && s.mtime.getTime() < cutoff) yield key;
    }
  }

  async ping(): Promise<void> {
    await access(this.root, constants.R_OK | constants.W_OK);
    if (!(await stat(this.root)).isDirectory()) throw new Error(`Storage root is not a directory: ${this.root}`);
  }

  /** Regular files below `dir` as keys; never follows symlinks. */
  private async *walk(dir: string, dirKey: string): AsyncGenerator<string> {
    let entries;
    try {
      entries = await opendir(dir);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for await (const entry of entries) {
      const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
      if (!isSafeKey(key)) continue; // a file nobody here wrote (keys are generated): not ours to list
      if (entry.isDirectory()) yield* this.walk(join(dir, entry.name), key);
      else if (entry.isFile()) yield key;
    }
  }

  /** The absolute path of a key, guaranteed to be strictly inside the root. */
  private path(key: string): string {
    assertSafeKey(key);
    const full = resolve(this.root, ...key.split('/'));
    const base = this.root.endsWith(sep) ? this.root : this.root + sep;
    if (!full.startsWith(base)) throw new UnsafeStorageKeyError(key, 'resolves outside the storage root');
    return full;
  }
}

function isSafeKey(key: string): boolean {
  try {
    assertSafeKey(key);
    return true;
  } catch {
    return false;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
