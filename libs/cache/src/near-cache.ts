import { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { RedisClientType } from '@keyv/redis';
import { FAILOVER_FOLLOWED, isNodeRedisCluster, type NodeRedisClient } from '@echo/redis';

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
  private subscriber?: NodeRedisClient;
  private subscribed = false;
  /** Cluster: a node of the subscriber failed and the slot map has not been followed since. */
  private deaf = false;

  /**
   * `publisher`: the cache client; `newSubscriber`: a client of the same topology for the channel
   * (a plain connection in subscribe mode takes no other command). In Cluster the channel is
   * sharded (SPUBLISH/SSUBSCRIBE): a message goes to the channel's shard only, not to every node.
   */
  constructor(
    private readonly channel: string,
    options: { max: number; ttlMs: number },
    private readonly publisher?: NodeRedisClient,
    private readonly newSubscriber?: () => NodeRedisClient,
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
    if (!this.publisher || !this.newSubscriber) return;
    const subscriber = this.newSubscriber();
    const sharded = isNodeRedisCluster(subscriber);
    subscriber.on('error', () => undefined);
    // Whatever was missed while disconnected is unknown: start empty.
    subscriber.on('ready', () => this.entries.clear());
    if (sharded) {
      // A Cluster client has no 'ready' of its own. A failed node may have held the channel: this
      // tier answers nothing until the slot map is followed (the channel moved with it, see
      // @echo/redis cluster-failover.ts), then starts empty.
      const lost = () => {
        this.deaf = true;
        this.entries.clear();
      };
      subscriber.on('node-error', lost).on('node-reconnecting', lost);
      subscriber.on(FAILOVER_FOLLOWED, () => {
        this.entries.clear();
        this.deaf = false;
      });
    }
    this.subscriber = subscriber;
    const onMessage = (message: string) => this.evictLocal(message.split('\n'));
    subscriber
      .connect()
      .then(() =>
        sharded
          ? subscriber.sSubscribe(this.channel, onMessage)
          : (subscriber as RedisClientType).subscribe(this.channel, onMessage),
      )
      .then(() => (this.subscribed = true))
      .catch((err: Error) => this.logger.warn(`invalidation channel unavailable: ${err.message}`));
  }

  private get listening(): boolean {
    const subscriber = this.subscriber as { isReady?: boolean; isOpen: boolean } | undefined;
    if (!subscriber || !this.subscribed || this.deaf) return false;
    return subscriber.isReady ?? subscriber.isOpen;
  }

  async stop(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    this.subscribed = false;
    if (subscriber?.isOpen) await subscriber.close().catch(() => undefined);
    else await Promise.resolve(subscriber?.destroy()).catch(() => undefined);
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
    const publisher = this.publisher;
    if (!publisher?.isOpen) return;
    if (isNodeRedisCluster(publisher)) await publisher.sPublish(this.channel, keys.join('\n'));
    else await (publisher as RedisClientType).publish(this.channel, keys.join('\n'));
  }

  private evictLocal(keys: string[]): void {
    const seq = ++this.seq;
    for (const key of keys) {
      this.entries.delete(key);
      this.invalidated.set(key, seq);
    }
  }
}
