import { Injectable, UnauthorizedException } from '@nestjs/common';
import { UsersService } from '../users.service.js';
import { toUserResponse, type RegisterResponse, type TokenPairResponse } from '../user.response.js';
import { PasswordHasher } from './password-hasher.js';
import { TokenService, type SessionTokens, type TokenOwner } from './token.service.js';
import { PendingDeletionException } from './pending-deletion.js';
import type { LoginDto, RegisterDto } from '../dto/auth.dto.js';
import type { User } from '../user.entity.js';

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

  async login(dto: LoginDto): Promise<TokenPairResponse> {
    return this.tokens.issuePair(await this.signIn(dto));
  }

  /** login() for the cookie flow: the same checks, and the refresh token's expiry for the cookie. */
  async startSession(dto: LoginDto): Promise<SessionTokens> {
    return this.tokens.issueSession(await this.signIn(dto));
  }

  refresh(raw: string): Promise<TokenPairResponse> {
    return this.tokens.rotate(raw, (userId) => this.activeOwner(userId));
  }

  /** refresh() for the cookie flow (see TokenService.rotateSession). */
  refreshSession(raw: string): Promise<SessionTokens> {
    return this.tokens.rotateSession(raw, (userId) => this.activeOwner(userId));
  }

  logout(raw: string): Promise<void> {
    return this.tokens.revoke(raw);
  }

  logoutEverywhere(userId: number): Promise<void> {
    return this.users.endSessions(userId);
  }

  /** Unknown user and wrong password take the same path (a hash verify) and give the same 401. */
  private async signIn(dto: LoginDto): Promise<User> {
    const user = await this.users.findForLogin({ username: dto.username, email: dto.email });
    const ok = await this.hasher.verify(user?.passwordHash, dto.password);
    // A pending deletion is told only to whoever knows the password (else the same 401 as any failure).
    if (user && ok && user.deleteAfter) throw new PendingDeletionException(user);
    if (!user || !ok || !user.isActive) throw new UnauthorizedException(BAD_CREDENTIALS);
    await this.users.recordLogin(user.id);
    return user;
  }

  /** The refresh token's owner if still active, with their current token version. */
  private async activeOwner(userId: number): Promise<TokenOwner | undefined> {
    const user = await this.users.findCached(userId);
    return user?.is_active ? { id: user.id, tokenVersion: user.token_version ?? 0 } : undefined;
  }
}
