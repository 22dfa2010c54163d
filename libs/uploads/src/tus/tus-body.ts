import type { FastifyInstance } from 'fastify';

/**
 * tus request bodies (`application/offset+octet-stream`) stay unread by Fastify: @tus/server
 * streams them from the raw request to the staging file. A no-op parser rather than
 * useBodyParser, which would buffer the whole chunk in memory.
 */
export function passTusBodiesThrough(fastify: FastifyInstance): void {
  fastify.addContentTypeParser('application/offset+octet-stream', (_request, _payload, done) => done(null));
}
