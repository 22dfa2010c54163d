import type { Provider } from '@nestjs/common';
import type { AppConfig } from '@echo/config';
import type { ModuleParts } from '../module-parts.js';
import { StorageAudit } from './storage-audit.js';
import { StorageAuditReport } from './storage-audit-report.js';
import { EmbeddedAuditSchedule } from './embedded-audit-schedule.js';

/**
 * The storage audit's part of AccountDataModule: the audit everywhere (the CLI's audit-storage);
 * its scheduled report in the worker (a BullMQ job, see AccountPurgeProcessor) or, in embedded
 * mode, on the API's timer.
 */
export function storageAuditParts(config: AppConfig, role: 'api' | 'worker' | 'cli'): ModuleParts {
  const providers: Provider[] = [StorageAudit];
  if (role !== 'cli') providers.push(StorageAuditReport);
  if (role === 'api' && !config.redis.queue) providers.push(EmbeddedAuditSchedule);
  // Exported: the CLI's audit-storage and the tests take it from the module.
  return { providers, exports: [StorageAudit] };
}
