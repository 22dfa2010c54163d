import { Global, Inject, Module, Optional, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { CacheModule as NestCacheModule } from '@nestjs/cache-manager';
import KeyvRedis, { type RedisClientType } from '@keyv/redis';
import { Keyv } from 'keyv';
import type { AppConfig } from '@echo/config';
import { nodeRedisClient, type NodeRedisClient, type RedisTopology } from '@echo/redis';
import { CacheService, REDIS_CACHE_CLIENT } from './cache.service.js';

/**
 * The one cache: the cache's Redis (config.redis.cache: its own server, or the queue's with its own
 * logical db; in Cluster db 0 under the namespace `echo_cache`) through @keyv/redis under
 * @nestjs/cache-manager, or in-memory in embedded mode. Features use CacheService.
 */
@Global()
@Module({})
export class CacheModule implements OnApplicationShutdown {
  constructor(@Optional() @Inject(REDIS_CACHE_CLIENT) private readonly client?: NodeRedisClient) {}

  static forRoot(config: AppConfig): DynamicModule {
    const client = config.redis.cache ? createCacheClient(config.redis.cache) : undefined;
    return {
      module: CacheModule,
      imports: [
        NestCacheModule.register({
          ttl: config.cache.ttlMs,
          stores: client
            ? [
                new Keyv(
                  // KeyvRedis takes a client, a Sentinel or a Cluster (it splits multi-key calls by slot).
                  new KeyvRedis(client as RedisClientType, {
                    namespace: config.cache.namespace,
                    throwOnConnectError: false,
                    throwOnErrors: true,
                  }),
                  {
                    namespace: config.cache.namespace,
                    useKeyPrefix: false,
                    throwOnErrors: true,
                  },
                ),
              ]
            : undefined,
        }),
      ],
      providers: [CacheService, ...(client ? [{ provide: REDIS_CACHE_CLIENT, useValue: client }] : [])],
      exports: [CacheService, NestCacheModule],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.client?.isOpen) await this.client.close().catch(() => undefined);
  }
}

/**
 * A client that fails fast instead of queueing commands while Redis is away
 * (nestjs/cache-manager#797, keyv#1470), and keeps reconnecting in the background; during a
 * Sentinel or Cluster failover its commands fail into CacheService's fail-open path.
 */
export function createCacheClient(topology: RedisTopology): NodeRedisClient {
  const client = nodeRedisClient(topology, { disableOfflineQueue: true, connectTimeoutMs: 1000 });
  client.on('error', () => undefined); // reported through CacheService.status(); never crash the process
  // KeyvRedis calls connect() whenever isOpen is false, and a Sentinel or Cluster client is open
  // only once connected: its second connect() throws and KeyvRedis then destroys the client (the
  // near cache's publisher with it). One connect, shared by every caller.
  const connect = client.connect.bind(client) as () => Promise<unknown>;
  let connecting: Promise<unknown> | undefined;
  (client as { connect: () => Promise<unknown> }).connect = () =>
    (connecting ??= connect().catch((err: unknown) => {
      connecting = undefined;
      throw err;
    }));
  client.connect().catch(() => undefined);
  return client;
}
