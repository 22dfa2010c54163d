import { Injectable, UnauthorizedException } from '@nestjs/common';
import { UsersService } from '../users.service.js';
import { publicUser } from '../user.response.js';
import { TokenService } from './token.service.js';
import type { AuthUser } from './auth-user.js';

export const NO_CREDENTIALS = 'Authentication credentials were not provided.';

/**
 * The one rule for "who is this access token": a valid HS256 JWT of an active user whose token
 * version it carries. The user record comes through the cache (invalidated on every change), so
 * a deactivation or "log out everywhere" is refused on the next request without a query per
 * request. Used by the global guard, the queue dashboard and the event stream.
 */
@Injectable()
export class Authenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly users: UsersService,
  ) {}

  private readonly perRequest = new WeakMap<object, Promise<AuthUser>>();

  /**
   * authenticate() once per request: the answers given before Nest's pipeline (serveProfileEarly,
   * servePageBodiesEarly) and the global guard share one result, so a request that falls through
   * to Nest reads its user once (with the cache off, one query instead of two).
   */
  authenticateRequest(request: object, token: string | undefined): Promise<AuthUser> {
    let result = this.perRequest.get(request);
    if (!result) {
      result = this.authenticate(token);
      this.perRequest.set(request, result);
    }
    return result;
  }

  async authenticate(token: string | undefined): Promise<AuthUser> {
    if (!token) throw new UnauthorizedException(NO_CREDENTIALS);
    const claims = await this.tokens.verifyAccess(token);
    return this.activeUser(claims.userId, claims.version);
  }

  /**
   * The active user behind another credential that names them (a stream ticket); with `version`,
   * also that the session generation it was issued in is still the current one.
   */
  async activeUser(userId: number, version?: number): Promise<AuthUser> {
    const user = await this.users.findCached(userId);
    if (!user || !user.is_active) throw new UnauthorizedException('User is inactive or deleted.');
    if (version !== undefined && (user.token_version ?? 0) !== version)
      throw new UnauthorizedException('Token has been revoked.');
    return publicUser(user);
  }
}
