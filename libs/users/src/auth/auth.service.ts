import { Injectable, UnauthorizedException } from '@nestjs/common';
import { UsersService } from '../users.service.js';
import { toUserResponse, type RegisterResponse, type TokenPairResponse } from '../user.response.js';
import { PasswordHasher } from './password-hasher.js';
import { TokenService } from './token.service.js';
import { PendingDeletionException } from './pending-deletion.js';
import type { LoginDto, RegisterDto } from '../dto/auth.dto.js';

const BAD_CREDENTIALS = 'No active account found with the given credentials';

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly tokens: TokenService,
  ) {}

  async register(dto: RegisterDto): Promise<RegisterResponse> {
    const user = await this.users.create({
      username: dto.username,
      email: dto.email,
      password: dto.password,
      displayName: dto.display_name,
    });
    return { user: toUserResponse(user), ...(await this.tokens.issuePair(user)) };
  }

  /** Unknown user and wrong password take the same path (a hash verify) and give the same 401. */
  async login(dto: LoginDto): Promise<TokenPairResponse> {
    const user = await this.users.findForLogin({ username: dto.username, email: dto.email });
    const ok = await this.hasher.verify(user?.passwordHash, dto.password);
    // A pending deletion is told only to whoever knows the password (else the same 401 as any failure).
    if (user && ok && user.deleteAfter) throw new PendingDeletionException(user);
    if (!user || !ok || !user.isActive) throw new UnauthorizedException(BAD_CREDENTIALS);
    await this.users.recordLogin(user.id);
    return this.tokens.issuePair(user);
  }

  refresh(raw: string): Promise<TokenPairResponse> {
    return this.tokens.rotate(raw, async (userId) => {
      const user = await this.users.findCached(userId);
      return user?.is_active ? { id: user.id, tokenVersion: user.token_version ?? 0 } : undefined;
    });
  }

  logout(raw: string): Promise<void> {
    return this.tokens.revoke(raw);
  }

  logoutEverywhere(userId: number): Promise<void> {
    return this.users.endSessions(userId);
  }
}
