import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Outside production with no JWT_SECRET: a random secret made on first start and kept beside the
 * embedded data (`<dir>/jwt-secret`, mode 0600), so tokens survive restarts and every process of
 * this checkout agrees, yet nobody can guess it (a constant in the source would let anyone who can
 * reach the port forge an admin token). Created with O_EXCL: processes starting together agree.
 */
export function localJwtSecret(dir: string): string {
  const path = join(dir, 'jwt-secret');
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(path, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  const secret = readFileSync(path, 'utf8').trim();
  // A concurrent creator may not have written its bytes yet: wait for them briefly.
  if (secret.length >= 32) return secret;
  for (let i = 0; i < 50; i++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    const again = readFileSync(path, 'utf8').trim();
    if (again.length >= 32) return again;
  }
  throw new Error(`${path} holds no usable secret: delete it (a new one is made) or set JWT_SECRET`);
}
