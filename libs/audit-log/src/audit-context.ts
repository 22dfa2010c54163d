import { createParamDecorator, type ExecutionContext } from '@nestjs/common';

/** Who did it and from where: built per admin request by @Audit(), or by the CLI. */
export interface AuditContext {
  /** null for the CLI and for sign-in failures (nobody authenticated). */
  actorId: number | null;
  actorUsername: string;
  requestId: string | null;
  ip: string | null;
}

/** The CLI's context: no user, no request. */
export const CLI_AUDIT: AuditContext = { actorId: null, actorUsername: 'cli', requestId: null, ip: null };

/** In-process calls with no request behind them (tests, maintenance): still recorded, by 'system'. */
export const SYSTEM_AUDIT: AuditContext = { actorId: null, actorUsername: 'system', requestId: null, ip: null };

interface AuditedRequest {
  id?: string;
  ip?: string;
  user?: { id: number; username: string };
}

/** The request's context: Fastify's request id (X-Request-Id, as the request log) and its client IP (request.ip honours X-Forwarded-For only from TRUST_PROXY's proxies). */
export function auditContextOf(request: AuditedRequest): AuditContext {
  return {
    actorId: request.user?.id ?? null,
    actorUsername: request.user?.username ?? '',
    requestId: request.id ?? null,
    ip: request.ip ?? null,
  };
}

/** Controller parameter: the AuditContext of this (authenticated) request. */
export const Audit = createParamDecorator((_: unknown, ctx: ExecutionContext): AuditContext =>
  auditContextOf(ctx.switchToHttp().getRequest<AuditedRequest>()),
);
