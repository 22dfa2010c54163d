import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { AnalysisResult } from './analyzer/index.js';

/** An analysis' life: queued → processing → completed | failed (a retry puts it back to queued). */
export const ANALYSIS_STATUSES = ['queued', 'processing', 'completed', 'failed'] as const;
export type AnalysisStatus = (typeof ANALYSIS_STATUSES)[number];

/**
 * The analysis result JSON as stored: the analyzer's output. Results stored before near-duplicates
 * were read live also hold a `near_duplicates` list, which is ignored (see analysis.response.ts).
 */
export type StoredResult = AnalysisResult & { near_duplicates?: string[] };

@Entity('visual_analysis_results')
@Index('ix_var_user_created', ['userId', 'createdAt', 'id'])
@Index('ix_var_user_status_created', ['userId', 'status', 'createdAt', 'id'])
@Index('ix_var_upload_created', ['uploadId', 'createdAt'])
@Index('ix_var_status_created', ['status', 'createdAt'])
@Index('ix_var_status_completed', ['status', 'completedAt'])
@Index('ix_var_user_phash', ['userId', 'phash'])
export class VisualAnalysis {
  /** Also the BullMQ job id, so enqueueing twice is a no-op. */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'upload_id', type: 'varchar', length: 36 })
  uploadId: string;

  @Column({ name: 'user_id' })
  userId: number;

  @Column({ type: 'varchar', length: 16 })
  status: AnalysisStatus;

  @Column({ type: 'integer', default: 0 })
  progress: number;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /** A reason the owner can read. */
  @Column({ type: 'varchar', length: 500, nullable: true })
  error: string | null;

  @Column({ type: 'simple-json', nullable: true })
  result: StoredResult | null;

  /** Copied out of result for near-duplicate lookups. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  phash: string | null;

  @Column({ name: 'analyzer_version', type: 'varchar', length: 16 })
  analyzerVersion: string;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt: Date;

  @Column({ name: 'started_at', type: 'datetime', precision: 3, nullable: true })
  startedAt: Date | null;

  @Column({ name: 'completed_at', type: 'datetime', precision: 3, nullable: true })
  completedAt: Date | null;
}
