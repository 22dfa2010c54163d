import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RedisClusterType } from '@redis/client';

/**
 * node-redis 5 re-reads a Cluster's slot map only when a node answers MOVED or ASK
 * (cluster/index.ts `_execute`; redis/node-redis#2806, open). A SIGKILLed primary answers
 * nothing: its slots keep pointing at it, every command for them fails with "The client is
 * offline" for as long as the process lives, and a sharded subscription on it is never moved.
 * ioredis refreshes its slots on a timer instead (slotsRefreshInterval).
 *
 * So: when a node client reports an error or a reconnect (the cluster's public `node-error` /
 * `node-reconnecting` / `node-disconnect` events), and while any primary of the map is not
 * ready, the slot map is read again every `retryMs` (the promoted replica appears once the
 * cluster has voted), through node-redis's own rediscovery. Sharded subscriptions that lived on
 * a node the new map drops are made again on the slot's new primary. Once every primary of the
 * map answers, the cluster emits FAILOVER_FOLLOWED: a subscriber that may have missed messages
 * meanwhile (the near cache) starts over then.
 *
 * There is no public API for a rediscovery: `_slots.rediscover` is checked when the client is
 * made, so a node-redis upgrade that moves it fails at start, not during an outage.
 */
export const FAILOVER_FOLLOWED = 'echo:failover-followed';

const FILE = 'libs/redis/src/cluster-failover.ts';

interface NodeClient {
  isReady: boolean;
  options?: unknown;
  getPubSubListeners(type: 'SHARDED'): Map<string, { strings: Set<Listener>; buffers: Set<Listener> }>;
}
type Listener = (message: never, channel: never) => unknown;
interface SlotNode {
  address: string;
  client?: NodeClient;
  pubSub?: { client: NodeClient };
}
interface Internals {
  _slots: { rediscover(startWith: { options?: unknown }): Promise<void> };
  masters: SlotNode[];
  nodeByAddress: Map<string, SlotNode>;
}

export class RedisLibraryShapeError extends Error {
  constructor(what: string) {
    super(
      `@redis/client ${installedVersion()}: ${what}. Echo's ${FILE} depends on it: revisit that file for this version.`,
    );
    this.name = 'RedisLibraryShapeError';
  }
}

function installedVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const main = require.resolve('@redis/client');
    // dist/index.js → the package root
    const root = join(dirname(main), '..');
    return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '(version unknown)';
  }
}

/** Throws RedisLibraryShapeError unless the cluster client has what followClusterFailover uses. */
export function assertClusterShape(cluster: unknown): asserts cluster is Internals {
  const c = cluster as Partial<Internals> | undefined;
  if (typeof c?._slots?.rediscover !== 'function')
    throw new RedisLibraryShapeError('RedisCluster._slots.rediscover is not a function');
  if (!Array.isArray(c.masters)) throw new RedisLibraryShapeError('RedisCluster.masters is not an array');
  if (!(c.nodeByAddress instanceof Map)) throw new RedisLibraryShapeError('RedisCluster.nodeByAddress is not a Map');
}

export function followClusterFailover(cluster: RedisClusterType, options: { retryMs?: number } = {}): void {
  assertClusterShape(cluster);
  const internals = cluster as unknown as Internals;
  const retryMs = options.retryMs ?? 500;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  // Rounds in a row with a primary still down: the wait doubles up to 10 s, so a primary that has
  // no replica and stays dead is not re-mapped every half second for the life of the process.
  let rounds = 0;

  const schedule = (delay = 100) => {
    if (timer || running) return;
    timer = setTimeout(() => {
      timer = undefined;
      void round();
    }, delay);
    timer.unref();
  };

  const unready = () =>
    internals.masters.filter((m) => (m.client && !m.client.isReady) || (m.pubSub && !m.pubSub.client.isReady));

  const round = async () => {
    if (!cluster.isOpen) return;
    if (!unready().length) {
      // A node that came back by itself (a restart, a network blip): nothing moved.
      cluster.emit(FAILOVER_FOLLOWED);
      return;
    }
    running = true;
    let again = true;
    try {
      // Sharded listeners of every primary, by address: the rediscovery destroys the clients of
      // nodes the new map no longer has, their listeners with them.
      // (Copied: destroying a client may clear the maps it hands out.)
      const sharded = new Map<string, Array<[string, Listener[], Listener[]]>>();
      for (const m of internals.masters) {
        const listeners = m.pubSub?.client.getPubSubListeners('SHARDED');
        if (!listeners?.size) continue;
        sharded.set(
          m.address,
          [...listeners].map(([channel, l]) => [channel, [...l.strings], [...l.buffers]]),
        );
      }
      // Ask a primary that answers (the dead one would only time out); node-redis falls back to
      // the seed nodes when this one fails.
      const start = internals.masters.find((m) => m.client?.isReady)?.client ?? internals.masters[0]?.client;
      if (!start) return;
      await internals._slots.rediscover(start);
      for (const [address, listeners] of sharded) {
        if (internals.nodeByAddress.get(address)?.pubSub) continue; // still served there
        for (const [channel, strings, buffers] of listeners) {
          for (const listener of strings) await cluster.sSubscribe(channel, listener as never);
          for (const listener of buffers) await cluster.sSubscribe(channel, listener as never, true);
        }
      }
      again = unready().length > 0;
      if (!again) {
        rounds = 0;
        cluster.emit(FAILOVER_FOLLOWED);
      }
    } catch {
      // Cluster still voting, or no seed answering: next round. (Errors reach 'error' listeners.)
    } finally {
      running = false;
      if (again && cluster.isOpen) schedule(Math.min(retryMs * 2 ** rounds++, 10_000));
    }
  };

  for (const event of ['node-error', 'node-reconnecting', 'node-disconnect']) cluster.on(event, () => schedule());
}
