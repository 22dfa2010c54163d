import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { HttpException } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import fastifyFactory, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type HTTPMethods,
} from 'fastify';
import type {} from '@fastify/cookie';
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
 * The dashboard's Content-Security-Policy, fitted to what @bull-board/ui 9.10 loads: its own
 * scripts (chunks and a highlight worker, from static/), styles, images and API. Its page carries
 * style attributes and a <style> block and its UI injects <style> elements, hence 'unsafe-inline'
 * for styles only (never scripts; its `__UI_CONFIG__` script is JSON, which CSP does not run).
 * `base-uri 'self'` for its <base href>. Its Google Fonts stylesheet is refused: an admin page
 * calls no third party (the UI falls back to system fonts).
 */
export const QUEUE_DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * bull-board (every queue in QUEUES) at /admin/queues, for active admins
 * only. Credentials: an access token as `Authorization: Bearer …`, or the `echo_admin` cookie
 * (HttpOnly, SameSite=Strict, Path=/admin/queues, Secure over a trusted https) that
 * `POST /admin/queues/login` sets from a Bearer header or a form field `token`, before
 * redirecting to the dashboard; `GET /admin/queues/login` shows that form. The cookie lives as
 * long as the token. No token (or an invalid one) → 401, not an admin → 403, both `{"detail": …}`.
 * Only with Redis: embedded mode has no queues.
 */
export async function mountQueueDashboard(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const queues = () => Object.values(QUEUES).map((name) => app.get<Queue>(getQueueToken(name), { strict: false }));
  const board = lazyBoard(queues);
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
      // Every answer under /admin/queues: the UI, its assets and API, the login form, refusals.
      scope.addHook('onSend', async (_request, reply, payload) => {
        reply.header('content-security-policy', QUEUE_DASHBOARD_CSP);
        return payload;
      });
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
          // @fastify/cookie is registered app-wide with `hook: false` (create-api-app.ts): parse here.
          const cookies = request.headers.cookie ? scope.parseCookie(request.headers.cookie) : {};
          const refused = await refuse(bearerToken(request.headers.authorization) ?? cookies[COOKIE]);
          if (refused)
            return reply.code(refused.status).header('cache-control', 'no-store').send({ detail: refused.detail });
        });
        // bull-board's UI and API answer behind this one route (see lazyBoard).
        const forward = async (request: FastifyRequest, reply: FastifyReply) => {
          const answer = await (
            await board()
          ).inject({
            method: request.method as HTTPMethods,
            url: request.url,
            headers: withoutFraming(request.headers),
            payload: request.body as string | object | undefined,
          });
          return reply.code(answer.statusCode).headers(withoutFraming(answer.headers)).send(answer.rawPayload);
        };
        guarded.all('/', forward);
        guarded.all('/*', forward);
      });
    },
    { prefix: QUEUE_DASHBOARD_PATH },
  );
}

/**
 * bull-board (with lodash, valibot and its UI server: ~12 MB of heap) is loaded on the first
 * dashboard request, not at start: most API processes never serve one. It runs in a Fastify
 * instance of its own, answering the admin's requests through inject() (Fastify cannot add
 * routes to a server that is already listening).
 */
function lazyBoard(queues: () => Queue[]): () => Promise<FastifyInstance> {
  let board: Promise<FastifyInstance> | undefined;
  const build = async () => {
    const [{ createBullBoard }, { BullMQAdapter }, { FastifyAdapter: BullBoardAdapter }] = await Promise.all([
      import('@bull-board/api'),
      import('@bull-board/api/bullMQAdapter'),
      import('@bull-board/fastify'),
    ]);
    const serverAdapter = new BullBoardAdapter();
    serverAdapter.setBasePath(QUEUE_DASHBOARD_PATH);
    createBullBoard({
      queues: queues().map((queue) => new BullMQAdapter(queue)),
      // @bull-board/fastify 9.10.1 declares its own copy of @bull-board/api 9.10.1's types; same shape at runtime.
      serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
      options: { uiConfig: { boardTitle: 'Echo queues' } },
    });
    const instance = fastifyFactory({ logger: false });
    instance.setNotFoundHandler((_request, reply) => reply.code(404).send({ detail: 'Not found.' }));
    await instance.register(serverAdapter.registerPlugin(), { prefix: QUEUE_DASHBOARD_PATH });
    await instance.ready();
    return instance;
  };
  return () => {
    board ??= build().catch((err: unknown) => {
      board = undefined; // a failed load is retried by the next request
      throw err;
    });
    return board;
  };
}

/** Headers without the framing of the hop they came over (the body is re-framed on the next one). */
function withoutFraming<T extends Record<string, unknown>>(headers: T): T {
  const { 'content-length': _length, 'transfer-encoding': _encoding, connection: _connection, ...rest } = headers;
  return rest as T;
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
