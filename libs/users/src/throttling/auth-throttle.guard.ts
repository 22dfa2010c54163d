import { HttpException, HttpStatus, Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';

/** 429 with a standard Retry-After header and DRF's wording. */
export class ThrottledException extends HttpException {
  constructor(readonly retryAfter: number) {
    super(`Request was throttled. Expected available in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/** Rate limits for the credential endpoints: per client IP and per account (see UsersModule). */
@Injectable()
export class AuthThrottleGuard extends ThrottlerGuard {
  protected override async throwThrottlingException(_: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw new ThrottledException(Math.max(1, detail.timeToBlockExpire));
  }
}

/** The account a credential request is about: username/email, or the refresh token's id. */
export function accountTracker(req: { body?: Record<string, unknown>; ip?: string }): string {
  const body = req.body ?? {};
  const account = body.username ?? body.email ?? (typeof body.refresh === 'string' ? body.refresh.split('.')[0] : undefined);
  return typeof account === 'string' && account ? `acct:${account.trim().toLowerCase()}` : `ip:${req.ip}`;
}
