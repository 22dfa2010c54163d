import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { PurgeQueue } from './purge-queue.js';
import { PurgeRepository } from './purge.repository.js';

/** Due purges looked at per check; more are taken the next time. */
const CHECK_BATCH = 100;

/**
 * The backstop of the delayed purge jobs: every MAINTENANCE_EVERY_SECONDS (and at start) the
 * users whose purge is due are enqueued (idempotent: one job id per user; a failed one is tried
 * again). The users table is the truth, so a Redis flush, a failover or a crash between the
 * commit and the enqueue delays a purge by at most one period, never loses it. Runs in every
 * worker (the API in embedded mode): a cheap indexed read.
 */
@Injectable()
export class DuePurges implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AccountPurge');
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly repo: PurgeRepository,
    private readonly queue: PurgeQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.config.queue.maintenanceEveryMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Returns how many due purges it made sure of. */
  async check(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const due = await this.repo.dueUserIds(CHECK_BATCH);
      for (const id of due) await this.queue.ensure(id);
      return due.length;
    } catch (err) {
      this.logger.warn(`due-purge check failed: ${(err as Error).message}`);
      return 0;
    } finally {
      this.running = false;
    }
  }
}
