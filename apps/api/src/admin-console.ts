import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const ADMIN_CONSOLE_PATH = '/admin';

/**
 * The console's CSP: its own scripts, styles, images and API only. `data:`/`blob:` images are
 * the ThumbHash placeholders; signed media URLs are same-origin.
 */
export const ADMIN_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Where `vite build` put the console: dist/admin, found from this file both when it runs built
 * (dist/apps/api/src) and from source (tests).
 */
export function adminConsoleDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  return [resolve(here, '../../../admin'), resolve(here, '../../../dist/admin')].find((dir) =>
    existsSync(join(dir, 'index.html')),
  );
}

/**
 * The admin console (apps/admin, a static SPA) at /admin, in its own Fastify plugin: hashed
 * assets under /admin/assets/ cached for a year (immutable), every other GET under /admin
 * answered with index.html (client routes; never cached) so deep links and reloads work. Routes
 * registered elsewhere under /admin (bull-board at /admin/queues) are more specific and win.
 * Without a build (no dist/admin) nothing is mounted and /admin is the API's JSON 404.
 */
export async function mountAdminConsole(app: NestFastifyApplication, dir = adminConsoleDir()): Promise<boolean> {
  if (!dir) return false;
  const indexHtml = readFileSync(join(dir, 'index.html'));
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  await fastify.register(
    async (scope) => {
      scope.addHook('onSend', async (_request, reply, payload) => {
        reply.header('content-security-policy', ADMIN_CSP);
        return payload;
      });
      await scope.register(fastifyStatic, {
        root: join(dir, 'assets'),
        prefix: '/assets/',
        decorateReply: false,
        index: false,
        // File names carry a content hash: a changed file is a new URL.
        immutable: true,
        maxAge: '365d',
      });
      const sendIndex = (reply: FastifyReply) =>
        reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-cache').send(indexHtml);
      scope.get('/', (_request, reply) => sendIndex(reply));
      scope.get('/*', (request, reply) => {
        // A missing asset is a 404, not the app's HTML under a .js name.
        if (request.url.startsWith(`${ADMIN_CONSOLE_PATH}/assets/`))
          return reply.code(404).send({ detail: 'Not found.' });
        return sendIndex(reply);
      });
    },
    { prefix: ADMIN_CONSOLE_PATH },
  );
  return true;
}
