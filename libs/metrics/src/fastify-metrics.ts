import type { FastifyInstance } from 'fastify';
import { metricsAccess } from './access.js';
import { httpRequestDuration, registry } from './metrics.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * On the API's Fastify instance: every response's duration into
 * echo_http_request_duration_seconds (route = the registered pattern, `unmatched` when no route
 * matched), and `GET /metrics` (this process's registry, Prometheus text) behind the metrics
 * access rule (access.ts).
 */
export function installFastifyMetrics(fastify: FastifyInstance, token: string | undefined): void {
  fastify.addHook('onResponse', async (request, reply) => {
    httpRequestDuration.observe(
      {
        method: METHODS.has(request.method) ? request.method : 'other',
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  fastify.get('/metrics', async (request, reply) => {
    const access = metricsAccess(token, request.headers, request.raw.socket.remoteAddress);
    if (access === 'hidden') return reply.code(404).send({ detail: 'Not found.' });
    if (access === 'unauthorized') {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="metrics"')
        .send({ detail: 'Authentication credentials were not provided.' });
    }
    const body = await registry.metrics();
    return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(body);
  });
}
