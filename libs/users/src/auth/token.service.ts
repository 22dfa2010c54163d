import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, type Repository } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { onPrimary } from '@echo/database';
import { RefreshToken } from './refresh-token.entity.js';

const INVALID_TOKEN = 'Given token not valid for any token type';

/**
 * Access tokens: short-lived HS256 JWTs (only HS256 is accepted on verify).
 * Refresh tokens: `<id>.<secret>`, only a SHA-256 of the secret is stored; single use.
 */
@Injectable()
export class TokenService {
  constructor(
    private readonly jwt: JwtService,
    @InjectRepository(RefreshToken) private readonly refreshTokens: Repository<RefreshToken>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async issuePair(userId: number, familyId: string = randomUUID()): Promise<{ access: string; refresh: string }> {
    const access = await this.jwt.signAsync({ sub: String(userId), typ: 'access' }, { algorithm: 'HS256', expiresIn: this.config.auth.accessTtlSeconds });
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const now = new Date();
    await this.refreshTokens.insert({
      id,
      userId,
      familyId,
      tokenHash: sha256(secret),
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.config.auth.refreshTtlSeconds * 1000),
      usedAt: null,
      revokedAt: null,
    });
    return { access, refresh: `${id}.${secret}` };
  }

  async verifyAccess(token: string): Promise<number> {
    try {
      const payload = await this.jwt.verifyAsync<{ sub: string; typ: string }>(token, { algorithms: ['HS256'] });
      const id = Number(payload.sub);
      if (payload.typ !== 'access' || !Number.isSafeInteger(id)) throw new Error('wrong token type');
      return id;
    } catch {
      throw new UnauthorizedException(INVALID_TOKEN);
    }
  }

  /**
   * Uses a refresh token once and returns a new pair in the same family. A token presented
   * after it was used (or revoked) revokes its whole family: someone else holds a copy.
   * `mayRefresh` vets the owner (active?) from the same lookup; a refusal revokes all their tokens.
   */
  async rotate(raw: string, mayRefresh: (userId: number) => Promise<boolean>): Promise<{ access: string; refresh: string }> {
    const row = await this.find(raw);
    if (!(await mayRefresh(row.userId))) {
      await this.revokeAllForUser(row.userId);
      throw new UnauthorizedException('Token is invalid or expired');
    }
    const now = new Date();
    if (row.usedAt || row.revokedAt) {
      await this.revokeFamily(row.familyId);
      throw new UnauthorizedException('Token is invalid or expired');
    }
    if (row.expiresAt.getTime() <= now.getTime()) throw new UnauthorizedException('Token is invalid or expired');
    // Conditional update: of two concurrent uses, exactly one wins.
    const result = await this.refreshTokens.update({ id: row.id, usedAt: IsNull(), revokedAt: IsNull() }, { usedAt: now });
    if (!result.affected) {
      await this.revokeFamily(row.familyId);
      throw new UnauthorizedException('Token is invalid or expired');
    }
    return this.issuePair(row.userId, row.familyId);
  }

  async revoke(raw: string): Promise<void> {
    const row = await this.find(raw);
    await this.revokeFamily(row.familyId);
  }

  async revokeAllForUser(userId: number): Promise<void> {
    await this.refreshTokens.update({ userId, revokedAt: IsNull() }, { revokedAt: new Date() });
  }

  private async revokeFamily(familyId: string): Promise<void> {
    await this.refreshTokens.update({ familyId, revokedAt: IsNull() }, { revokedAt: new Date() });
  }

  private async find(raw: string): Promise<RefreshToken> {
    const [id, secret] = raw.split('.');
    if (!id || !secret || !/^[0-9a-f-]{36}$/.test(id)) throw new UnauthorizedException('Token is invalid or expired');
    // On the primary: a token is used right after it is issued, and a replica may not show it used yet.
    const row = await onPrimary(this.refreshTokens.manager.dataSource, () => this.refreshTokens.findOne({ where: { id } }));
    const given = Buffer.from(sha256(secret), 'hex');
    if (!row || !timingSafeEqual(Buffer.from(row.tokenHash, 'hex'), given)) throw new UnauthorizedException('Token is invalid or expired');
    row.expiresAt = new Date(row.expiresAt);
    return row;
  }
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
