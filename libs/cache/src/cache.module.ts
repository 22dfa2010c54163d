import { Global, Inject, Module, Optional, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { CacheModule as NestCacheModule } from '@nestjs/cache-manager';
import KeyvRedis, { createClient, type RedisClientType } from '@keyv/redis';
import { Keyv } from 'keyv';
import type { AppConfig } from '@echo/config';
import { CacheService, REDIS_CACHE_CLIENT } from './cache.service.js';

/**
 * The one cache: Redis (its own logical db, namespace `echo_cache`) through @keyv/redis under
 * @nestjs/cache-manager, or in-memory when REDIS_URL is unset. Features use CacheService.
 */
@Global()
@Module({})
export class CacheModule implements OnApplicationShutdown {
  constructor(@Optional() @Inject(REDIS_CACHE_CLIENT) private readonly client?: RedisClientType) {}

  static forRoot(config: AppConfig): DynamicModule {
    const client = config.redis.url ? createCacheClient(config) : undefined;
    return {
      module: CacheModule,
      imports: [
        NestCacheModule.register({
          ttl: config.cache.ttlMs,
          stores: client
            ? [
                new Keyv(
                  new KeyvRedis(client, {
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
 * (nestjs/cache-manager#797, keyv#1470), and keeps reconnecting in the background.
 */
function createCacheClient(config: AppConfig): RedisClientType {
  const client = createClient({
    url: config.redis.url,
    database: config.redis.cacheDb,
    disableOfflineQueue: true,
    socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000) },
  }) as RedisClientType;
  client.on('error', () => undefined); // reported through CacheService.status(); never crash the process
  client.connect().catch(() => undefined);
  return client;
}
