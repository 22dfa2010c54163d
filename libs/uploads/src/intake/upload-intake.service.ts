import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HttpException, HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { isUniqueViolation, onPrimary, transactional } from '@echo/database';
import { STORAGE, objectKey, tempKey, type StorageDriver } from '@echo/storage';
import { UploadsRepository } from '../uploads.repository.js';
import { UploadEvents, type AfterCommit } from '../contracts/upload-events.js';
import { UploadListings } from '../contracts/upload-listings.js';
import { UploadsService } from '../uploads.service.js';
import type { UploadResponse } from '../upload.response.js';
import { IntakeStream } from './intake-stream.js';
import { readImageHeader } from './image-header.js';

/** Bytes of the file kept in memory for the header check (dimensions); the rest only streams. */
const HEAD_BYTES = 256 * 1024;

/** A file streamed to storage under its temp key, not yet an upload. */
export interface StagedFile {
  id: string;
  tempKey: string;
  size: number;
  sha256: string;
  contentType: string;
  head: Buffer;
  originalName: string;
}

/**
 * What every intake path (multipart POST, the last tus PATCH) answers: 201 with the new upload, or
 * 200 with the existing one and `duplicate: true` when the user already uploaded these bytes.
 */
export interface IntakeResult {
  status: 200 | 201;
  body: UploadResponse | (UploadResponse & { duplicate: true });
}

export class PayloadTooLargeException extends HttpException {
  constructor(detail: string) {
    super(detail, HttpStatus.PAYLOAD_TOO_LARGE);
  }
}

/**
 * Turns an incoming file into an upload: streamed to storage under a temp key while hashed,
 * checked, committed as a row (with its analysis) and moved to its final key — the row and the
 * file appear together or not at all.
 */
@Injectable()
export class UploadIntake {
  private readonly logger = new Logger('UploadIntake');

  constructor(
    private readonly uploads: UploadsRepository,
    private readonly dataSource: DataSource,
    private readonly events: UploadEvents,
    private readonly listings: UploadListings,
    private readonly listing: UploadsService,
    @Inject(STORAGE) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Streams the file to storage under `tmp/<id>` while hashing it; nothing is kept in memory
   * but the header. Rejects (and removes what was written) as soon as the bytes are not an
   * accepted image, or the size limit is crossed.
   */
  async stage(file: Readable, originalName: string): Promise<StagedFile> {
    const id = randomUUID();
    const key = tempKey(id);
    const intake = new IntakeStream(HEAD_BYTES, this.config.uploads.maxFrames);
    // stream.pipeline rather than pipe(): a source that already failed (a truncated multipart body
    // errors the part before the handler sees it) still fails the intake instead of hanging it.
    // Over UPLOAD_MAX_BYTES, @fastify/multipart errors the source the same way: put rejects, removes
    // the partial object, and readUploadForm answers 413.
    const source = pipeline(file, intake).catch(() => undefined);
    // The driver may attach its listeners after an await; until then an early rejection (wrong type)
    // must not surface as an unhandled 'error' event. The driver still sees it (stream.errored).
    intake.on('error', () => undefined);
    await this.storage.put(key, intake);
    await source;
    return {
      id,
      tempKey: key,
      size: intake.size,
      sha256: intake.digest(),
      contentType: intake.contentType!,
      head: intake.head(),
      originalName,
    };
  }

  /**
   * The whole pipeline for a file that is already complete (a finished tus upload): stage, then
   * commit. Multipart calls the two steps itself, because its title may follow the file part.
   */
  async ingest(userId: number, file: Readable, originalName: string, title: string): Promise<IntakeResult> {
    return this.commit(userId, await this.stage(file, originalName), title);
  }

  /**
   * Validates a staged file and makes it an upload (row and file together), or removes it. Its
   * reads (duplicate check, the response's analysis) are on the primary: they follow its writes.
   */
  async commit(userId: number, staged: StagedFile, title: string): Promise<IntakeResult> {
    const { upload, duplicate } = await onPrimary(this.dataSource, () => this.commitOnPrimary(userId, staged, title));
    return duplicate ? { status: 200, body: { ...upload, duplicate: true } } : { status: 201, body: upload };
  }

  private async commitOnPrimary(
    userId: number,
    staged: StagedFile,
    title: string,
  ): Promise<{ upload: UploadResponse; duplicate: boolean }> {
    try {
      const { width, height } = readImageHeader(staged.head, this.config.uploads.maxPixels);
      const existing = await this.uploads.findBySha(userId, staged.sha256);
      if (existing) {
        await this.storage.delete(staged.tempKey);
        return { upload: await this.listing.withAnalysis(existing), duplicate: true };
      }
      const createdAt = new Date();
      const upload = this.uploads.create({
        id: staged.id,
        userId,
        title,
        originalName: staged.originalName,
        contentType: staged.contentType,
        size: staged.size,
        sha256: staged.sha256,
        width,
        height,
        storageKey: objectKey(userId, staged.id),
        createdAt,
        // The upload time until an analysis reads the EXIF one (search orders every row by it).
        takenAt: createdAt,
      });
      let afterCommit: AfterCommit[];
      try {
        afterCommit = await transactional(this.dataSource, async (manager) => {
          await this.checkQuota(manager, userId, staged.size);
          await this.uploads.insert(manager, upload);
          return this.events.emit('committed', { manager, upload });
        });
      } catch (err) {
        if (isUniqueViolation(err)) {
          // The same bytes arrived concurrently: the other request won.
          const winner = await this.uploads.findBySha(userId, staged.sha256);
          if (!winner) throw err;
          await this.storage.delete(staged.tempKey);
          return { upload: await this.listing.withAnalysis(winner), duplicate: true };
        }
        throw err;
      }
      try {
        await this.storage.move(staged.tempKey, upload.storageKey);
      } catch (err) {
        await this.uploads.delete(upload.id); // row and file together or not at all
        throw err;
      }
      await this.listings.changed(userId);
      // After commit: enqueueing may fail (Redis away); the reconciler re-enqueues it later.
      for (const work of afterCommit)
        await work().catch((err: Error) =>
          this.logger.warn(`after-commit work failed for ${upload.id}: ${err.message}`),
        );
      return { upload: await this.listing.withAnalysis(upload), duplicate: false };
    } catch (err) {
      await this.storage.delete(staged.tempKey).catch(() => undefined);
      throw err;
    }
  }

  async discard(staged: StagedFile | undefined): Promise<void> {
    if (staged) await this.storage.delete(staged.tempKey).catch(() => undefined);
  }

  private async checkQuota(manager: EntityManager, userId: number, size: number): Promise<void> {
    const quota = this.config.uploads.quotaBytes;
    if (!quota) return;
    await this.uploads.lockQuota(manager, userId);
    assertWithinQuota(quota, await this.uploads.usedBytes(userId, manager), size);
  }

  /**
   * Early quota check for a file not sent yet (tus creation: 413 before any byte arrives). The
   * commit checks again under the user's row lock; this one only spares a doomed upload.
   */
  async assertFits(userId: number, size: number): Promise<void> {
    const quota = this.config.uploads.quotaBytes;
    if (quota) assertWithinQuota(quota, await onPrimary(this.dataSource, () => this.uploads.usedBytes(userId)), size);
  }
}

function assertWithinQuota(quota: number, used: number, size: number): void {
  if (used + size > quota) {
    throw new PayloadTooLargeException(
      `Upload quota exceeded: ${used} of ${quota} bytes used, this file needs ${size}.`,
    );
  }
}
