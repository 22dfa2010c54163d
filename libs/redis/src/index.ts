export * from './topology.js';
export * from './ioredis-client.js';
export * from './node-redis-client.js';
export * from './cluster-failover.js';
