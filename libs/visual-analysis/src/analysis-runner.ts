import { buffer } from 'node:stream/consumers';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { onPrimary, transactional } from '@echo/database';
import { previewKey, STORAGE, thumbnailKey, type StorageDriver } from '@echo/storage';
import { UploadsRepository, type Upload } from '@echo/uploads';
import { analysisDuration, analysisFailures, analysisFormatLabel } from '@echo/metrics';
import { annotateSpan, inSpan, reportError } from '@echo/telemetry';
import { UnrecoverableImageError } from './analyzer/errors.js';
// Types only: the analyzer (sharp) is loaded on first use, never by this module.
import type { Preview } from './analyzer/preview.js';
import { NearDuplicates } from '@echo/uploads';
import type { VisualAnalysis } from './visual-analysis.entity.js';
import { AnalysesRepository } from './analyses.repository.js';
import { AnalysisLists } from './analysis-lists.js';
import { AnalysisEventsPublisher } from './events/analysis-events.publisher.js';
import { searchAttributes } from './search/search-attributes.js';

export interface RunContext {
  /** 1-based attempt number. */
  attempt: number;
  /** No retry follows if this attempt fails. */
  final: boolean;
  onProgress?: (pct: number) => Promise<void> | void;
}

const PROGRESS_EVERY_MS = 250;

/**
 * The body of one analysis job, shared by the BullMQ processor (worker app) and the
 * in-process runner (embedded mode). Safe to run twice for the same id: only the run that
 * moves the row from `processing` to `completed` counts.
 */
@Injectable()
export class AnalysisRunner {
  private readonly logger = new Logger('AnalysisRunner');

  constructor(
    private readonly analyses: AnalysesRepository,
    private readonly uploads: UploadsRepository,
    private readonly dataSource: DataSource,
    @Inject(STORAGE) private readonly storage: StorageDriver,
    private readonly lists: AnalysisLists,
    private readonly events: AnalysisEventsPublisher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly nearDuplicates: NearDuplicates,
  ) {}

  async run(id: string, ctx: RunContext): Promise<'completed' | 'skipped'> {
    // On the primary: the API committed the row a moment ago, and its status decides the run.
    const found = await onPrimary(this.dataSource, async () => {
      const row = await this.analyses.findById(id);
      // Deleted with its upload, already done, or given up on: nothing to do.
      if (!row || row.status === 'completed' || row.status === 'failed') return undefined;
      const upload = await this.uploads.findById(row.uploadId);
      return upload ? { row, upload } : undefined;
    });
    if (!found) return 'skipped';
    const { row, upload } = found;
    // On the job's span (BullMQ's `process`, or the request's in embedded mode): what to find it by.
    annotateSpan({
      'echo.analysis.id': id,
      'echo.upload.id': upload.id,
      'enduser.id': String(row.userId),
      'echo.analysis.attempt': ctx.attempt,
    });

    await this.analyses.markProcessing(id);
    // What the row now holds, for the events each step publishes.
    const live = { ...row, status: 'processing' as const, progress: 0, attempts: row.attempts + 1 };
    let at = new Date();
    await this.lists.changed(row.userId);
    await this.events.changed(live, at);
    const timer = analysisDuration.startTimer();
    // The upload's sniffed type until the decoder names it (a failure before or in decoding keeps it).
    let format = analysisFormatLabel(upload.contentType);
    try {
      // Spans for the stages no instrumentation sees (local files, libvips); no-ops without tracing.
      const bytes = await inSpan('analysis.read', { 'echo.upload.size': upload.size }, async () =>
        buffer(await this.storage.get(upload.storageKey)),
      );
      // Progress is written as it goes, but at most every PROGRESS_EVERY_MS: a fast image
      // goes straight from 0 to 100 without a write per stage.
      let lastWrite = Date.now();
      const progress = async (pct: number) => {
        if (Date.now() - lastWrite < PROGRESS_EVERY_MS) return;
        lastWrite = Date.now();
        await this.analyses.setProgress(id, pct);
        await this.events.changed({ ...live, progress: pct });
        await ctx.onProgress?.(pct);
      };
      // Loaded on first use: sharp/libvips stay out of processes that never analyse (the API).
      const { analyzeImage } = await import('./analyzer/analyze-image.js');
      const { result, thumbnail, preview } = await inSpan(
        'analysis.decode',
        { 'echo.upload.content_type': upload.contentType },
        async (span) => {
          const analysed = await analyzeImage(bytes, {
            maxPixels: this.config.uploads.maxPixels,
            maxFrames: this.config.uploads.maxFrames,
            timeoutSeconds: this.config.queue.analysisTimeoutSeconds,
            onProgress: progress,
          });
          const { width, height } = analysed.result;
          format = analysisFormatLabel(analysed.result.format);
          span.setAttributes({
            'echo.image.format': analysed.result.format,
            'echo.image.width': width,
            'echo.image.height': height,
          });
          return analysed;
        },
        // A corrupt or refused image is the upload's fault (the 4xx of a job), not the service's.
        (err) => err instanceof UnrecoverableImageError,
      );
      const shownAt = await inSpan('analysis.store_renditions', {}, async () => {
        await this.storage.put(thumbnailKey(upload.userId, upload.id), thumbnail, { contentType: 'image/webp' });
        return this.storePreview(upload, preview);
      });
      // Not stored (reads work near_duplicates out afresh): only the completed event's count.
      const [near] = await this.nearDuplicates.lists([
        { userId: row.userId, uploadId: upload.id, phash: result.phash },
      ]);
      const completed = {
        status: 'completed' as const,
        progress: 100,
        error: null,
        result,
      };
      // One transaction: the upload's search columns are never behind its completed analysis.
      const done = await transactional(this.dataSource, async (manager) => {
        const fields = { progress: completed.progress, error: null, result: completed.result, phash: result.phash };
        if (!(await this.analyses.complete(id, fields, manager))) return false;
        await this.uploads.recordAnalysis(manager, upload.id, {
          ...searchAttributes(result, upload.createdAt),
          previewKey: shownAt,
        });
        return true;
      });
      if (!done) {
        await this.dropIfUploadGone(upload);
        return 'skipped';
      }
      await this.dropStalePreview(upload, shownAt);
      at = new Date();
      await this.lists.changed(row.userId);
      await this.events.changed({ ...live, ...completed, result: { ...result, near_duplicates: near } }, at);
      timer({ outcome: 'completed', format });
      annotateSpan({ 'echo.analysis.outcome': 'completed' });
      return 'completed';
    } catch (err) {
      const final = err instanceof UnrecoverableImageError || ctx.final;
      timer({ outcome: final ? 'failed' : 'retry', format });
      annotateSpan({ 'echo.analysis.outcome': final ? 'failed' : 'retry' });
      if (!(err instanceof UnrecoverableImageError)) reportError(err);
      if (final) analysisFailures.inc();
      let after: Pick<VisualAnalysis, 'status' | 'error'>;
      if (err instanceof UnrecoverableImageError) {
        // The owner reads the message; the decoder's own words (offsets and all) are for operators.
        const cause = err.cause instanceof Error ? err.cause.message.split('\n')[0].slice(0, 300) : undefined;
        this.logger.log(`analysis ${id} failed: ${err.message}${cause ? ` [decoder: ${cause}]` : ''}`);
        after = await this.fail(id, err.message);
      } else if (ctx.final) {
        this.logger.warn(`analysis ${id} failed for good: ${(err as Error).message}`);
        after = await this.fail(
          id,
          `The analysis failed after ${ctx.attempt} attempts (${describe(err)}). An admin can retry it.`,
        );
      } else {
        const error = `Attempt ${ctx.attempt} failed (${describe(err)}); it will be retried.`;
        after = { status: 'queued', error };
        await this.analyses.backToQueue(id, error);
      }
      at = new Date();
      await this.lists.changed(row.userId);
      await this.events.changed({ ...live, ...after }, at);
      throw err;
    }
  }

  /**
   * `complete` missed: the row is gone, or another run finished it. If the upload was deleted
   * meanwhile, its delete has already removed the files, and what this run wrote after that would
   * stay forever. (A row another run completed leaves the upload, and the thumbnail and preview both
   * wrote, in place.) Missed here (a crash in between), the storage sweeper removes them later.
   */
  private async dropIfUploadGone(upload: { id: string; userId: number }): Promise<void> {
    // On the primary: the delete that made `complete` miss has committed there.
    if (await onPrimary(this.dataSource, () => this.uploads.findById(upload.id))) return;
    await this.storage.delete(thumbnailKey(upload.userId, upload.id));
    await this.storage.delete(previewKey(upload.userId, upload.id));
  }

  /**
   * Writes the preview rendition (before the completion that names it, so a row never points at a
   * missing file) and returns the key the row records: the rendition's, or the original's own
   * when the original displays as is.
   */
  private async storePreview(upload: { id: string; userId: number; storageKey: string }, preview: Preview) {
    if (!Buffer.isBuffer(preview)) return upload.storageKey; // 'original'
    const key = previewKey(upload.userId, upload.id);
    await this.storage.put(key, preview, { contentType: 'image/webp' });
    return key;
  }

  /**
   * A rendition an earlier analysis stored that this one no longer uses (an analyzer that now finds
   * the original displays as is). Deletion removes it in any case; this keeps it from lingering.
   */
  private async dropStalePreview(upload: Upload, shownAt: string): Promise<void> {
    const rendition = previewKey(upload.userId, upload.id);
    if (upload.previewKey === rendition && shownAt !== rendition) await this.storage.delete(rendition);
  }

  private async fail(id: string, reason: string): Promise<Pick<VisualAnalysis, 'status' | 'error'>> {
    const after = { status: 'failed' as const, error: reason.slice(0, 500) };
    await this.analyses.fail(id, after.error);
    return after;
  }
}

/** A short, safe description of a transient failure: an error code, never a stack or a path. */
function describe(err: unknown): string {
  const e = err as { code?: string; name?: string };
  return e?.code ?? e?.name ?? 'error';
}
