import { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { RedisClientType } from '@keyv/redis';

/**
 * A small in-process first tier for the hottest, smallest entries (the user record the auth
 * guard reads on every request, and the list version counters): most requests then need no Redis
 * round trip at all. Every process hears every invalidation through Redis pub/sub, so a
 * deactivation or a new upload is seen everywhere within the message's delay; if the channel is
 * down, entries still expire after `ttlMs`.
 *
 * A value read from the shared cache while its invalidation arrives could be stale: it is kept
 * locally only if that key was not invalidated since its read began (per-key sequence numbers;
 * the record of old invalidations is bounded, and anything older than what it still holds
 * counts as "invalidated" for a read that started before it).
 */
export class NearCache {
  private readonly logger = new Logger('NearCache');
  private readonly entries: LRUCache<string, { value: unknown }>;
  private seq = 0;
  /** Sequence number of each key's latest invalidation (bounded; see `floor`). */
  private readonly invalidated: LRUCache<string, number>;
  /** The newest sequence number dropped from `invalidated`. */
  private floor = 0;
  private subscriber?: RedisClientType;

  constructor(
    private readonly channel: string,
    options: { max: number; ttlMs: number },
    private readonly publisher?: RedisClientType,
  ) {
    this.entries = new LRUCache({ max: options.max, ttl: options.ttlMs, ttlAutopurge: false });
    this.invalidated = new LRUCache({ max: options.max, dispose: (seq) => (this.floor = Math.max(this.floor, seq)) });
  }

  /**
   * Subscribes to other processes' invalidations, in the background (a Redis that is away must
   * not hold up start-up; the client reconnects and resubscribes by itself). While the channel is
   * not up, this tier answers nothing: it could miss an invalidation.
   */
  start(): void {
    if (!this.publisher) return;
    const subscriber = this.publisher.duplicate() as RedisClientType;
    subscriber.on('error', () => undefined);
    // Whatever was missed while disconnected is unknown: start empty.
    subscriber.on('ready', () => this.entries.clear());
    this.subscriber = subscriber;
    subscriber
      .connect()
      .then(() => subscriber.subscribe(this.channel, (message) => this.evictLocal(message.split('\n'))))
      .catch((err: Error) => this.logger.warn(`invalidation channel unavailable: ${err.message}`));
  }

  private get listening(): boolean {
    return this.subscriber?.isReady === true;
  }

  async stop(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber?.isOpen) await subscriber.close().catch(() => undefined);
    else subscriber?.destroy();
  }

  /** The cached value, or undefined (undefined and null are never stored). */
  get<T>(key: string): T | undefined {
    if (!this.listening) return undefined;
    return this.entries.get(key)?.value as T | undefined;
  }

  /** A read is starting: remember where the invalidation sequence stands. */
  mark(): number {
    return this.seq;
  }

  /** Keep a value read since `mark`, unless something was invalidated meanwhile. */
  keep(key: string, value: unknown, mark: number): void {
    if (
      !this.listening ||
      value === undefined ||
      value === null ||
      mark < this.floor ||
      (this.invalidated.get(key) ?? 0) > mark
    )
      return;
    this.entries.set(key, { value });
  }

  /** Evicts here at once and tells every other process. */
  async invalidate(keys: string[]): Promise<void> {
    this.evictLocal(keys);
    if (this.publisher?.isOpen) await this.publisher.publish(this.channel, keys.join('\n'));
  }

  private evictLocal(keys: string[]): void {
    const seq = ++this.seq;
    for (const key of keys) {
      this.entries.delete(key);
      this.invalidated.set(key, seq);
    }
  }
}
