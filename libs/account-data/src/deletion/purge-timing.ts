/**
 * A purge job is delayed this long past `delete_after` (by the enqueuing process's clock), so it
 * rarely fires before the database's clock says it is due. Which of a restore and a purge goes
 * ahead is not decided by it: both are conditional updates on the database's clock, and the
 * purge's claim (users.purge_started_at) makes every later restore fail.
 */
export const PURGE_MARGIN_MS = 2000;

/** The BullMQ job id of a user's purge: one per user, so enqueueing twice is a no-op. */
export const purgeJobId = (userId: number) => `purge-${userId}`;
