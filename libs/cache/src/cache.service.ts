import { setImmediate as yieldTurn } from 'node:timers/promises';
import { Inject, Injectable, Logger, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { CACHE_MANAGER, type Cache } from '@nestjs/cache-manager';
import {
  bufferCommands,
  isNodeRedisCluster,
  nodeRedisClient,
  type BufferCommands,
  type NodeRedisClient,
} from '@echo/redis';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { LoopLag } from './loop-lag.js';
import { NearCache } from './near-cache.js';

export const REDIS_CACHE_CLIENT = Symbol('REDIS_CACHE_CLIENT');

export interface CacheStats {
  hits: Record<string, number>;
  misses: Record<string, number>;
  errors: number;
  /** Reads answered by the in-process first tier (no Redis round trip). */
  nearHits: number;
}

/**
 * Cache-aside over the shared cache. Fails open: a command that errors or takes longer than
 * CACHE_COMMAND_TIMEOUT_MS counts as a miss, so a dead Redis costs bounded latency, not errors.
 *
 * Keys are `<namespace>:<rest>`; the namespace (first segment) labels hit/miss counters.
 * Invalidation of whole groups (a user's lists) uses versioned keys: `bump(group)` changes the
 * version every later `versioned(group, …)` key embeds; old entries die by TTL.
 */
/** A shared-cache read that failed or timed out (fail open: a miss, never remembered). */
const FAILED = Symbol('cache read failed');

/**
 * Key prefixes kept in the in-process first tier: small, read on (nearly) every request. `count:`
 * keys (a list's total under one list version) never change once written.
 */
const NEAR_PREFIXES = ['user:', 'ver:', 'count:'];
const isNear = (key: string) => NEAR_PREFIXES.some((prefix) => key.startsWith(prefix));

@Injectable()
export class CacheService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Cache');
  private lastFailureLog = 0;
  readonly stats: CacheStats = { hits: {}, misses: {}, errors: 0, nearHits: 0 };
  private readonly lag = new LoopLag();
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly near?: NearCache;
  private bufferClient?: BufferCommands;
  /** CACHE_ENABLED=false: every read misses and nothing is written (for measuring the database path). */
  private readonly enabled: boolean;

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() @Inject(REDIS_CACHE_CLIENT) private readonly client?: NodeRedisClient,
  ) {
    this.enabled = config.cache.enabled;
    // In memory (embedded) the shared cache is already in-process: no second tier.
    if (this.enabled && client && config.cache.nearTtlMs > 0) {
      this.near = new NearCache(
        `${config.cache.namespace}:invalidate`,
        { max: config.cache.nearMax, ttlMs: config.cache.nearTtlMs },
        client,
        // Waits (no fail-fast): a SUBSCRIBE sent while reconnecting should go out once connected.
        () => nodeRedisClient(config.redis.cache!, { connectTimeoutMs: 1000 }),
      );
    }
  }

  onModuleInit(): void {
    this.near?.start();
  }

  get backend(): 'redis' | 'memory' {
    return this.client ? 'redis' : 'memory';
  }

  async get<T>(key: string): Promise<T | undefined> {
    return this.read<T>(key);
  }

  /**
   * `absent`: what it means when the shared cache holds no such key (a list version never bumped
   * is version 0). It is kept in the first tier like a value, so such a read costs no round trip
   * either; a failed or timed-out read is never taken for an absent key.
   */
  private async read<T>(key: string, absent?: T): Promise<T | undefined> {
    if (!this.enabled) return this.count(key, undefined);
    const near = this.near && isNear(key) ? this.near : undefined;
    const local = near?.get<T>(key);
    if (local !== undefined) {
      this.stats.nearHits++;
      // One event-loop turn, as a Redis reply would take: completing in the tick the request was
      // read cost a write per response (measured: 5.6k vs 9.6k req/s on one process).
      await yieldTurn();
      return this.count(key, local);
    }
    const mark = near?.mark() ?? 0;
    const read = await this.guard<T | undefined | typeof FAILED>(() => this.cache.get<T>(key), FAILED);
    if (read === FAILED) return this.count(key, undefined);
    const value = read ?? absent;
    near?.keep(key, value, mark);
    return this.count(key, value);
  }

  private count<T>(key: string, value: T | undefined | null): T | undefined {
    const ns = key.split(':', 1)[0];
    const bucket = value === undefined || value === null ? this.stats.misses : this.stats.hits;
    bucket[ns] = (bucket[ns] ?? 0) + 1;
    return value ?? undefined;
  }

  async set<T>(key: string, value: T, ttlMs = this.config.cache.ttlMs): Promise<void> {
    if (!this.enabled) return;
    await this.guard(() => this.cache.set(key, value, ttlMs), undefined);
  }

  /**
   * A response body kept as its exact bytes, without Keyv's JSON envelope: on Redis a hit is one
   * GET answered as a Buffer and sent as it is (no UTF-8 decode, no JSON.parse of a 17 KB string
   * inside an envelope — that parse was ~6 % of a cached page's CPU). In memory, the text itself.
   */
  async getBody(key: string): Promise<Buffer | string | undefined> {
    if (!this.enabled) return this.count(key, undefined);
    const raw = this.rawClient;
    if (!raw) return this.get<string>(key);
    const value = await this.guard(() => raw.get(this.redisKey(key)), null);
    return this.count(key, value ?? undefined);
  }

  async setBody(key: string, body: string, ttlMs: number): Promise<void> {
    if (!this.enabled) return;
    const raw = this.rawClient;
    if (!raw) return this.set(key, body, ttlMs);
    await this.guard(() => raw.set(this.redisKey(key), body, { PX: ttlMs }), undefined);
  }

  /** The cache client answering bulk strings as Buffers (for getBody). */
  private get rawClient() {
    if (!this.client) return undefined;
    this.bufferClient ??= bufferCommands(this.client);
    return this.bufferClient;
  }

  /** Where @keyv/redis keeps `key` (its namespace, then `::`), so del() and the tests see one key space. */
  private redisKey(key: string): string {
    return `${this.config.cache.namespace}::${key}`;
  }

  async del(...keys: string[]): Promise<void> {
    if (!this.enabled) return;
    await this.guard(() => this.cache.mdel(keys), undefined);
    await this.invalidateNear(keys.filter(isNear));
  }

  /**
   * Read through the cache; `load` runs on a miss and its result (unless undefined) is stored.
   * Single flight: concurrent calls for one key in this process share one read and one load, so a
   * popular entry expiring (or Redis slowing down) never sends a stampede of identical loads and
   * large writes (what that cost: docs/design.md, Cache).
   */
  getOrSet<T>(key: string, load: () => Promise<T>, ttlMs?: number): Promise<T> {
    // Off means the database path as it is, each request its own load (what CACHE_ENABLED=false measures).
    if (!this.enabled) return load();
    const pending = this.inflight.get(key);
    if (pending) return pending as Promise<T>;
    const flight = (async () => {
      const cached = await this.get<T>(key);
      if (cached !== undefined) return cached;
      const fresh = await load();
      if (fresh !== undefined && fresh !== null) await this.set(key, fresh, ttlMs);
      return fresh;
    })().finally(() => this.inflight.delete(key));
    this.inflight.set(key, flight);
    return flight;
  }

  /** A key inside a version group: changes whenever bump(group) is called. */
  async versioned(group: string, key: string): Promise<string> {
    const version = (await this.read<string>(`ver:${group}`, '0')) ?? '0';
    return `${group}:v${version}:${key}`;
  }

  async bump(group: string): Promise<void> {
    // Outlives the entries it versions, so an expired version can never resurrect old ones.
    const version = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    await this.set(`ver:${group}`, version, this.config.cache.ttlMs * 10);
    await this.invalidateNear([`ver:${group}`]);
  }

  async onModuleDestroy(): Promise<void> {
    this.lag.stop();
    await this.near?.stop();
  }

  private async invalidateNear(keys: string[]): Promise<void> {
    if (!this.near || !keys.length) return;
    await this.guard(() => this.near!.invalidate(keys), undefined);
  }

  /** For health checks: is the cache backend answering right now? */
  async ping(): Promise<boolean> {
    const client = this.client;
    if (!client) return true;
    // A Cluster has no keyless PING of its own: ask every primary of the current slot map (a
    // dead one is down for a third of the keys; after a failover the map names the promoted one).
    const ping = isNodeRedisCluster(client)
      ? async () => {
          const pongs = await Promise.all(client.masters.map(async (m) => (await client.nodeClient(m)).ping()));
          return pongs.length && pongs.every((p) => p === 'PONG') ? 'PONG' : 'NO';
        }
      : () => (client as { ping(): Promise<string> }).ping();
    const pong = await this.guard(ping, undefined);
    return pong === 'PONG';
  }

  private async guard<T>(op: () => Promise<T>, fallback: T): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        op(),
        new Promise<never>((_, reject) => {
          // The deadline is Redis's time, not our own backlog's: on a busy process the reply can
          // wait behind other callbacks, and timing it out would send a loaded API to the database
          // for nothing. So: the configured timeout plus the recent event-loop delay, and one more
          // I/O turn (the timer phase runs before the poll phase that reads a waiting reply).
          const deadline = this.config.cache.commandTimeoutMs + this.lag.ms;
          const expire = () => reject(new Error(`cache command timed out after ${Math.round(deadline)} ms`));
          timer = setTimeout(() => setImmediate(expire), deadline);
        }),
      ]);
    } catch (err) {
      this.stats.errors++;
      if (Date.now() - this.lastFailureLog > 10_000) {
        this.lastFailureLog = Date.now();
        this.logger.warn(`cache unavailable, serving without it: ${(err as Error).message}`);
      }
      return fallback;
    } finally {
      clearTimeout(timer);
    }
  }
}
