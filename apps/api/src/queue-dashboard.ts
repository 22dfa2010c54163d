import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { HttpException } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardAdapter } from '@bull-board/fastify';
import type { AppConfig } from '@echo/config';
import { bearerToken } from '@echo/http';
import { QUEUES } from '@echo/queue';
import { Authenticator } from '@echo/users';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';
const COOKIE = 'echo_admin';

// A plain form: the token travels in a POST body, never in a URL (URLs end up in proxy logs and history).
const LOGIN_FORM = `<!doctype html><meta charset="utf-8"><title>Echo queues: sign in</title>
<form method="post" action="${QUEUE_DASHBOARD_PATH}/login"><label>Admin access token <input name="token" type="password" autocomplete="off" required></label>
<button type="submit">Open the dashboard</button></form>`;

/**
 * bull-board (the `visual-analysis` and `maintenance` queues) at /admin/queues, for active admins
 * only. Credentials: an access token as `Authorization: Bearer …`, or the `echo_admin` cookie
 * (HttpOnly, SameSite=Strict, Path=/admin/queues, Secure over a trusted https) that
 * `POST /admin/queues/login` sets from a Bearer header or a form field `token`, before
 * redirecting to the dashboard; `GET /admin/queues/login` shows that form. The cookie lives as
 * long as the token. No token (or an invalid one) → 401, not an admin → 403, both `{"detail": …}`.
 * Only with Redis: embedded mode has no queues.
 */
export async function mountQueueDashboard(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const queues = [QUEUES.analysis, QUEUES.maintenance].map((name) =>
    app.get<Queue>(getQueueToken(name), { strict: false }),
  );
  const serverAdapter = new BullBoardAdapter();
  serverAdapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    // @bull-board/fastify 9.10.1 declares its own copy of @bull-board/api 9.10.1's types; same shape at runtime.
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'Echo queues' } },
  });
  const authenticator = app.get(Authenticator, { strict: false });

  /** undefined when the token belongs to an active admin; else the refusal. */
  const refuse = async (token: string | undefined): Promise<{ status: number; detail: string } | undefined> => {
    try {
      const user = await authenticator.authenticate(token);
      return user.role === 'admin'
        ? undefined
        : { status: 403, detail: 'You do not have permission to perform this action.' };
    } catch (err) {
      if (err instanceof HttpException) return { status: err.getStatus(), detail: err.message };
      throw err;
    }
  };

  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  await fastify.register(
    async (scope) => {
      await scope.register(cookie);
      // The login form's body (URLSearchParams: no prototype keys, bounded by bodyLimit).
      scope.addContentTypeParser(
        'application/x-www-form-urlencoded',
        { parseAs: 'string', bodyLimit: 8192 },
        (_req, body, done) => {
          done(null, Object.fromEntries(new URLSearchParams(body as string)));
        },
      );
      scope.get('/login', async (_request: FastifyRequest, reply: FastifyReply) =>
        reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(LOGIN_FORM),
      );
      scope.post('/login', async (request: FastifyRequest, reply: FastifyReply) => {
        const form = request.body as { token?: unknown } | undefined;
        const token =
          bearerToken(request.headers.authorization) ??
          (typeof form?.token === 'string' ? form.token.trim() : undefined);
        const refused = await refuse(token);
        reply.header('cache-control', 'no-store');
        if (refused) return reply.code(refused.status).send({ detail: refused.detail });
        reply.setCookie(COOKIE, token!, {
          path: QUEUE_DASHBOARD_PATH,
          maxAge: secondsLeft(token!, config.auth.accessTtlSeconds),
          httpOnly: true,
          sameSite: 'strict',
          // request.protocol honours X-Forwarded-Proto only from a trusted proxy (TRUST_PROXY).
          secure: request.protocol === 'https',
        });
        return reply.redirect(QUEUE_DASHBOARD_PATH, 303);
      });

      await scope.register(async (guarded) => {
        guarded.addHook('onRequest', async (request, reply) => {
          const refused = await refuse(bearerToken(request.headers.authorization) ?? request.cookies[COOKIE]);
          if (refused)
            return reply.code(refused.status).header('cache-control', 'no-store').send({ detail: refused.detail });
        });
        await guarded.register(serverAdapter.registerPlugin());
      });
    },
    { prefix: QUEUE_DASHBOARD_PATH },
  );
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
