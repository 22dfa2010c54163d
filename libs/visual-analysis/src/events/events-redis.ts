import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '@echo/config';

/**
 * The Redis connections of live events (cache db; keys and channels under CACHE_NAMESPACE, since
 * pub/sub channels ignore the db): one for commands, and one subscriber made on first use, so
 * processes that only publish (the worker) never open it. Absent in embedded mode.
 */
@Injectable()
export class EventsRedis implements OnApplicationShutdown {
  readonly client?: Redis;
  readonly prefix: string;
  private subscriberConn?: Redis;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.prefix = `${config.cache.namespace}:events`;
    if (!config.redis.url) return;
    // Short bounds: a status change or a stream must not wait long on a Redis that is away.
    this.client = new Redis(config.redis.url, {
      db: config.redis.cacheDb,
      maxRetriesPerRequest: 1,
      commandTimeout: 500,
    });
    this.client.on('error', () => undefined);
  }

  subscriber(): Redis {
    if (!this.subscriberConn) {
      // Resubscribes by itself after a reconnect; a SUBSCRIBE while Redis is away fails after 2 retries.
      this.subscriberConn = new Redis(this.config.redis.url!, {
        db: this.config.redis.cacheDb,
        maxRetriesPerRequest: 2,
      });
      this.subscriberConn.on('error', () => undefined);
    }
    return this.subscriberConn;
  }

  onApplicationShutdown(): void {
    this.client?.disconnect();
    this.subscriberConn?.disconnect();
  }
}
