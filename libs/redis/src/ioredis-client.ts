import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisNode, RedisTopology } from './topology.js';

/**
 * Options of one ioredis user (timeouts, offline queue, retries). `shardedSubscribers` (Cluster
 * only): one extra subscriber connection per primary, for SSUBSCRIBE; only subscribers want it.
 */
export type IoredisOptions = Omit<RedisOptions, 'host' | 'port' | 'path' | 'sentinels' | 'db'> & {
  shardedSubscribers?: boolean;
};

/** Backoff of a lost connection (ms): quick first retries for a failover, capped at 2 s. */
export const reconnectDelay = (attempt: number): number => Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

/** The ioredis client options for a topology (exported for the unit spec). */
export function ioredisOptions(
  topology: RedisTopology,
  options: IoredisOptions = {},
):
  | { kind: 'single'; url: string; options: RedisOptions }
  | { kind: 'sentinel'; options: RedisOptions }
  | { kind: 'cluster'; nodes: RedisNode[]; options: ClusterOptions } {
  const { shardedSubscribers, ...rest } = options;
  const common: RedisOptions = { retryStrategy: reconnectDelay, ...rest };
  switch (topology.kind) {
    case 'single':
      return { kind: 'single', url: topology.url, options: { ...common, db: topology.db } };
    case 'sentinel':
      return {
        kind: 'sentinel',
        options: {
          ...common,
          sentinels: topology.sentinels.map(({ host, port }) => ({ host, port })),
          name: topology.name,
          sentinelPassword: topology.sentinelPassword,
          username: topology.username,
          password: topology.password,
          db: topology.db,
          ...(topology.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
          // Subscribes to the sentinels' +switch-master: a promoted replica is followed at once,
          // not on the next failed command.
          failoverDetector: true,
          sentinelRetryStrategy: reconnectDelay,
        },
      };
    case 'cluster': {
      const { enableOfflineQueue, lazyConnect, retryStrategy: _perNode, ...redisOptions } = common;
      return {
        kind: 'cluster',
        nodes: topology.nodes.map(({ host, port }) => ({ host, port })),
        options: {
          enableOfflineQueue,
          lazyConnect,
          shardedSubscribers,
          clusterRetryStrategy: reconnectDelay,
          // A failover moves slots: retry MOVED/CLUSTERDOWN/TRYAGAIN shortly rather than failing.
          retryDelayOnFailover: 200,
          retryDelayOnClusterDown: 200,
          retryDelayOnTryAgain: 100,
          // Slot refresh within a second of a node dying (default 5 s).
          slotsRefreshInterval: 1000,
          redisOptions: {
            ...redisOptions,
            username: topology.username,
            password: topology.password,
            ...(topology.tls ? { tls: {} } : {}),
          },
          // Managed clusters with TLS announce names the certificate is for: do not resolve them
          // to addresses before connecting (ioredis README, "Special note: AWS ElastiCache Clusters with TLS").
          ...(topology.tls
            ? { dnsLookup: (address: string, done: (err: null, a: string) => void) => done(null, address) }
            : {}),
        },
      };
    }
  }
}

/**
 * The one way Echo makes an ioredis client: a `Redis` for a URL or a Sentinel set, a `Cluster` for
 * Redis Cluster. Callers attach an 'error' listener (ioredis would otherwise print every
 * reconnect failure) and never exit on one: the client reconnects by itself.
 */
export function ioredisClient(topology: RedisTopology, options: IoredisOptions = {}): Redis | Cluster {
  const made = ioredisOptions(topology, options);
  switch (made.kind) {
    case 'single':
      return new Redis(made.url, made.options);
    case 'sentinel':
      return new Redis(made.options);
    case 'cluster':
      return new Cluster(made.nodes, made.options);
  }
}

export const isCluster = (client: Redis | Cluster): client is Cluster => (client as Cluster).isCluster === true;

/**
 * Pub/sub that does not broadcast to every node in Cluster: SPUBLISH/SSUBSCRIBE (Redis 7) there,
 * plain PUBLISH/SUBSCRIBE elsewhere. Messages arrive as 'smessage' or 'message' respectively.
 */
export const pubsub = {
  publish: (client: Redis | Cluster, channel: string, message: string): Promise<unknown> =>
    isCluster(client) ? client.spublish(channel, message) : client.publish(channel, message),
  subscribe: (client: Redis | Cluster, channel: string): Promise<unknown> =>
    isCluster(client) ? client.ssubscribe(channel) : client.subscribe(channel),
  unsubscribe: (client: Redis | Cluster, channel: string): Promise<unknown> =>
    isCluster(client) ? client.sunsubscribe(channel) : client.unsubscribe(channel),
  /** The event a subscriber emits for a message: `(channel, message)` either way. */
  messageEvent: (client: Redis | Cluster): 'smessage' | 'message' => (isCluster(client) ? 'smessage' : 'message'),
  /** In a Lua script: the command that announces on a channel named like one of its keys. */
  scriptCommand: (client: Redis | Cluster): 'SPUBLISH' | 'PUBLISH' => (isCluster(client) ? 'SPUBLISH' : 'PUBLISH'),
};
