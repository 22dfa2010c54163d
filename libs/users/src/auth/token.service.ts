import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { LRUCache } from 'lru-cache';
import { DataSource, type EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { onPrimary, transactional } from '@echo/database';
import type { RefreshToken } from './refresh-token.entity.js';
import { RefreshTokensRepository } from './refresh-tokens.repository.js';
import { successorKey, successorOf } from './refresh-successor.js';

const INVALID_TOKEN = 'Given token not valid for any token type';
const INVALID_REFRESH = 'Token is invalid or expired';

/**
 * Cookie flow: how long after its use a refresh token may be presented again and get the same
 * successor back (two tabs reloading at once both send the cookie they hold; a reload can drop
 * the response that carried the new one). Later, a second use is reuse and revokes the family.
 */
export const SESSION_REUSE_GRACE_MS = 30_000;

/** Whose token it is and which session generation (users.token_version) it belongs to. */
export interface TokenOwner {
  id: number;
  tokenVersion: number;
}

/** A pair for the cookie flow, with the refresh token's expiry (the cookie's lifetime). */
export interface SessionTokens {
  access: string;
  refresh: string;
  expiresAt: Date;
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

  /** Derives the cookie flow's successors (see refresh-successor.ts). */
  private readonly successorKey: Buffer;

  constructor(
    private readonly jwt: JwtService,
    private readonly refreshTokens: RefreshTokensRepository,
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.successorKey = successorKey(config.auth.jwtSecret);
  }

  async issuePair(owner: TokenOwner, familyId: string = randomUUID()): Promise<{ access: string; refresh: string }> {
    const { access, refresh } = await this.issueSession(owner, familyId);
    return { access, refresh };
  }

  /** issuePair, plus the refresh token's expiry (the cookie flow sets the cookie's lifetime from it). */
  async issueSession(owner: TokenOwner, familyId: string = randomUUID()): Promise<SessionTokens> {
    const access = await this.signAccess(owner);
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = await this.insertRefresh(owner.id, familyId, id, secret, new Date());
    return { access, refresh: `${id}.${secret}`, expiresAt };
  }

  private signAccess(owner: TokenOwner): Promise<string> {
    return this.jwt.signAsync(
      { sub: String(owner.id), typ: 'access', ver: owner.tokenVersion },
      { algorithm: 'HS256', expiresIn: this.config.auth.accessTtlSeconds },
    );
  }

  private async insertRefresh(
    userId: number,
    familyId: string,
    id: string,
    secret: string,
    now: Date,
    manager?: EntityManager,
  ): Promise<Date> {
    const expiresAt = new Date(now.getTime() + this.config.auth.refreshTtlSeconds * 1000);
    await this.refreshTokens.insert(
      { id, userId, familyId, tokenHash: sha256(secret), createdAt: now, expiresAt, usedAt: null, revokedAt: null },
      manager,
    );
    return expiresAt;
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

  /**
   * rotate() for the cookie flow: the same checks and the same family rules, with one difference.
   * The successor is derived from the token (successorOf) and written in the transaction that
   * marks the token used, so a second use within SESSION_REUSE_GRACE_MS of the first, while that
   * successor is still unused, gets the same successor again instead of revoking the family: the
   * family never has two live tokens. Any other second use is reuse, as in rotate().
   */
  async rotateSession(raw: string, owner: (userId: number) => Promise<TokenOwner | undefined>): Promise<SessionTokens> {
    const row = await this.find(raw);
    const user = await owner(row.userId);
    if (!user) {
      await this.revokeAllForUser(row.userId);
      throw new UnauthorizedException(INVALID_REFRESH);
    }
    if (row.revokedAt || (await this.familyRevoked(row.familyId))) {
      await this.revokeFamily(row.familyId);
      throw new UnauthorizedException(INVALID_REFRESH);
    }
    if (!row.usedAt && row.expiresAt.getTime() <= Date.now()) throw new UnauthorizedException(INVALID_REFRESH);
    const next = successorOf(this.successorKey, raw);
    const expiresAt = await transactional(this.dataSource, async (em) => {
      const now = new Date();
      // Conditional update: of two concurrent uses exactly one wins; on MariaDB the other waits
      // for the winner's commit, so it then finds the successor written.
      if (!row.usedAt && (await this.refreshTokens.markUsed(row.id, now, em)))
        return this.insertRefresh(row.userId, row.familyId, next.id, next.secret, now, em);
      return this.replayable(em, row.id, next.id, now);
    });
    if (!expiresAt) {
      await this.revokeFamily(row.familyId);
      throw new UnauthorizedException(INVALID_REFRESH);
    }
    return { access: await this.signAccess(user), refresh: `${next.id}.${next.secret}`, expiresAt };
  }

  /** The successor's expiry when a used token may be answered with it again (see rotateSession). */
  private async replayable(
    em: EntityManager,
    usedId: string,
    successorId: string,
    now: Date,
  ): Promise<Date | undefined> {
    const used = await this.refreshTokens.findById(usedId, em);
    const successor = await this.refreshTokens.findById(successorId, em);
    if (!used?.usedAt || used.revokedAt || !successor) return undefined;
    if (now.getTime() - new Date(used.usedAt).getTime() > SESSION_REUSE_GRACE_MS) return undefined;
    if (successor.familyId !== used.familyId || successor.usedAt || successor.revokedAt) return undefined;
    const expiresAt = new Date(successor.expiresAt);
    return expiresAt.getTime() > now.getTime() ? expiresAt : undefined;
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
