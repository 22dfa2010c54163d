import { Injectable, UnauthorizedException, ForbiddenException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { IS_PUBLIC } from '@echo/http';
import { TokenService } from './token.service.js';
import { UsersService } from '../users.service.js';
import { AUTH_OPTIONS, type AuthOptions } from './auth.decorator.js';

/**
 * Global guard: every route needs a Bearer access token unless marked @Public(). The user is
 * read through the cache (invalidated on every change), so a deactivated user is refused on
 * the next request without a database hit per request.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
    private readonly users: UsersService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    const header = request.headers.authorization;
    if (!header) throw new UnauthorizedException('Authentication credentials were not provided.');
    const [scheme, token] = header.split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !token) throw new UnauthorizedException('Authentication credentials were not provided.');

    const userId = await this.tokens.verifyAccess(token);
    const user = await this.users.findCached(userId);
    if (!user || !user.is_active) throw new UnauthorizedException('User is inactive or deleted.');
    const options = this.reflector.getAllAndOverride<AuthOptions | undefined>(AUTH_OPTIONS, targets) ?? {};
    if (options.admin && user.role !== 'admin') throw new ForbiddenException();
    request.user = user;
    return true;
  }
}
