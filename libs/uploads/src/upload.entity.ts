import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '@echo/users';

/** The filter columns the search indexes carry (the migration's SEARCH_INDEX_FILTERS, as properties). */
const SEARCH_INDEX_PROPERTIES = [
  'format',
  'orientation',
  'hasGps',
  'width',
  'height',
  'sharpness',
  'colorL',
  'colorA',
  'colorB',
  'contentType',
  'cameraMake',
  'cameraModel',
];

const bigintAsNumber = { to: (v: number) => v, from: (v: string | number) => Number(v) };

@Entity('uploads')
@Index('ix_uploads_user_created', ['userId', 'createdAt', 'id'])
@Index('uq_uploads_user_sha256', ['userId', 'sha256'], { unique: true })
@Index('ix_uploads_created', ['createdAt', 'id'])
@Index('ix_uploads_content_type_created', ['contentType', 'createdAt', 'id'])
@Index('ix_uploads_size', ['size'])
@Index('ix_uploads_user_created_search', ['userId', 'createdAt', 'id', 'takenAt', ...SEARCH_INDEX_PROPERTIES])
@Index('ix_uploads_user_taken_search', ['userId', 'takenAt', 'id', 'createdAt', ...SEARCH_INDEX_PROPERTIES])
@Index('ix_uploads_user_phash', ['userId', 'phash', 'id'])
@Index('ix_uploads_taken', ['takenAt', 'id'])
// Counting an owner's list with one search filter (UploadCountIndexes1764810000000).
@Index('ix_uploads_user_type_count', ['userId', 'contentType'])
@Index('ix_uploads_user_make_count', ['userId', 'cameraMake'])
@Index('ix_uploads_user_model_count', ['userId', 'cameraModel'])
@Index('ix_uploads_user_gps_count', ['userId', 'hasGps'])
@Index('ix_uploads_user_orientation_count', ['userId', 'orientation'])
@Index('ix_uploads_user_width_count', ['userId', 'width'])
@Index('ix_uploads_user_height_count', ['userId', 'height'])
@Index('ix_uploads_user_format_count', ['userId', 'format'])
@Index('ix_uploads_user_sharpness_count', ['userId', 'sharpness'])
@Index('ix_uploads_user_color_count', ['userId', 'colorL', 'colorA', 'colorB'])
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

  // --- What the analysis saw (null until one completes; see UploadSearch1764600000000) ---

  /** EXIF taken-at, else the upload time (set at intake). Null only on rows the backfill has not reached. */
  @Column({ name: 'taken_at', type: 'datetime', precision: 3, nullable: true })
  takenAt?: Date | null;

  /** Lower-cased. */
  @Column({ name: 'camera_make', type: 'varchar', length: 64, nullable: true })
  cameraMake?: string | null;

  /** Lower-cased. */
  @Column({ name: 'camera_model', type: 'varchar', length: 64, nullable: true })
  cameraModel?: string | null;

  @Column({ name: 'has_gps', type: 'boolean', nullable: true })
  hasGps?: boolean | null;

  /** landscape | portrait | square, of the displayed size. */
  @Column({ type: 'varchar', length: 9, nullable: true })
  orientation?: string | null;

  /** The decoded format (jpeg, heic, png, …). */
  @Column({ type: 'varchar', length: 16, nullable: true })
  format?: string | null;

  /** The dominant colour in CIELAB (D65). */
  @Column({ name: 'color_l', type: 'float', nullable: true })
  colorL?: number | null;

  @Column({ name: 'color_a', type: 'float', nullable: true })
  colorA?: number | null;

  @Column({ name: 'color_b', type: 'float', nullable: true })
  colorB?: number | null;

  @Column({ type: 'float', nullable: true })
  sharpness?: number | null;

  /** 64-bit perceptual hash, 16 hex digits. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  phash?: string | null;

  /** The display rendition's storage key (the original's own when it displays as is). */
  @Column({ name: 'preview_key', type: 'varchar', length: 300, nullable: true })
  previewKey?: string | null;
}
