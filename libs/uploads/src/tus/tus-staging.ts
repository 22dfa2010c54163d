import { opendir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The tus staging directory as @tus/file-store lays it out for Echo's ids (`<user>/<hex>`):
 * `<dir>/<user>/<hex>` (the bytes) and `<hex>.json` beside it (size, metadata, creation date).
 * Hand-written because FileStore's own expiry lists only the top level of the directory.
 */
export class TusStaging {
  constructor(
    readonly dir: string,
    readonly expiryMs: number,
    /** Told of each upload the sweep removed (its tus id), after its files are gone: frees its slot. */
    private readonly onExpired?: (id: string) => Promise<void>,
  ) {}

  /** The tus ids of the user's unfinished uploads (by their info files). */
  async pendingIds(userId: number): Promise<string[]> {
    const ids: string[] = [];
    for (const name of await this.names(join(this.dir, String(userId))))
      if (/^[0-9a-f]{32}\.json$/.test(name)) ids.push(`${userId}/${name.slice(0, -5)}`);
    return ids;
  }

  /**
   * Removes uploads created more than TUS_EXPIRY ago (bytes and info), and bytes whose info file
   * never got written (a crash inside create) once they are that old. Returns how many went.
   */
  async sweepExpired(now = Date.now()): Promise<number> {
    const expiryMs = this.expiryMs;
    let removed = 0;
    for (const user of await this.names(this.dir)) {
      if (!/^\d+$/.test(user)) continue;
      const userDir = join(this.dir, user);
      const names = await this.names(userDir);
      const infos = new Set(names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)));
      for (const name of names) {
        if (!/^[0-9a-f]{32}(\.json)?$/.test(name)) continue;
        const base = name.replace(/\.json$/, '');
        if (name === base && infos.has(base)) continue; // judged by its info file
        const created =
          name === base ? await this.mtime(join(userDir, name)) : await this.createdAt(join(userDir, name));
        if (created === undefined || now - created <= expiryMs) continue;
        await Promise.all([
          rm(join(userDir, base), { force: true }),
          rm(join(userDir, `${base}.json`), { force: true }),
        ]);
        await this.onExpired?.(`${user}/${base}`);
        removed++;
      }
    }
    return removed;
  }

  private async createdAt(infoPath: string): Promise<number | undefined> {
    try {
      const info = JSON.parse(await readFile(infoPath, 'utf8')) as { creation_date?: string };
      const time = info.creation_date ? Date.parse(info.creation_date) : NaN;
      return Number.isFinite(time) ? time : this.mtime(infoPath);
    } catch {
      return this.mtime(infoPath); // unreadable info: its age decides
    }
  }

  private async mtime(path: string): Promise<number | undefined> {
    return (await stat(path).catch(() => undefined))?.mtimeMs;
  }

  private async names(dir: string): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const entry of await opendir(dir)) names.push(entry.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return names;
  }
}
