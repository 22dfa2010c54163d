import { ApiProperty } from '@nestjs/swagger';
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

export class TokenPairResponse {
  @ApiProperty({ description: 'Access JWT (Authorization: Bearer …)' }) access: string;
  @ApiProperty({ description: 'Refresh token, single use' }) refresh: string;
}

export class RegisterResponse extends TokenPairResponse {
  @ApiProperty({ type: UserResponse }) user: UserResponse;
}
