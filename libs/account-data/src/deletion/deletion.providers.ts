import type { Provider } from '@nestjs/common';
import type { AppConfig } from '@echo/config';
import type { ModuleParts } from '../module-parts.js';
import { AccountDeletion } from './account-deletion.service.js';
import { AccountDeletionController } from './account-deletion.controller.js';
import { AdminAccountDeletionController } from './admin-account-deletion.controller.js';
import { AccountPurge } from './account-purge.js';
import { accountPurgeProcessor } from './account-purge.processor.js';
import { BullmqPurgeQueue } from './bullmq-purge-queue.js';
import { DuePurges } from './due-purges.js';
import { InProcessPurgeQueue } from './in-process-purge-queue.js';
import { PurgeJobs } from './purge-jobs.js';
import { PurgeQueue } from './purge-queue.js';
import { PurgeRedisKeys } from './purge-redis-keys.js';
import { PurgeStorage } from './purge-storage.js';
import { PurgeRepository } from './purge.repository.js';

/**
 * Deletion's part of AccountDataModule. api: the routes and the producer (in embedded mode also
 * the purge itself and its due check); worker: the purge consumer and the due check; cli: none.
 */
export function deletionParts(config: AppConfig, role: 'api' | 'worker' | 'cli'): ModuleParts {
  if (role === 'cli') return { controllers: [], providers: [] };
  const embedded = !config.redis.queue;
  const providers: Provider[] = [AccountPurge, PurgeRepository, PurgeStorage, PurgeJobs, PurgeRedisKeys];
  providers.push({ provide: PurgeQueue, useClass: embedded ? InProcessPurgeQueue : BullmqPurgeQueue });
  if (role === 'worker' || embedded) providers.push(DuePurges);
  if (role === 'worker') providers.push(accountPurgeProcessor(config));
  if (role === 'api') providers.push(AccountDeletion);
  return {
    controllers: role === 'api' ? [AccountDeletionController, AdminAccountDeletionController] : [],
    providers,
  };
}
