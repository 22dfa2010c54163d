import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Upload } from '../upload.entity.js';

/**
 * One word of an upload's title or file name (searchWords): the word index `q` searches. It
 * carries the owner and both ordering dates, so an owner's search scans one index range in the
 * list's order and counts without reading uploads; the dates follow the upload's (recordAnalysis).
 */
@Entity('upload_words')
@Index('ix_upload_words_user_created', ['userId', 'word', 'createdAt', 'uploadId'])
@Index('ix_upload_words_user_taken', ['userId', 'word', 'takenAt', 'uploadId'])
export class UploadWord {
  @PrimaryColumn({ name: 'upload_id', type: 'varchar', length: 36 })
  uploadId: string;

  @ManyToOne(() => Upload, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'upload_id' })
  upload?: Upload;

  /** Compared byte for byte (utf8mb4_bin on MariaDB): searchWords already folded case and forms. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  word: string;

  @Column({ name: 'user_id' })
  userId: number;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt: Date;

  @Column({ name: 'taken_at', type: 'datetime', precision: 3, nullable: true })
  takenAt: Date | null;
}
