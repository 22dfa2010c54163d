import { opendir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { LocalStorageDriver, previewKey, STORAGE, thumbnailKey, type StorageDriver } from '@echo/storage';
import { userPrefixes } from '../user-prefixes.js';

/** Keys per deleteMany: one S3 DeleteObjects request. */
const SWEEP_BATCH = 1000;
/** Every object, whatever its age (listOlderThan's bound). */
const ANY_AGE = new Date(8.64e15);

/** A user's files: in storage (local disk or S3) and their unfinished tus uploads (local staging). */
@Injectable()
export class PurgeStorage {
  constructor(
    @Inject(STORAGE) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The original, thumbnail and preview of each upload; returns the deletes sent (missing keys are no-ops). */
  async deleteUploadFiles(userId: number, uploads: readonly { id: string; storageKey: string }[]): Promise<number> {
    const keys = uploads.flatMap((u) => [u.storageKey, thumbnailKey(userId, u.id), previewKey(userId, u.id)]);
    await this.storage.deleteMany(keys);
    return keys.length;
  }

  /**
   * Everything left under the user's prefixes, whatever wrote it (a row-less object, a partial
   * write, a rendition an analysis wrote meanwhile, an export archive), listed in pages; returns
   * how many objects there were. Local storage also loses the emptied directories.
   */
  async sweepPrefixes(userId: number): Promise<number> {
    let removed = 0;
    for (const prefix of userPrefixes(userId)) {
      let batch: string[] = [];
      const flush = async () => {
        await this.storage.deleteMany(batch);
        removed += batch.length;
        batch = [];
      };
      for await (const key of this.storage.listOlderThan(prefix, ANY_AGE)) {
        batch.push(key);
        if (batch.length >= SWEEP_BATCH) await flush();
      }
      await flush();
      if (this.storage instanceof LocalStorageDriver) await removeEmptyDirs(join(this.storage.rootDir, prefix));
    }
    return removed;
  }

  /** The user's tus staging directory (bytes and info files); returns how many unfinished uploads it held. */
  async removeTusUploads(userId: number): Promise<number> {
    const dir = join(this.config.uploads.tus.dir, String(userId));
    let uploads = 0;
    try {
      for await (const entry of await opendir(dir)) if (entry.name.endsWith('.json')) uploads++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    await rm(dir, { recursive: true, force: true });
    return uploads;
  }
}

/** Removes `dir` and the empty directories below it; one that is not empty (a write just landed) stays. */
async function removeEmptyDirs(dir: string): Promise<void> {
  let entries;
  try {
    entries = await opendir(dir);
  } catch {
    return;
  }
  for await (const entry of entries) if (entry.isDirectory()) await removeEmptyDirs(join(dir, entry.name));
  await rmdir(dir).catch(() => undefined);
}
