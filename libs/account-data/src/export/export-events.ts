import { Injectable, Logger } from '@nestjs/common';
import { AnalysisEventBus } from '@echo/visual-analysis';
import type { DataExport } from './export.entity.js';
import { ExportUrls } from './export-urls.js';
import { toExportResponse, type ExportResponse } from './export.response.js';

/** The `data` of an `export` event: the export object, and when the change was written. */
export type ExportEventData = ExportResponse & { at: string };

/**
 * An export's changes as `export` events on the user's live stream (GET /api/visual-analysis/events,
 * the same bus and replay window as analysis events). Best effort, like analysis events: the row
 * stays the truth (GET /api/users/me/export/:id), so a failed publish is logged, never fatal.
 */
@Injectable()
export class ExportEvents {
  private readonly logger = new Logger('ExportEvents');

  constructor(
    private readonly bus: AnalysisEventBus,
    private readonly urls: ExportUrls,
  ) {}

  async changed(row: DataExport, at = new Date()): Promise<void> {
    const data: ExportEventData = { ...toExportResponse(row, this.urls), at: at.toISOString() };
    try {
      await this.bus.publish(row.userId, JSON.stringify(data), 'export');
    } catch (err) {
      this.logger.warn(`event for export ${row.id} (${row.status}) not published: ${(err as Error).message}`);
    }
  }
}
