import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { CacheService } from '@echo/cache';
import { ioredisClient, type RedisTopology } from '@echo/redis';
import { deleteKeys, globLiteral, scanKeys } from './redis-scan.js';

/** Version groups of a user's cached lists (`<group>:<userId>`) Echo bumps; deleted by name, then by scan. */
const LIST_GROUPS = ['uploads', 'analyses', 'exports'];

/**
 * Whether a cache key (without Keyv's `<namespace>::`) belongs to `userId`: `user:<id>`, a list
 * group's entries `<group>:<id>:…`, its version `ver:<group>:<id>` and totals `count:<group>:<id>:…`.
 * By position, never by substring: another user's page key may hold any text in a filter value.
 */
export function cacheKeyOfUser(key: string, userId: number): boolean {
  const id = String(userId);
  const [first, second, third] = key.split(':');
  if (second === id) return true; // user:<id>, <group>:<id>:…
  return (first === 'ver' || first === 'count') && third === id;
}

/**
 * Every Redis key that names a user, on both Redis roles. The cache (`<ns>::…`): the user record,
 * list versions, pages and totals (deleted through CacheService, so every process's near tier
 * drops them too). The queue's Redis: the user's event replay stream and stream slots, their
 * stream-ticket counter and unredeemed tickets (whose value names them), their tus slots and
 * locks. BullMQ's keys are left to the job cleanup: a job id there may be a plain number that
 * only looks like a user id.
 */
@Injectable()
export class PurgeRedisKeys implements OnApplicationShutdown {
  private cacheRedis?: Redis | Cluster;
  private queueRedis?: Redis | Cluster;

  constructor(
    private readonly cache: CacheService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Returns how many keys existed and were removed. */
  async purgeUser(userId: number): Promise<number> {
    const known = ['user', ...LIST_GROUPS.map((g) => `ver:${g}`)].map((k) => `${k}:${userId}`);
    await this.cache.del(...known); // the near tiers, even where Redis no longer has the key
    return (await this.cacheKeys(userId)) + (await this.queueKeys(userId));
  }

  private async cacheKeys(userId: number): Promise<number> {
    const client = this.cacheClient();
    if (!client) return 0; // embedded: the in-memory cache lost its known keys above; the rest expire
    const ns = `${this.config.cache.namespace}::`;
    let removed = 0;
    for await (const batch of scanKeys(client, `${globLiteral(ns)}*:${userId}*`)) {
      const mine = batch.filter((k) => cacheKeyOfUser(k.slice(ns.length), userId));
      if (!mine.length) continue;
      removed += await deleteKeys(client, mine);
      await this.cache.del(...mine.map((k) => k.slice(ns.length)));
    }
    return removed;
  }

  private async queueKeys(userId: number): Promise<number> {
    const client = this.queueClient();
    if (!client) return 0;
    const ns = this.config.cache.namespace;
    const tus = `${this.config.queue.prefix}:tus`;
    let removed = await deleteKeys(client, [
      `${ns}:events:${userId}`,
      `${ns}:events:conns:${userId}`,
      `${ns}:stream-tickets-issued:${userId}`,
      `${tus}:pending:${userId}`,
    ]);
    for await (const batch of scanKeys(client, `${globLiteral(`${tus}:lock:${userId}/`)}*`))
      removed += await deleteKeys(client, batch);
    // A ticket's key is a hash of the ticket; its value `<userId>:<version>` names the holder.
    for await (const batch of scanKeys(client, `${globLiteral(`${ns}:stream-ticket:`)}*`)) {
      const values = await Promise.all(batch.map((k) => client.get(k)));
      removed += await deleteKeys(
        client,
        batch.filter((_, i) => values[i]?.startsWith(`${userId}:`)),
      );
    }
    return removed;
  }

  private cacheClient(): Redis | Cluster | undefined {
    if (!this.config.redis.cache) return undefined;
    return (this.cacheRedis ??= this.connect(this.config.redis.cache));
  }

  private queueClient(): Redis | Cluster | undefined {
    if (!this.config.redis.queue) return undefined;
    return (this.queueRedis ??= this.connect(this.config.redis.queue));
  }

  private connect(topology: RedisTopology): Redis | Cluster {
    const client = ioredisClient(topology, { maxRetriesPerRequest: 3 });
    client.on('error', () => undefined); // a failing command rejects the purge, which is retried
    return client;
  }

  onApplicationShutdown(): void {
    this.cacheRedis?.disconnect();
    this.queueRedis?.disconnect();
  }
}
