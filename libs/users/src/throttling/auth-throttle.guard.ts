import { createHash } from 'node:crypto';
import { HttpException, HttpStatus, Injectable, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { readSessionCookie } from '../auth/session-cookie.js';

/** 429 with a standard Retry-After header and DRF's wording. */
export class ThrottledException extends HttpException {
  constructor(readonly retryAfter: number) {
    super(
      `Request was throttled. Expected available in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`,
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

const CHECKS_PASSWORD = 'echo:checks-password';

/**
 * On a route that checks an account's password (login, the cookie sign-in, restore): its
 * per-IP and per-account counters are the ones every such route shares, so spreading guesses
 * over the routes gains nothing.
 */
export const ChecksPassword = () => SetMetadata(CHECKS_PASSWORD, true);

/** Rate limits for the credential endpoints: per client IP and per account (see UsersModule). */
@Injectable()
export class AuthThrottleGuard extends ThrottlerGuard {
  /**
   * The default key names the class and handler, one counter per route: each password route
   * would add a whole per-account limit. Those routes leave them out (ChecksPassword).
   */
  protected override generateKey(context: ExecutionContext, suffix: string, name: string): string {
    const shared = this.reflector.getAllAndOverride<boolean | undefined>(CHECKS_PASSWORD, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!shared) return super.generateKey(context, suffix, name);
    return createHash('sha256').update(`password-${name}-${suffix}`).digest('hex');
  }

  protected override async throwThrottlingException(_: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw new ThrottledException(Math.max(1, detail.timeToBlockExpire));
  }
}

/**
 * The account a credential request is about: the normalised username/email, or the refresh token's
 * id (from the body, or the cookie flow's cookie). The guard runs before validation, so a body
 * whose identifier is not a string (a 400 later) shares one bucket rather than escaping the
 * per-account limit.
 */
export function accountTracker(req: Partial<Pick<FastifyRequest, 'body' | 'ip' | 'headers' | 'server'>>): string {
  const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
  // The cookie flow's refresh token travels in its cookie instead of the body.
  const cookie =
    req.headers && req.server ? readSessionCookie({ headers: req.headers, server: req.server }) : undefined;
  const refresh = (typeof body.refresh === 'string' ? body.refresh : cookie)?.split('.')[0];
  const account = body.username ?? body.email ?? refresh;
  // No identifier at all (logout-all): nothing to guess, so the client's own bucket.
  if (account === undefined) return `ip:${req.ip}`;
  if (typeof account !== 'string') return 'acct:?invalid';
  return `acct:${account.trim().toLowerCase().slice(0, 254)}`;
}
