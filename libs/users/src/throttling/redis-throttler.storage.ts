import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { ThrottlerStorageService, type ThrottlerStorage } from '@nestjs/throttler';
import type { Cluster, Redis } from 'ioredis';
import type { AppConfig } from '@echo/config';
import { hashTag, ioredisClient } from '@echo/redis';

/** @nestjs/throttler 6.7 does not export its record type: take it from the public storage interface. */
type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

// One round trip: count the hit, start the window on the first one, block past the limit.
const INCREMENT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
local blocked = redis.call('PTTL', KEYS[2])
if blocked <= 0 and hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  blocked = tonumber(ARGV[3])
end
return {hits, ttl, blocked}
`;

/**
 * Throttler counters in Redis, so every API process shares the same limits. If Redis is
 * unreachable it falls back to this process's memory (limits still apply, per process).
 */
export class RedisThrottlerStorage implements ThrottlerStorage, OnModuleDestroy {
  private readonly logger = new Logger('Throttler');
  private readonly redis: Redis | Cluster;
  private readonly fallback = new ThrottlerStorageService();
  private readonly prefix: string;

  constructor(config: AppConfig) {
    this.prefix = `${config.cache.namespace}:throttle:`;
    // The cache's Redis (rate limits may be lost with the cache; they are short-lived).
    this.redis = ioredisClient(config.redis.cache!, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 200,
      lazyConnect: false,
    });
    this.redis.on('error', () => undefined); // falls back to memory per call; never exits
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    name: string,
  ): Promise<ThrottlerStorageRecord> {
    // Both keys in one script: one hash tag, so they share a Cluster slot.
    const counter = `${this.prefix}${hashTag(`${name}:${key}`)}`;
    try {
      const [hits, ttlMs, blockedMs] = (await this.redis.eval(
        INCREMENT,
        2,
        counter,
        `${counter}:blocked`,
        ttl,
        limit,
        blockDuration || ttl,
      )) as [number, number, number];
      return {
        totalHits: hits,
        timeToExpire: Math.max(0, Math.ceil(ttlMs / 1000)),
        isBlocked: blockedMs > 0,
        timeToBlockExpire: Math.max(0, Math.ceil(blockedMs / 1000)),
      };
    } catch (err) {
      this.logger.warn(`Redis unavailable, throttling in memory: ${(err as Error).message}`);
      return this.fallback.increment(key, ttl, limit, blockDuration, name);
    }
  }

  onModuleDestroy(): void {
    this.redis.disconnect();
    this.fallback.onApplicationShutdown();
  }
}
