import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { PurgeQueue } from './purge-queue.js';
import { AccountPurge } from './account-purge.js';
import { PURGE_MARGIN_MS } from './purge-timing.js';

/** Timers further ahead than this are not set: the due-purge check (every minute) finds those. */
const LONGEST_TIMER_MS = 3600_000;

/**
 * Embedded mode (no Redis): purges run in this process, one at a time, at their time (a timer)
 * or when the due-purge check finds them. A restart loses the timers, not the purges.
 */
@Injectable()
export class InProcessPurgeQueue extends PurgeQueue implements OnApplicationShutdown {
  private readonly logger = new Logger('AccountPurge');
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly pending = new Set<number>();
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly purge: AccountPurge) {
    super();
  }

  async schedule(userId: number, deleteAfter: Date): Promise<void> {
    await this.cancel(userId);
    const delay = deleteAfter.getTime() + PURGE_MARGIN_MS - Date.now();
    if (delay > LONGEST_TIMER_MS || this.closed) return;
    const timer = setTimeout(() => void this.ensure(userId), Math.max(0, delay));
    timer.unref();
    this.timers.set(userId, timer);
  }

  async ensure(userId: number): Promise<void> {
    if (this.pending.has(userId) || this.closed) return;
    this.pending.add(userId);
    this.chain = this.chain.then(async () => {
      try {
        if (!this.closed) await this.purge.purge(userId);
      } catch (err) {
        this.logger.warn(`purge of user ${userId} failed (the due-purge check retries it): ${(err as Error).message}`);
      } finally {
        this.pending.delete(userId);
      }
    });
  }

  async cancel(userId: number): Promise<void> {
    clearTimeout(this.timers.get(userId));
    this.timers.delete(userId);
  }

  /** Resolves when every purge queued so far has ended (tests, shutdown). */
  idle(): Promise<void> {
    return this.chain;
  }

  onApplicationShutdown(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
