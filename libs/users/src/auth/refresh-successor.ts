import { createHmac, hkdfSync } from 'node:crypto';

const HKDF_LABEL = 'echo refresh-token successor v1';

/** The server key successors are derived with (from JWT_SECRET, under its own label). */
export function successorKey(jwtSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', jwtSecret, '', HKDF_LABEL, 32));
}

/**
 * The token a refresh token `raw` is rotated into in the cookie flow: an HMAC of `raw` under the
 * server key instead of random bytes. A second use of `raw` moments after the first (two tabs
 * reloading at once, a response lost to a reload) can then be answered with the same successor:
 * no second live token in the family, and only the server can compute it (a copy of a spent
 * token does not give the current one). Same shapes as a random token: a UUID-formatted id
 * (version 8, RFC 9562's custom layout) and 32 bytes of base64url secret.
 */
export function successorOf(key: Buffer, raw: string): { id: string; secret: string } {
  const idBytes = createHmac('sha256', key).update(`id\0${raw}`).digest().subarray(0, 16);
  idBytes[6] = (idBytes[6] & 0x0f) | 0x80;
  idBytes[8] = (idBytes[8] & 0x3f) | 0x80;
  const hex = idBytes.toString('hex');
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const secret = createHmac('sha256', key).update(`secret\0${raw}`).digest('base64url');
  return { id, secret };
}
