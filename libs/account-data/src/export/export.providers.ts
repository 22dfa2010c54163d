import { TypeOrmModule } from '@nestjs/typeorm';
import type { Provider } from '@nestjs/common';
import type { AppConfig } from '@echo/config';
import type { ModuleParts } from '../module-parts.js';
import { BullmqExportDispatcher } from './bullmq-export-dispatcher.js';
import { EmbeddedExports } from './embedded-exports.js';
import { ExportDispatcher } from './export-dispatcher.js';
import { ExportDownloadController } from './export-download.controller.js';
import { ExportEvents } from './export-events.js';
import { ExportRunner } from './export-runner.js';
import { ExportSweeper } from './export-sweeper.js';
import { ExportUrls } from './export-urls.js';
import { DataExport } from './export.entity.js';
import { exportProcessor } from './export.processor.js';
import { ExportsController } from './exports.controller.js';
import { ExportsRepository } from './exports.repository.js';
import { ExportsService } from './exports.service.js';
import { InProcessExportDispatcher } from './in-process-export-dispatcher.js';

/**
 * Data exports in each app. api: the routes, and the producer (BullMQ) — or, in embedded mode,
 * the runner, the sweep timer and the resumption of unfinished exports in this process. worker:
 * the consumer of the `exports` queue (archives and the repeatable sweep), no routes.
 */
export function exportParts(config: AppConfig, role: 'api' | 'worker'): ModuleParts {
  const embedded = !config.redis.queue;
  const providers: Provider[] = [ExportsRepository, ExportUrls, ExportEvents];
  if (role === 'api') providers.push(ExportsService);
  if (embedded) {
    providers.push(
      { provide: ExportDispatcher, useClass: InProcessExportDispatcher },
      ExportRunner,
      ExportSweeper,
      EmbeddedExports,
    );
  } else {
    providers.push({ provide: ExportDispatcher, useClass: BullmqExportDispatcher });
    if (role === 'worker') providers.push(ExportRunner, ExportSweeper, exportProcessor(config));
  }
  return {
    imports: [TypeOrmModule.forFeature([DataExport])],
    controllers: role === 'api' ? [ExportsController, ExportDownloadController] : [],
    providers,
  };
}
