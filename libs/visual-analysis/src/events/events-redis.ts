import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { ioredisClient } from '@echo/redis';

/**
 * The Redis connections of live events, on the queue's Redis (noeviction: a replay stream or a
 * ticket is never evicted under memory pressure; keys and channels under CACHE_NAMESPACE): one
 * for commands, and one subscriber made on first use, so processes that only publish (the
 * worker) never open it. In Cluster the subscriber uses sharded pub/sub (one connection per
 * primary, SSUBSCRIBE): a user's events go to the shard of their stream key only. Absent in
 * embedded mode.
 */
@Injectable()
export class EventsRedis implements OnApplicationShutdown {
  readonly client?: Redis | Cluster;
  readonly prefix: string;
  private subscriberConn?: Redis | Cluster;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.prefix = `${config.cache.namespace}:events`;
    if (!config.redis.queue) return;
    // Short bounds: a status change or a stream must not wait long on a Redis that is away
    // (nor during a failover: it fails into the 503 / replay paths instead).
    this.client = ioredisClient(config.redis.queue, { maxRetriesPerRequest: 1, commandTimeout: 500 });
    this.client.on('error', () => undefined);
  }

  subscriber(): Redis | Cluster {
    if (!this.subscriberConn) {
      // Resubscribes by itself after a reconnect; a SUBSCRIBE while Redis is away fails after 2 retries.
      this.subscriberConn = ioredisClient(this.config.redis.queue!, {
        maxRetriesPerRequest: 2,
        shardedSubscribers: true,
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
