import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export type Role = 'user' | 'admin';
export const ROLES: Role[] = ['user', 'admin'];

@Entity('users')
@Index('ix_users_is_active_date_joined', ['isActive', 'dateJoined'])
@Index('ix_users_role_date_joined', ['role', 'dateJoined'])
@Index('ix_users_date_joined', ['dateJoined', 'id'])
export class User {
  @PrimaryGeneratedColumn()
  id: number;

  @Index('uq_users_username', { unique: true })
  @Column({ length: 150 })
  username: string;

  /** Stored lower-case. */
  @Index('uq_users_email', { unique: true })
  @Column({ length: 254 })
  email: string;

  @Column({ name: 'password_hash', length: 255, select: false })
  passwordHash: string;

  @Column({ name: 'display_name', length: 150, default: '' })
  displayName: string;

  @Column({ type: 'varchar', length: 16, default: 'user' })
  role: Role;

  @Column({ name: 'is_active', default: true })
  isActive: boolean;

  @Column({ name: 'date_joined', type: 'datetime', precision: 3 })
  dateJoined: Date;

  @Column({ name: 'last_login', type: 'datetime', precision: 3, nullable: true })
  lastLogin: Date | null;

  /** In every access token; raised to end all of the user's sessions (see TokenService). */
  @Column({ name: 'token_version', type: 'integer', default: 0 })
  tokenVersion: number;

  // --- A scheduled deletion (libs/account-data): all null unless one is pending ---

  @Column({ name: 'deletion_requested_at', type: 'datetime', precision: 3, nullable: true })
  deletionRequestedAt: Date | null;

  /** The purge may run from then on; until then the deletion can be cancelled. */
  @Index('ix_users_delete_after')
  @Column({ name: 'delete_after', type: 'datetime', precision: 3, nullable: true })
  deleteAfter: Date | null;

  /** Who asked: the user's own id (they may restore by signing in) or an admin's (they may not). */
  @Column({ name: 'deletion_requested_by', type: 'integer', nullable: true })
  deletionRequestedBy: number | null;

  /** When the purge claimed the account (by the database's clock): from then on no restore. */
  @Column({ name: 'purge_started_at', type: 'datetime', precision: 3, nullable: true })
  purgeStartedAt: Date | null;
}
