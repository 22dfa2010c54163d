import type { FastifyInstance } from 'fastify';
import { bearerToken, preHandlerForGet } from '@echo/http';
import type { Authenticator } from './auth/authenticator.js';

/**
 * `GET /api/users/me` answered before Nest's pipeline (router, guard, interceptors and their
 * promises: most of a cached profile's CPU). UsersController.me returns the user the global guard
 * resolved; this resolves it with the same Authenticator and sends the same object. A caller the
 * guard would refuse goes on to Nest, which answers the refusal as it always did.
 */
export function serveProfileEarly(fastify: FastifyInstance, authenticator: Authenticator, url = '/api/users/me'): void {
  preHandlerForGet(fastify, url, async (request, reply) => {
    const user = await authenticator
      .authenticateRequest(request, bearerToken(request.headers.authorization))
      .catch(() => undefined);
    if (!user) return;
    return reply.send(user);
  });
}
