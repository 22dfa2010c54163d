import { randomBytes } from 'node:crypto';

/** The external path of the tus endpoint (@tus/server needs the full path, global prefix included). */
export const TUS_PATH = '/api/uploads/tus';

// `<owner id>/<32 hex>`: the owner is part of the id, so ownership needs no lookup.
const ID = /^(\d{1,15})\/([0-9a-f]{32})$/;

/** A new tus upload id owned by `userId`. */
export function newTusId(userId: number): string {
  return `${userId}/${randomBytes(16).toString('hex')}`;
}

/** The id as one URL segment (base64url: @tus/server's id extractor refuses `/`). */
export function encodeTusId(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

/** The id a URL segment names, or undefined when it is not one Echo made. */
export function decodeTusId(segment: string | undefined): string | undefined {
  if (!segment || segment.length > 64 || !/^[A-Za-z0-9_-]+$/.test(segment)) return undefined;
  const id = Buffer.from(segment, 'base64url').toString('utf8');
  return ID.test(id) ? id : undefined;
}

/** The owner's user id, or undefined for a malformed id. */
export function ownerOfTusId(id: string): number | undefined {
  const match = ID.exec(id);
  return match ? Number(match[1]) : undefined;
}
