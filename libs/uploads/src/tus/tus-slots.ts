import { Logger, type OnModuleDestroy, ServiceUnavailableException } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import type { AppConfig } from '@echo/config';
import { ioredisClient } from '@echo/redis';
import { ownerOfTusId } from './tus-ids.js';

/**
 * A reservation whose upload is not on disk this long after it was made is dropped: its creation
 * died between the hook and the info file (written a few ms later), or a release was lost.
 */
export const STALE_RESERVATION_MS = 60_000;

/**
 * The per-user cap on unfinished tus uploads (TUS_MAX_PENDING_PER_USER), reserved atomically.
 * @tus/server writes an upload's info file after onUploadCreate, so counting files there lets
 * creations sent together all pass; a slot is taken at once instead, checked and taken in one step.
 * A user holds one slot per reservation (its tus id) plus one per upload on disk that has none
 * (Redis was flushed, or the upload predates this code): the disk is the reconciliation, so a lost
 * release or a crashed creation cannot hold a slot beyond STALE_RESERVATION_MS, and a lost
 * reservation does not free one. Reservations also expire with the upload (TUS_EXPIRY).
 * Released on finish, termination and the expiry sweep.
 */
export abstract class TusSlots implements OnModuleDestroy {
  constructor(
    protected readonly cap: number,
    protected readonly expiryMs: number,
  ) {}

  /** Takes a slot for the new upload `id` unless the user already holds the cap; `onDisk`: the user's uploads in staging. */
  abstract reserve(userId: number, id: string, onDisk: readonly string[], now?: number): Promise<boolean>;

  /** Frees `id`'s slot (idempotent). Call after its files are gone, so a concurrent count never sees neither. */
  abstract release(id: string): Promise<void>;

  abstract close(): Promise<void>;

  onModuleDestroy(): Promise<void> {
    return this.close();
  }
}

/** One process (embedded mode: no REDIS_URL, so one API process): the check and the take are one synchronous step. */
export class MemoryTusSlots extends TusSlots {
  /** Per user: tus id → when the reservation expires (ms). */
  private readonly users = new Map<number, Map<string, number>>();

  async reserve(userId: number, id: string, onDisk: readonly string[], now = Date.now()): Promise<boolean> {
    const held = this.users.get(userId) ?? new Map<string, number>();
    const disk = new Set(onDisk);
    for (const [other, expiresAt] of held)
      if (expiresAt <= now || (expiresAt - this.expiryMs < now - STALE_RESERVATION_MS && !disk.has(other)))
        held.delete(other);
    let count = held.size;
    for (const other of disk) if (!held.has(other)) count++;
    const ok = count < this.cap;
    if (ok) held.set(id, now + this.expiryMs);
    if (held.size) this.users.set(userId, held);
    else this.users.delete(userId);
    return ok;
  }

  async release(id: string): Promise<void> {
    const userId = ownerOfTusId(id);
    const held = userId === undefined ? undefined : this.users.get(userId);
    if (!held) return;
    held.delete(id);
    if (!held.size) this.users.delete(userId!);
  }

  async close(): Promise<void> {}
}

// KEYS[1]: the user's sorted set (member: tus id, score: when the reservation expires, ms).
// ARGV: now, stale-below score, new score, cap, id, then the ids on disk. Same steps as MemoryTusSlots.
const RESERVE = `
local key = KEYS[1]
redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
local disk = {}
for i = 6, #ARGV do disk[ARGV[i]] = true end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. ARGV[2])) do
  if not disk[member] then redis.call('ZREM', key, member) end
end
local count = redis.call('ZCARD', key)
for member in pairs(disk) do
  if not redis.call('ZSCORE', key, member) then count = count + 1 end
end
if count >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', key, ARGV[3], ARGV[5])
redis.call('PEXPIREAT', key, ARGV[3])
return 1
`;

/** Several API processes: a sorted set per user in Redis, checked and taken in one Lua script. */
export class RedisTusSlots extends TusSlots {
  private readonly logger = new Logger('TusSlots');
  private client?: Redis | Cluster;

  constructor(
    cap: number,
    expiryMs: number,
    private readonly connect: () => Redis | Cluster,
    private readonly prefix: string,
  ) {
    super(cap, expiryMs);
  }

  async reserve(userId: number, id: string, onDisk: readonly string[], now = Date.now()): Promise<boolean> {
    const args = [now, now - STALE_RESERVATION_MS + this.expiryMs, now + this.expiryMs, this.cap, id, ...onDisk];
    try {
      return (await this.redis.eval(RESERVE, 1, this.key(userId), ...args)) === 1;
    } catch (err) {
      const error = new ServiceUnavailableException('Resumable uploads are unavailable right now; retry shortly.');
      throw Object.assign(error, { retryAfter: 1, cause: err });
    }
  }

  async release(id: string): Promise<void> {
    const userId = ownerOfTusId(id);
    if (userId === undefined) return;
    // If this fails the slot is freed anyway once the reservation is stale (its files are gone).
    await this.redis
      .zrem(this.key(userId), id)
      .catch((err: Error) => this.logger.warn(`releasing the tus slot of ${id}: ${err.message}`));
  }

  async close(): Promise<void> {
    this.client?.disconnect();
  }

  /** Made on first use: the worker only releases (its sweep), other contexts never touch it. */
  private get redis(): Redis | Cluster {
    return (this.client ??= this.connect());
  }

  private key(userId: number): string {
    return `${this.prefix}:pending:${userId}`;
  }
}

export function createTusSlots(config: AppConfig): TusSlots {
  const { maxPendingPerUser, expiryMs } = config.uploads.tus;
  const topology = config.redis.queue;
  if (!topology) return new MemoryTusSlots(maxPendingPerUser, expiryMs);
  const connect = () => {
    // The queue's db (noeviction: a reservation is never evicted). Commands wait for the first
    // connection (the client is made on first use) but fail after one retry when Redis is away.
    const redis = ioredisClient(topology, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
    redis.on('error', () => undefined);
    return redis;
  };
  return new RedisTusSlots(maxPendingPerUser, expiryMs, connect, `${config.queue.prefix}:tus`);
}
