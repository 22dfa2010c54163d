import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { Role, User } from './user.entity.js';

/** The user object on the wire (snake_case, never a hash or token). */
export class UserResponse {
  @ApiProperty() id: number;
  @ApiProperty() username: string;
  @ApiProperty() email: string;
  @ApiProperty() display_name: string;
  @ApiProperty({ enum: ['user', 'admin'] }) role: Role;
  @ApiProperty() is_active: boolean;
  @ApiProperty({ format: 'date-time' }) date_joined: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) last_login: string | null;
}

export function toUserResponse(user: User): UserResponse {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    display_name: user.displayName,
    role: user.role,
    is_active: Boolean(user.isActive),
    date_joined: new Date(user.dateJoined).toISOString(),
    last_login: user.lastLogin ? new Date(user.lastLogin).toISOString() : null,
  };
}

/** The user object admins see: also a pending deletion (all three null when there is none). */
export class AdminUserResponse extends UserResponse {
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) deletion_requested_at: string | null;
  @ApiProperty({
    format: 'date-time',
    nullable: true,
    type: String,
    description: 'When the purge may run; until then the deletion can be cancelled',
  })
  delete_after: string | null;
  @ApiProperty({
    nullable: true,
    type: Number,
    description: "Who asked: the user's own id, or the admin's",
  })
  deletion_requested_by: number | null;
}

export function toAdminUserResponse(user: User): AdminUserResponse {
  const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);
  return {
    ...toUserResponse(user),
    deletion_requested_at: iso(user.deletionRequestedAt),
    delete_after: iso(user.deleteAfter),
    deletion_requested_by: user.deletionRequestedBy ?? null,
  };
}

/** What the cache keeps per user: the wire object plus the session generation the guard checks. */
export type CachedUser = UserResponse & { token_version: number };

export function toCachedUser(user: User): CachedUser {
  return { ...toUserResponse(user), token_version: user.tokenVersion ?? 0 };
}

/** The wire object of a cached record (never the token version). */
export function publicUser(cached: CachedUser): UserResponse {
  const { token_version: _, ...user } = cached;
  return user;
}

export class TokenPairResponse {
  @ApiProperty({ description: 'Access JWT (Authorization: Bearer …)' }) access: string;
  @ApiProperty({ description: 'Refresh token, single use' }) refresh: string;
}

/** PATCH /users/me: the profile; after a password or email change also a fresh pair (every other session ended). */
export class UpdateMeResponse extends UserResponse {
  @ApiPropertyOptional({ description: 'Present when the password or email changed' }) access?: string;
  @ApiPropertyOptional({ description: 'Present when the password or email changed' }) refresh?: string;
}

export class RegisterResponse extends TokenPairResponse {
  @ApiProperty({ type: UserResponse }) user: UserResponse;
}
