import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { LRUCache } from 'lru-cache';
import { DataSource, type EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { onPrimary } from '@echo/database';
import type { RefreshToken } from './refresh-token.entity.js';
import { RefreshTokensRepository } from './refresh-tokens.repository.js';

const INVALID_TOKEN = 'Given token not valid for any token type';
const INVALID_REFRESH = 'Token is invalid or expired';

/** Whose token it is and which session generation (users.token_version) it belongs to. */
export interface TokenOwner {
  id: number;
  tokenVersion: number;
}

export interface AccessClaims {
  userId: number;
  version: number;
}

/**
 * Access tokens: short-lived HS256 JWTs (only HS256 accepted, `exp` required) carrying the user's
 * token version, which the auth guard compares with the user record: raising it ends every
 * session. Refresh tokens: `<id>.<secret>`, only a SHA-256 of the secret is stored; single use,
 * rotated within a family. A family in which any token was revoked is revoked for good: that is
 * checked on every refresh, so a token the family issued after the revocation is refused too.
 */
@Injectable()
export class TokenService {
  /** Access tokens already verified, with their expiry (bounded: one entry per active session). */
  private readonly verified = new LRUCache<string, { claims: AccessClaims; expMs: number }>({ max: 20_000 });

  constructor(
    private readonly jwt: JwtService,
    private readonly refreshTokens: RefreshTokensRepository,
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async issuePair(owner: TokenOwner, familyId: string = randomUUID()): Promise<{ access: string; refresh: string }> {
    const access = await this.jwt.signAsync(
      { sub: String(owner.id), typ: 'access', ver: owner.tokenVersion },
      { algorithm: 'HS256', expiresIn: this.config.auth.accessTtlSeconds },
    );
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const now = new Date();
    await this.refreshTokens.insert({
      id,
      userId: owner.id,
      familyId,
      tokenHash: sha256(secret),
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.config.auth.refreshTtlSeconds * 1000),
      usedAt: null,
      revokedAt: null,
    });
    return { access, refresh: `${id}.${secret}` };
  }

  async verifyAccess(token: string): Promise<AccessClaims> {
    // A token verified before is not verified again until it expires: the signature check (base64,
    // HMAC, two JSON parses) was the largest single cost of a cached request. Only verified tokens
    // are remembered, by their exact text; revocation is the token version, checked by the caller.
    const known = this.verified.get(token);
    if (known && known.expMs > Date.now()) return known.claims;
    try {
      const payload = await this.jwt.verifyAsync<{ sub: string; typ: string; ver?: unknown; exp?: unknown }>(token, {
        algorithms: ['HS256'],
      });
      const userId = Number(payload.sub);
      if (payload.typ !== 'access' || !Number.isSafeInteger(userId)) throw new Error('wrong token type');
      if (typeof payload.exp !== 'number') throw new Error('no expiry');
      const version = payload.ver ?? 0;
      if (typeof version !== 'number' || !Number.isSafeInteger(version)) throw new Error('bad version');
      const claims = { userId, version };
      this.verified.set(token, { claims, expMs: payload.exp * 1000 });
      return claims;
    } catch {
      throw new UnauthorizedException(INVALID_TOKEN);
    }
  }

  /**
   * Uses a refresh token once and returns a new pair in the same family. A token presented
   * after it was used (or revoked) revokes its whole family: someone else holds a copy.
   * `owner` vets the user (active? current token version) from the same lookup; a refusal
   * revokes all their tokens.
   */
  async rotate(
    raw: string,
    owner: (userId: number) => Promise<TokenOwner | undefined>,
  ): Promise<{ access: string; refresh: string }> {
    const row = await this.find(raw);
    const user = await owner(row.userId);
    if (!user) {
      await this.revokeAllForUser(row.userId);
      throw new UnauthorizedException(INVALID_REFRESH);
    }
    const now = new Date();
    if (row.usedAt || row.revokedAt || (await this.familyRevoked(row.familyId))) {
      await this.revokeFamily(row.familyId);
      throw new UnauthorizedException(INVALID_REFRESH);
    }
    if (row.expiresAt.getTime() <= now.getTime()) throw new UnauthorizedException(INVALID_REFRESH);
    // Conditional update: of two concurrent uses, exactly one wins.
    if (!(await this.refreshTokens.markUsed(row.id, now))) {
      await this.revokeFamily(row.familyId);
      throw new UnauthorizedException(INVALID_REFRESH);
    }
    return this.issuePair(user, row.familyId);
  }

  async revoke(raw: string): Promise<void> {
    const row = await this.find(raw);
    await this.revokeFamily(row.familyId);
  }

  /** Every refresh token of the user (in `manager`'s transaction when given). */
  revokeAllForUser(userId: number, manager?: EntityManager): Promise<void> {
    return this.refreshTokens.revokeAllForUser(userId, manager);
  }

  private revokeFamily(familyId: string): Promise<void> {
    return this.refreshTokens.revokeFamily(familyId);
  }

  /** A family is revoked once any of its tokens is (rows are never un-revoked). */
  private familyRevoked(familyId: string): Promise<boolean> {
    return onPrimary(this.dataSource, () => this.refreshTokens.anyRevokedIn(familyId));
  }

  private async find(raw: string): Promise<RefreshToken> {
    const [id, secret] = raw.split('.');
    if (!id || !secret || !/^[0-9a-f-]{36}$/.test(id)) throw new UnauthorizedException(INVALID_REFRESH);
    // On the primary: a token is used right after it is issued, and a replica may not show it used yet.
    const row = await onPrimary(this.dataSource, () => this.refreshTokens.findById(id));
    const given = Buffer.from(sha256(secret), 'hex');
    if (!row || !timingSafeEqual(Buffer.from(row.tokenHash, 'hex'), given))
      throw new UnauthorizedException(INVALID_REFRESH);
    row.expiresAt = new Date(row.expiresAt);
    return row;
  }
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
