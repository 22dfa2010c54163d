import { Injectable, ForbiddenException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { bearerToken, IS_PUBLIC } from '@echo/http';
import { Authenticator } from './authenticator.js';
import { AUTH_OPTIONS, type AuthOptions } from './auth.decorator.js';

/** Global guard: every route needs a Bearer access token unless marked @Public(). */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: Authenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const request = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    const user = await this.authenticator.authenticateRequest(request, bearerToken(request.headers.authorization));
    const options = this.reflector.getAllAndOverride<AuthOptions | undefined>(AUTH_OPTIONS, targets) ?? {};
    if (options.admin && user.role !== 'admin') throw new ForbiddenException();
    request.user = user;
    return true;
  }
}
