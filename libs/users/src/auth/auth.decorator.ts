import { applyDecorators, createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { AuthUser } from './auth-user.js';

export const AUTH_OPTIONS = 'echo:auth';
export interface AuthOptions {
  admin?: boolean;
}

/**
 * The one auth decorator. Every /api route needs a valid access token (the global AuthGuard);
 * @Auth() documents it, @Auth({ admin: true }) also requires the admin role.
 */
export function Auth(options: AuthOptions = {}) {
  return applyDecorators(
    SetMetadata(AUTH_OPTIONS, options),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: '{"detail": …} — missing, invalid or expired token, or inactive user' }),
    ...(options.admin ? [ApiForbiddenResponse({ description: '{"detail": …} — admin role required' })] : []),
  );
}

/** The authenticated user of this request. */
export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthUser => {
  return ctx.switchToHttp().getRequest<{ user: AuthUser }>().user;
});
