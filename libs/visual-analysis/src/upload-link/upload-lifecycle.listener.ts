import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { CacheService } from '@echo/cache';
import { UploadEvents, type AfterCommit, type UploadCommitted, type UploadDeleted } from '@echo/uploads';
import { AnalysesRepository } from '../analyses.repository.js';
import { AnalysisLists } from '../analysis-lists.js';
import { analysisResultKey } from '../analysis-result-key.js';
import { AnalysisDispatcher } from '../queue/analysis-dispatcher.js';
import { AnalysisEventsPublisher } from '../events/analysis-events.publisher.js';

/** Every new upload gets a queued analysis in its transaction; a deleted upload's analyses go with it. */
@Injectable()
export class UploadLifecycleListener implements OnModuleInit, OnModuleDestroy {
  private readonly off: (() => void)[] = [];

  constructor(
    private readonly uploadEvents: UploadEvents,
    private readonly analyses: AnalysesRepository,
    private readonly dispatcher: AnalysisDispatcher,
    private readonly events: AnalysisEventsPublisher,
    private readonly lists: AnalysisLists,
    private readonly cache: CacheService,
  ) {}

  onModuleInit(): void {
    this.off.push(
      this.uploadEvents.on('committed', (e) => this.committed(e)),
      this.uploadEvents.on('deleted', (e) => this.deleted(e)),
    );
  }

  onModuleDestroy(): void {
    for (const off of this.off.splice(0)) off();
  }

  /** The row commits with the upload; once committed it is announced, then enqueued. */
  async committed({ manager, upload }: UploadCommitted): Promise<AfterCommit> {
    const row = this.analyses.newQueued(upload);
    await this.analyses.insert(row, manager);
    return async () => {
      // Announced before the job exists, so `queued` always precedes the worker's `processing`.
      await this.events.changed(row);
      await this.dispatcher.enqueue(row.id);
    };
  }

  /** Removed in the upload's transaction; their cached results are evicted once that committed. */
  async deleted({ manager, upload }: UploadDeleted): Promise<AfterCommit> {
    const ids = await this.analyses.deleteOfUpload(manager, upload.id);
    return async () => {
      await Promise.all(ids.map((id) => this.cache.del(analysisResultKey(id))));
      await this.lists.changed(upload.userId);
    };
  }
}
