import { EXPORTS_PREFIX, PREVIEWS_PREFIX, THUMBS_PREFIX } from '@echo/storage';

/**
 * Every storage prefix that holds one user's objects: originals `<id>/…`, thumbnails, previews
 * and export archives. (Upload temp objects `tmp/<uploadId>` carry no owner: the orphan sweeper
 * removes them within the hour.)
 */
export function userPrefixes(userId: number): string[] {
  return ['', THUMBS_PREFIX, PREVIEWS_PREFIX, EXPORTS_PREFIX].map((p) => `${p}${userId}/`);
}
