/**
 * A purge starts only this long after `delete_after` (by its own clock), while a restore is refused
 * from `delete_after` on (by the API's clock): with clocks less than this apart, a restore and a
 * purge can never both go ahead, without a lock held for the purge's whole run.
 */
export const PURGE_MARGIN_MS = 2000;

/** The BullMQ job id of a user's purge: one per user, so enqueueing twice is a no-op. */
export const purgeJobId = (userId: number) => `purge-${userId}`;

/** A purge may run: scheduled, and due by this process's clock. */
export function purgeDue(deleteAfter: Date | null | undefined, now = Date.now()): boolean {
  return !!deleteAfter && new Date(deleteAfter).getTime() <= now - PURGE_MARGIN_MS;
}
