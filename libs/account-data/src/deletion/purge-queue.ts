/**
 * Where purges are queued: BullMQ (`account-purge`, the worker runs them) or, in embedded mode,
 * this process. The due-purge check (DuePurges) is the backstop of both: a job lost with Redis,
 * or a timer lost with a restart, is enqueued again from the users table.
 */
export abstract class PurgeQueue {
  /** Queues the purge to run at `deleteAfter` (plus the margin); replaces an earlier schedule. */
  abstract schedule(userId: number, deleteAfter: Date): Promise<void>;
  /** Makes sure a due purge is queued or running (idempotent; a failed one is tried again). */
  abstract ensure(userId: number): Promise<void>;
  /** Drops a queued purge (a restore); one already running is left alone (it re-checks the row). */
  abstract cancel(userId: number): Promise<void>;
}
