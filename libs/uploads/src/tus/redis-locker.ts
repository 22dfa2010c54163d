import { randomUUID } from 'node:crypto';
import { Logger, ServiceUnavailableException } from '@nestjs/common';
import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/utils';
import type { Cluster, Redis } from 'ioredis';
import { pubsub } from '@echo/redis';

// Compare-and-act on the token, so a holder whose lock expired never touches the next holder's.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface RedisLockerOptions {
  /** Key and channel prefix (per deployment / test). */
  prefix: string;
  /** A lock lives this long unless renewed (a crashed process's locks free themselves). */
  ttlMs?: number;
  /** A waiter gives up after this long (@tus/server's MemoryLocker default: 30 s). */
  acquireTimeoutMs?: number;
}

/**
 * @tus/server's Locker on Redis, for several API processes (npm has none for @tus/server 2.x;
 * MemoryLocker only sees one process). A lock is `SET key token NX PX ttl`, renewed every ttl/3
 * while held and deleted by its token on unlock. A waiter publishes on the lock's channel; the
 * holder's process hears it and calls the holder's `requestRelease` (tus then ends that request
 * gracefully after its lockDrainTimeout and unlocks), as MemoryLocker does within one process.
 * A waiter stops waiting when its request aborts; a holder whose renewal finds the lock gone is
 * asked to release at once. A holder whose own request aborts is released by the tus handler's
 * `finally`, once the bytes that did arrive are flushed — not on the abort signal itself, which
 * would let the next request read an offset the old write is still extending.
 */
export class RedisLocker implements Locker {
  private readonly logger = new Logger('TusLocker');
  readonly ttlMs: number;
  readonly acquireTimeoutMs: number;
  /** Release requests per channel, for the locks this process holds. */
  private readonly holders = new Map<string, RequestRelease>();

  constructor(
    readonly redis: Redis | Cluster,
    private readonly subscriber: Redis | Cluster,
    private readonly options: RedisLockerOptions,
  ) {
    this.ttlMs = options.ttlMs ?? 10_000;
    this.acquireTimeoutMs = options.acquireTimeoutMs ?? 30_000;
    // In Cluster, release requests are sharded pub/sub ('smessage'): only the lock's shard carries them.
    subscriber.on(pubsub.messageEvent(subscriber), (channel: string) => {
      const release = this.holders.get(channel);
      if (release) void Promise.resolve(release()).catch(() => undefined);
    });
  }

  newLock(id: string): Lock {
    return new RedisLock(this, id);
  }

  key(id: string): string {
    return `${this.options.prefix}:lock:${id}`;
  }

  channel(id: string): string {
    return `${this.options.prefix}:release:${id}`;
  }

  /** Listens for release requests while `id` is held here. Not awaited: a missed request only makes a waiter wait longer. */
  hold(id: string, release: RequestRelease): void {
    const channel = this.channel(id);
    this.holders.set(channel, release);
    pubsub
      .subscribe(this.subscriber, channel)
      .catch((err: Error) => this.warn(`subscribing to release requests for ${id}: ${err.message}`));
  }

  async letGo(id: string, release: RequestRelease): Promise<void> {
    const channel = this.channel(id);
    // A lock that expired may already have a new holder in this process: leave theirs alone.
    if (this.holders.get(channel) !== release) return;
    this.holders.delete(channel);
    await pubsub.unsubscribe(this.subscriber, channel).catch(() => undefined);
  }

  warn(message: string): void {
    this.logger.warn(message);
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
    this.redis.disconnect();
  }
}

class RedisLock implements Lock {
  private token?: string;
  private release?: RequestRelease;
  private renewal?: NodeJS.Timeout;

  constructor(
    private readonly locker: RedisLocker,
    private readonly id: string,
  ) {}

  async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const { redis } = this.locker;
    const key = this.locker.key(this.id);
    const token = randomUUID();
    const deadline = Date.now() + this.locker.acquireTimeoutMs;
    let wait = 5;
    let askedAt = 0;
    for (;;) {
      if (signal.aborted) throw ERRORS.ERR_LOCK_TIMEOUT;
      const acquired = await redis.set(key, token, 'PX', this.locker.ttlMs, 'NX').catch(unavailable);
      if (acquired === 'OK') break;
      // Ask the holder (in whichever process) to finish up; again every second while waiting.
      if (Date.now() - askedAt > 1000) {
        askedAt = Date.now();
        await pubsub.publish(redis, this.locker.channel(this.id), token).catch(unavailable);
      }
      if (Date.now() + wait > deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
      await sleep(wait, signal);
      wait = Math.min(wait * 2, 100);
    }
    this.token = token;
    this.release = requestRelease;
    this.locker.hold(this.id, requestRelease);
    this.renewal = setInterval(() => void this.renew(requestRelease), Math.max(100, Math.floor(this.locker.ttlMs / 3)));
    this.renewal.unref();
  }

  async unlock(): Promise<void> {
    clearInterval(this.renewal);
    const token = this.token;
    this.token = undefined;
    if (!token) return;
    if (this.release) await this.locker.letGo(this.id, this.release);
    // If Redis is away the key simply expires (ttl): the request that wrote its bytes still succeeds.
    await this.locker.redis
      .eval(RELEASE, 1, this.locker.key(this.id), token)
      .catch((err: Error) => this.locker.warn(`unlock ${this.id}: ${err.message}`));
  }

  private async renew(requestRelease: RequestRelease): Promise<void> {
    const token = this.token;
    if (!token) return;
    try {
      const renewed = await this.locker.redis.eval(RENEW, 1, this.locker.key(this.id), token, this.locker.ttlMs);
      if (renewed === 1) return;
      this.locker.warn(`lock on ${this.id} was lost (expired before renewal): asking its request to stop`);
    } catch (err) {
      this.locker.warn(`renewing lock on ${this.id} failed: ${(err as Error).message}`);
      return; // the next tick tries again; if Redis stays away the key expires and renewal finds it gone
    }
    clearInterval(this.renewal);
    await requestRelease();
  }
}

function unavailable(err: unknown): never {
  const error = new ServiceUnavailableException('Upload locks are unavailable right now; retry shortly.');
  (error as { retryAfter?: number }).retryAfter = 1;
  error.cause = err;
  throw error;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
