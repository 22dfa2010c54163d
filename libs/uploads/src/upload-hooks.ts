import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Upload } from './upload.entity.js';

export interface AnalysisSummary {
  id: string;
  status: string;
}

/**
 * How another module (VisualAnalysis) joins an upload's life without Uploads depending on it:
 * `created` runs inside the transaction that inserts the upload, `committed` after it.
 */
export interface UploadListener {
  created(em: EntityManager, upload: Upload): Promise<void>;
  committed(upload: Upload): Promise<void>;
  /** Inside the transaction that deletes the upload; returns work to run after it commits. */
  deleting(em: EntityManager, upload: Upload): Promise<() => Promise<void>>;
  /** Latest analysis per upload id, one query for a whole page (through `manager` when given). */
  summaries(uploadIds: string[], manager?: EntityManager): Promise<Map<string, AnalysisSummary>>;
}

@Injectable()
export class UploadHooks {
  private listener?: UploadListener;

  register(listener: UploadListener): void {
    this.listener = listener;
  }

  async created(em: EntityManager, upload: Upload): Promise<void> {
    await this.listener?.created(em, upload);
  }

  async committed(upload: Upload): Promise<void> {
    await this.listener?.committed(upload);
  }

  async deleting(em: EntityManager, upload: Upload): Promise<(() => Promise<void>) | undefined> {
    return this.listener?.deleting(em, upload);
  }

  async deleted(afterCommit: (() => Promise<void>) | undefined): Promise<void> {
    await afterCommit?.();
  }

  async summaries(uploadIds: string[], manager?: EntityManager): Promise<Map<string, AnalysisSummary> | undefined> {
    if (!this.listener) return undefined;
    return uploadIds.length ? this.listener.summaries(uploadIds, manager) : new Map();
  }
}
