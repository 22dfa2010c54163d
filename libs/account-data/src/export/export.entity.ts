import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '@echo/users';

/**
 * An export's life: queued → running → completed | failed; removed (row and archive) at
 * `expires_at`, EXPORT_TTL_HOURS after it finished either way. A user has at most one queued or
 * running export (ExportsService.request).
 */
export const EXPORT_STATUSES = ['queued', 'running', 'completed', 'failed'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];
export const PENDING_EXPORT: ExportStatus[] = ['queued', 'running'];

const bigintAsNumber = {
  to: (v: number | null) => v,
  from: (v: string | number | null) => (v === null ? null : Number(v)),
};

@Entity('exports')
@Index('ix_exports_user_created', ['userId', 'createdAt'])
@Index('ix_exports_expires', ['expiresAt'])
export class DataExport {
  /** A UUID; also the job id, so enqueueing twice is a no-op. */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'user_id' })
  userId: number;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User;

  @Column({ type: 'varchar', length: 16 })
  status: ExportStatus;

  @Column({ type: 'integer', default: 0 })
  progress: number;

  /** `exports/<userId>/<id>.<run>.zip` once the archive is written (the run that completed it). */
  @Column({ name: 'storage_key', type: 'varchar', length: 300, nullable: true })
  storageKey: string | null;

  @Column({ type: 'bigint', nullable: true, transformer: bigintAsNumber })
  size: number | null;

  /** Why it failed, in words for the user. */
  @Column({ type: 'varchar', length: 500, nullable: true })
  error: string | null;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt: Date;

  @Column({ name: 'started_at', type: 'datetime', precision: 3, nullable: true })
  startedAt: Date | null;

  @Column({ name: 'completed_at', type: 'datetime', precision: 3, nullable: true })
  completedAt: Date | null;

  /**
   * The owner's users.token_version when it was requested: its download is refused once that
   * changed (sessions ended). Null on rows older than the column.
   */
  @Column({ name: 'token_version', type: 'integer', nullable: true })
  tokenVersion: number | null;

  /** Set when it finishes (completed or failed): the sweep removes it then. */
  @Column({ name: 'expires_at', type: 'datetime', precision: 3, nullable: true })
  expiresAt: Date | null;
}
