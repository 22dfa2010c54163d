import {
  RESP_TYPES,
  createClient,
  createCluster,
  createSentinel,
  type RedisClientOptions,
  type RedisClientType,
  type RedisClusterOptions,
  type RedisClusterType,
  type RedisSentinelOptions,
  type RedisSentinelType,
} from '@redis/client';
import type { RedisTopology } from './topology.js';
import { reconnectDelay } from './ioredis-client.js';
import { followClusterFailover } from './cluster-failover.js';

/** A node-redis v5 client of any topology (what @keyv/redis accepts). */
export type NodeRedisClient = RedisClientType | RedisClusterType | RedisSentinelType;

/** What one node-redis user asks for; applied to every node connection of the topology. */
export interface NodeRedisOptions {
  /** Fail commands at once while disconnected instead of queueing them (fail open). */
  disableOfflineQueue?: boolean;
  connectTimeoutMs?: number;
}

type ClientOptions = RedisClientOptions;

/** The node-redis options for a topology (exported for the unit spec). */
export function nodeRedisOptions(
  topology: RedisTopology,
  options: NodeRedisOptions = {},
):
  | { kind: 'single'; options: ClientOptions }
  | { kind: 'sentinel'; options: RedisSentinelOptions }
  | { kind: 'cluster'; options: RedisClusterOptions } {
  const socket = {
    connectTimeout: options.connectTimeoutMs ?? 1000,
    reconnectStrategy: (retries: number) => reconnectDelay(retries),
  };
  const base = { disableOfflineQueue: options.disableOfflineQueue ?? false };
  switch (topology.kind) {
    case 'single':
      return { kind: 'single', options: { ...base, url: topology.url, database: topology.db, socket } };
    case 'sentinel': {
      const tls = topology.tls ? ({ tls: true } as const) : {};
      return {
        kind: 'sentinel',
        options: {
          name: topology.name,
          sentinelRootNodes: topology.sentinels.map(({ host, port }) => ({ host, port })),
          nodeClientOptions: {
            ...base,
            username: topology.username,
            password: topology.password,
            database: topology.db,
            socket: { ...socket, ...tls },
          },
          sentinelClientOptions: {
            password: topology.sentinelPassword,
            socket: { ...socket, ...tls },
          },
          // Every client error reaches the one 'error' listener the caller attaches.
          passthroughClientErrorEvents: true,
          // Topology changes are also seen from the sentinels' +switch-master; this bounds a missed one.
          scanInterval: 2000,
        },
      };
    }
    case 'cluster': {
      const tls = topology.tls ? ({ tls: true } as const) : {};
      return {
        kind: 'cluster',
        options: {
          rootNodes: topology.nodes.map(({ host, port }) => ({ socket: { host, port } })),
          defaults: {
            ...base,
            username: topology.username,
            password: topology.password,
            socket: { ...socket, ...tls },
          },
        },
      };
    }
  }
}

/**
 * The one way Echo makes a node-redis client (the cache, through @keyv/redis): `createClient`,
 * `createSentinel` or `createCluster`. Not connected yet; callers attach an 'error' listener
 * first (an 'error' without one would throw) and then connect.
 */
export function nodeRedisClient(topology: RedisTopology, options: NodeRedisOptions = {}): NodeRedisClient {
  const made = nodeRedisOptions(topology, options);
  switch (made.kind) {
    case 'single':
      return createClient(made.options) as RedisClientType;
    case 'sentinel': {
      const sentinel = createSentinel(made.options) as unknown as RedisSentinelType;
      sentinels.add(sentinel);
      return sentinel;
    }
    case 'cluster': {
      const cluster = createCluster(made.options) as unknown as RedisClusterType;
      // node-redis would never leave a dead primary on its own (see cluster-failover.ts).
      followClusterFailover(cluster);
      return cluster;
    }
  }
}

export function isNodeRedisCluster(client: NodeRedisClient): client is RedisClusterType {
  return 'masters' in client && Array.isArray((client as RedisClusterType).masters);
}

const sentinels = new WeakSet<object>();

/** A client made by nodeRedisClient for a Sentinel set (node-redis exports no class to test against). */
export function isNodeRedisSentinel(client: NodeRedisClient): client is RedisSentinelType {
  return sentinels.has(client);
}

/** GET answering its bulk string as a Buffer (the exact bytes), and a SET with PX. */
export interface BufferCommands {
  get(key: string): Promise<Buffer | null>;
  set(key: string, value: string, options: { PX: number }): Promise<unknown>;
}

const asBuffers = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/**
 * GET/SET whose replies come back as Buffers, without touching what the client's other users
 * get. On a client or a Cluster that is `withTypeMapping` (a proxy). On a Sentinel client it is
 * not: node-redis 5's RedisSentinel._commandOptionsProxy writes the mapping into the shared
 * instance (`proxy._self.#commandOptions = …`), so every later reply of the client — Keyv's
 * reads included — would be a Buffer and every cache read a miss (civitai/civitai#2908,
 * redis/node-redis#3295). There, the mapping goes with each command instead.
 */
export function bufferCommands(client: NodeRedisClient): BufferCommands {
  if (isNodeRedisSentinel(client)) {
    return {
      get: (key) => client.sendCommand<Buffer | null>(true, ['GET', key], asBuffers),
      set: (key, value, { PX }) => client.sendCommand(false, ['SET', key, value, 'PX', String(PX)]),
    };
  }
  return (client as { withTypeMapping(m: object): unknown }).withTypeMapping(asBuffers.typeMapping) as BufferCommands;
}
