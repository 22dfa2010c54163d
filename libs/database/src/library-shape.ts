import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Echo relies on a few library internals that have no public API (see connection-retry.ts,
 * replication.ts, pool-stats.ts). An upgrade can move them without a type error, so each user
 * asserts the shape it needs before relying on it and fails start-up with this error, naming the
 * package, its installed version and the file to revisit. test/library-shape.spec.ts runs the
 * same checks against the installed versions.
 */
export class LibraryShapeError extends Error {
  constructor(pkg: 'typeorm' | 'mysql2', what: string, file: string) {
    super(
      `${pkg} ${installedVersion(pkg)}: ${what}. Echo's ${file} depends on it: revisit that file for this version.`,
    );
    this.name = 'LibraryShapeError';
  }
}

const require = createRequire(import.meta.url);

/** The installed version, read from the package's own package.json (neither exports it). */
export function installedVersion(pkg: 'typeorm' | 'mysql2'): string {
  try {
    // The entry point sits at the package root for both packages.
    const root = dirname(require.resolve(pkg));
    return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '(version unknown)';
  }
}

/** Loads a CommonJS internal of typeorm (its exports map allows `typeorm/*.js`). */
export function typeormInternal<T>(path: string, file: string): T {
  try {
    return require(`typeorm/${path}`) as T;
  } catch {
    throw new LibraryShapeError('typeorm', `no module typeorm/${path}`, file);
  }
}

/** Throws LibraryShapeError unless `target[name]` is a function. */
export function expectMethod(
  pkg: 'typeorm' | 'mysql2',
  target: object | undefined,
  name: string,
  owner: string,
  file: string,
): void {
  if (typeof (target as Record<string, unknown> | undefined)?.[name] !== 'function') {
    throw new LibraryShapeError(pkg, `${owner}.${name} is not a function`, file);
  }
}

/** Throws LibraryShapeError unless `target[name]` exists and `check` holds for it. */
export function expectField(
  pkg: 'typeorm' | 'mysql2',
  target: object | undefined,
  name: string,
  owner: string,
  file: string,
  check: (value: unknown) => boolean = () => true,
): void {
  if (
    target === undefined ||
    target === null ||
    !(name in target) ||
    !check((target as Record<string, unknown>)[name])
  ) {
    throw new LibraryShapeError(pkg, `${owner}.${name} is missing or changed shape`, file);
  }
}

export const isArrayLike = (v: unknown): boolean =>
  Array.isArray(v) || (typeof v === 'object' && v !== null && typeof (v as { length?: unknown }).length === 'number');
