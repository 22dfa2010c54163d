import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';

/**
 * Adds `hook` as a preHandler of the route `GET <url>` when that route is registered (Nest
 * registers its routes later, at init): only that route runs it, every other request pays nothing.
 */
export function preHandlerForGet(fastify: FastifyInstance, url: string, hook: preHandlerAsyncHookHandler): void {
  fastify.addHook('onRoute', (route) => {
    if (route.url !== url || ![route.method].flat().includes('GET')) return;
    route.preHandler = [...[route.preHandler ?? []].flat(), hook];
  });
}
