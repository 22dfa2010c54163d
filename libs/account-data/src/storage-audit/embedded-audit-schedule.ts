import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { StorageAuditReport } from './storage-audit-report.js';

/** Embedded mode: the audit report on a timer (the worker schedules it as a BullMQ job instead). */
@Injectable()
export class EmbeddedAuditSchedule implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('StorageAudit');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly report: StorageAuditReport,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.accounts.storageAuditEveryMs;
    if (!every) return;
    this.timer = setInterval(
      () => void this.report.run().catch((err: Error) => this.logger.warn(`audit failed: ${err.message}`)),
      every,
    );
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
