import { Inject, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import type { DataExport } from './export.entity.js';
import { ExportDispatcher } from './export-dispatcher.js';
import { ExportEvents } from './export-events.js';
import { ExportUrls } from './export-urls.js';
import { ExportsRepository } from './exports.repository.js';
import { toExportResponse, type ExportResponse } from './export.response.js';

/** The API side of data exports: request one (or get the one in progress), read them. */
@Injectable()
export class ExportsService {
  private readonly logger = new Logger('Exports');

  constructor(
    private readonly exports: ExportsRepository,
    private readonly dispatcher: ExportDispatcher,
    private readonly events: ExportEvents,
    private readonly urls: ExportUrls,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * A new queued export, or the user's queued/running one (one at a time, race-free: see
   * ExportsRepository.pendingOrNew), or the one completed within EXPORT_COOLDOWN_MINUTES (a build
   * reads every original: repeated requests must not make the worker do it again and again). The
   * same 202 and export object either way, so a client that follows the id gets the archive. The
   * job is added after the row is committed; if that add fails the row stays queued and the sweep
   * enqueues it within EXPORT_LOST_AFTER_MS.
   */
  async request(userId: number): Promise<ExportResponse> {
    const result = await this.exports.pendingOrNew(userId, this.config.exports.cooldownMs);
    if (!result) throw new NotFoundException();
    const { row, created } = result;
    if (created) {
      await this.events.changed(row);
      await this.dispatcher.enqueue(row.id).catch((err: Error) => {
        this.logger.warn(`export ${row.id}: enqueue failed, left to the sweep: ${err.message}`);
      });
    }
    return this.toResponse(row);
  }

  async get(userId: number, id: string): Promise<ExportResponse> {
    // Not a UUID: not an id of ours (and no query for it).
    const row = /^[0-9a-f-]{36}$/.test(id) ? await this.exports.findOfUser(userId, id) : null;
    if (!row) throw new NotFoundException();
    return this.toResponse(row, await this.sessionVersion(userId));
  }

  async list(userId: number): Promise<ExportResponse[]> {
    const version = await this.sessionVersion(userId);
    return (await this.exports.listOfUser(userId)).map((row) => this.toResponse(row, version));
  }

  /** The owner's current token version: an export requested under an older one has no link to show. */
  private async sessionVersion(userId: number): Promise<number | undefined> {
    return (await this.exports.ownerState(userId))?.tokenVersion ?? 0;
  }

  private toResponse(row: DataExport, tokenVersion?: number): ExportResponse {
    return toExportResponse(row, this.urls, tokenVersion);
  }
}
