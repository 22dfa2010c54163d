import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '@echo/users';

const bigintAsNumber = { to: (v: number) => v, from: (v: string | number) => Number(v) };

@Entity('uploads')
@Index('ix_uploads_user_created', ['userId', 'createdAt', 'id'])
@Index('uq_uploads_user_sha256', ['userId', 'sha256'], { unique: true })
@Index('ix_uploads_created', ['createdAt', 'id'])
@Index('ix_uploads_content_type_created', ['contentType', 'createdAt', 'id'])
@Index('ix_uploads_size', ['size'])
export class Upload {
  /** A UUID: ids are not guessable. */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'user_id' })
  userId: number;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User;

  @Column({ length: 200, default: '' })
  title: string;

  /** The client's file name, sanitised; never used as a storage key. */
  @Column({ name: 'original_name', length: 255, default: '' })
  originalName: string;

  @Column({ name: 'content_type', length: 32 })
  contentType: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  size: number;

  @Column({ length: 64 })
  sha256: string;

  @Column({ type: 'integer' })
  width: number;

  @Column({ type: 'integer' })
  height: number;

  @Column({ name: 'storage_key', length: 300 })
  storageKey: string;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt: Date;
}
