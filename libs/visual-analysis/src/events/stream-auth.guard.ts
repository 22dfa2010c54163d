import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { bearerToken } from '@echo/http';
import { Authenticator, NO_CREDENTIALS, type AuthUser } from '@echo/users';
import { StreamTickets } from './stream-tickets.js';

interface StreamRequest {
  headers: Record<string, string | undefined>;
  query: Record<string, unknown>;
  user?: AuthUser;
}

/**
 * The event stream's authentication (the route is @Public() to the global guard): the usual
 * `Authorization: Bearer <access>` through the one Authenticator, or `?ticket=` from
 * POST /api/auth/stream-ticket for browsers' EventSource, which cannot send headers. No other
 * query parameter is read: an access token in a URL (logs, history, Referer) is never accepted.
 */
@Injectable()
export class StreamAuthGuard implements CanActivate {
  private services?: { authenticator: Authenticator };

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly tickets: StreamTickets,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<StreamRequest>();
    // UsersModule's own services, looked up rather than re-exported, so this stays out of its wiring.
    this.services ??= { authenticator: this.moduleRef.get(Authenticator, { strict: false }) };
    const header = request.headers.authorization;
    const ticket = request.query.ticket;
    if (header) {
      request.user = await this.services.authenticator.authenticate(bearerToken(header));
      return true;
    }
    if (ticket === undefined) throw new UnauthorizedException(NO_CREDENTIALS);
    const holder = typeof ticket === 'string' ? await this.tickets.redeem(ticket) : undefined;
    if (holder === undefined) throw new UnauthorizedException('Stream ticket is invalid, expired or already used.');
    // A ticket issued before "log out everywhere" or a password change is refused like its access token.
    request.user = await this.services.authenticator.activeUser(holder.userId, holder.tokenVersion);
    return true;
  }
}
