import { Injectable, Logger } from '@nestjs/common';
import type { VisualAnalysis } from '../visual-analysis.entity.js';
import { toAnalysisEventData } from './analysis-event.js';
import { AnalysisEventBus } from './event-bus.js';

type Row = Pick<VisualAnalysis, 'id' | 'uploadId' | 'userId' | 'status' | 'progress' | 'attempts' | 'error' | 'result'>;

/**
 * The one place status changes become live events, called after each change is written.
 * Best effort: the database row stays the truth (clients can always GET it), so a failed
 * publish is logged and never fails the job or the request.
 */
@Injectable()
export class AnalysisEventsPublisher {
  private readonly logger = new Logger('AnalysisEvents');

  constructor(private readonly bus: AnalysisEventBus) {}

  /** `at`: when the change was written (the event's `at`), if not just now. */
  async changed(row: Row, at = new Date()): Promise<void> {
    try {
      await this.bus.publish(row.userId, JSON.stringify(toAnalysisEventData(row, at)));
    } catch (err) {
      this.logger.warn(`event for analysis ${row.id} (${row.status}) not published: ${(err as Error).message}`);
    }
  }
}
