import type { IncomingMessage } from 'node:http';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { UnauthorizedException } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardAdapter } from '@bull-board/fastify';
import type { AppConfig } from '@echo/config';
import { QUEUES } from '@echo/queue';
import { TokenService, UsersService } from '@echo/users';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';
const LOGIN_PATH = `${QUEUE_DASHBOARD_PATH}/login`;
const COOKIE = 'echo_admin';

/** Tokens taken out of `/admin/queues/login?token=…` URLs before routing (see stripLoginToken). */
const loginTokens = new WeakMap<IncomingMessage, string>();

/**
 * Fastify `rewriteUrl`: moves the access token of a dashboard login URL out of the URL before
 * anything reads it, so request logs (and anything else that records URLs) never see it.
 */
export function stripLoginToken(req: IncomingMessage): string {
  const url = req.url ?? '/';
  if (!url.startsWith(`${LOGIN_PATH}?`)) return url;
  const query = new URLSearchParams(url.slice(LOGIN_PATH.length + 1));
  const token = query.get('token');
  if (token) loginTokens.set(req, token);
  query.delete('token');
  const rest = query.toString();
  return rest ? `${LOGIN_PATH}?${rest}` : LOGIN_PATH;
}

/**
 * bull-board (the `visual-analysis` and `maintenance` queues) at /admin/queues, for active admins
 * only. Credentials: an access token as `Authorization: Bearer …`, or the `echo_admin` cookie
 * (HttpOnly, SameSite=Strict, Path=/admin/queues) that `GET /admin/queues/login?token=<access>`
 * sets for a browser before redirecting to the dashboard. The cookie lives as long as the token.
 * No token (or an invalid one) → 401, not an admin → 403, both `{"detail": …}`.
 * Only with Redis: embedded mode has no queues.
 */
export async function mountQueueDashboard(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const queues = [QUEUES.analysis, QUEUES.maintenance].map((name) => app.get<Queue>(getQueueToken(name), { strict: false }));
  const serverAdapter = new BullBoardAdapter();
  serverAdapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    // @bull-board/fastify 9.10.1 declares its own copy of @bull-board/api 9.10.1's types; same shape at runtime.
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'Echo queues' } },
  });

  const tokens = app.get(TokenService, { strict: false });
  const users = app.get(UsersService, { strict: false });

  /** undefined when the token belongs to an active admin; else the refusal. */
  const refuse = async (token: string | undefined): Promise<{ status: 401 | 403; detail: string } | undefined> => {
    if (!token) return { status: 401, detail: 'Authentication credentials were not provided.' };
    let userId: number;
    try {
      userId = await tokens.verifyAccess(token);
    } catch (err) {
      if (err instanceof UnauthorizedException) return { status: 401, detail: err.message };
      throw err;
    }
    const user = await users.findCached(userId);
    if (!user || !user.is_active) return { status: 401, detail: 'User is inactive or deleted.' };
    if (user.role !== 'admin') return { status: 403, detail: 'You do not have permission to perform this action.' };
    return undefined;
  };

  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  await fastify.register(
    async (scope) => {
      scope.get('/login', async (request: FastifyRequest, reply: FastifyReply) => {
        const token = loginTokens.get(request.raw);
        const refused = await refuse(token);
        reply.header('cache-control', 'no-store');
        if (refused) return reply.code(refused.status).send({ detail: refused.detail });
        const cookie = [
          `${COOKIE}=${token}`,
          `Path=${QUEUE_DASHBOARD_PATH}`,
          `Max-Age=${secondsLeft(token!, config.auth.accessTtlSeconds)}`,
          'HttpOnly',
          'SameSite=Strict',
          ...(request.protocol === 'https' ? ['Secure'] : []),
        ].join('; ');
        return reply.header('set-cookie', cookie).redirect(QUEUE_DASHBOARD_PATH, 302);
      });

      await scope.register(async (guarded) => {
        guarded.addHook('onRequest', async (request, reply) => {
          const refused = await refuse(bearer(request.headers.authorization) ?? readCookie(request.headers.cookie, COOKIE));
          if (refused) return reply.code(refused.status).header('cache-control', 'no-store').send({ detail: refused.detail });
        });
        await guarded.register(serverAdapter.registerPlugin());
      });
    },
    { prefix: QUEUE_DASHBOARD_PATH },
  );
}

function bearer(header: string | undefined): string | undefined {
  const [scheme, token] = (header ?? '').split(' ');
  return scheme?.toLowerCase() === 'bearer' && token ? token : undefined;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** The verified token's remaining lifetime (its `exp`), so the cookie dies with it. */
function secondsLeft(token: string, fallback: number): number {
  try {
    const { exp } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp?: number };
    if (typeof exp === 'number') return Math.max(1, Math.floor(exp - Date.now() / 1000));
  } catch {
    // fall through: the token was verified, so this is only about its shape
  }
  return fallback;
}
