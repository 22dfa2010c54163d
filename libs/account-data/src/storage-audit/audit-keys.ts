import { EXPORTS_PREFIX, PREVIEWS_PREFIX, TEMP_PREFIX, THUMBS_PREFIX } from '@echo/storage';

/** What a storage key is, by the shapes Echo writes (a local `.partial` write's suffix included). */
export type KeyClass =
  | { kind: 'original'; userId: number; uploadId: string }
  | { kind: 'derived'; userId: number; uploadId: string }
  | { kind: 'export'; userId: number }
  | { kind: 'temp' }
  | { kind: 'unknown' };

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const ORIGINAL = new RegExp(`^(\\d+)/(${UUID})(?:\\.${UUID}\\.partial)?$`);
const DERIVED = new RegExp(`^(\\d+)/(${UUID})\\.webp(?:\\.${UUID}\\.partial)?$`);
const EXPORT = /^(\d+)\/[^/]+$/;

export function classifyKey(key: string): KeyClass {
  if (key.startsWith(TEMP_PREFIX)) return { kind: 'temp' };
  for (const prefix of [THUMBS_PREFIX, PREVIEWS_PREFIX]) {
    if (!key.startsWith(prefix)) continue;
    const m = DERIVED.exec(key.slice(prefix.length));
    return m ? { kind: 'derived', userId: Number(m[1]), uploadId: m[2] } : { kind: 'unknown' };
  }
  if (key.startsWith(EXPORTS_PREFIX)) {
    const m = EXPORT.exec(key.slice(EXPORTS_PREFIX.length));
    return m ? { kind: 'export', userId: Number(m[1]) } : { kind: 'unknown' };
  }
  const m = ORIGINAL.exec(key);
  return m ? { kind: 'original', userId: Number(m[1]), uploadId: m[2] } : { kind: 'unknown' };
}
