export * from './metrics.js';
export * from './access.js';
export * from './metrics-server.js';
export * from './fastify-metrics.js';
export * from './cluster-metrics.js';
export * from './nest-source.js';
