import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { EventsRedis } from './events-redis.js';

// Drop slots not refreshed for a while (a crashed process's), then take one if under the cap.
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

export interface Slot {
  /** Called on every heartbeat: a slot not refreshed for 3 heartbeats is free again. */
  refresh(): Promise<void>;
  release(): Promise<void>;
}

/**
 * SSE_MAX_CONNECTIONS_PER_USER open streams per user across every API process: a sorted set
 * per user of stream ids scored by their last heartbeat (in memory in embedded mode).
 */
@Injectable()
export class ConnectionSlots {
  private readonly local = new Map<number, number>();

  constructor(
    private readonly redis: EventsRedis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async acquire(userId: number): Promise<Slot | undefined> {
    const { maxConnectionsPerUser: cap, heartbeatMs } = this.config.events;
    const client = this.redis.client;
    if (!client) {
      const open = this.local.get(userId) ?? 0;
      if (open >= cap) return undefined;
      this.local.set(userId, open + 1);
      let released = false;
      return {
        refresh: async () => undefined,
        release: async () => {
          if (released) return;
          released = true;
          const left = (this.local.get(userId) ?? 1) - 1;
          if (left > 0) this.local.set(userId, left);
          else this.local.delete(userId);
        },
      };
    }
    const key = `${this.redis.prefix}:conns:${userId}`;
    const member = randomUUID();
    const staleMs = heartbeatMs * 3;
    if (!(await client.eval(ACQUIRE, 1, key, Date.now(), staleMs, cap, member))) return undefined;
    return {
      refresh: async () => {
        await client.multi().zadd(key, 'XX', Date.now(), member).pexpire(key, staleMs).exec();
      },
      release: async () => {
        await client.zrem(key, member);
      },
    };
  }
}
