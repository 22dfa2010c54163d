import { describe, expect, it } from 'vitest';
import { assertClusterShape, RedisLibraryShapeError } from './cluster-failover.js';
import { nodeRedisClient } from './node-redis-client.js';

describe('cluster failover follower: the node-redis internals it relies on', () => {
  it('the installed @redis/client has them (a Cluster client is made without error)', () => {
    const cluster = nodeRedisClient({ kind: 'cluster', nodes: [{ host: '127.0.0.1', port: 1 }], tls: false });
    expect(() => assertClusterShape(cluster)).not.toThrow();
  });

  it('a version without them fails at start, naming the package, its version and the file', () => {
    let error: unknown;
    try {
      assertClusterShape({ masters: [], nodeByAddress: new Map(), _slots: {} });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RedisLibraryShapeError);
    expect((error as Error).message).toMatch(
      /^@redis\/client \d+\.\d+\.\d+: RedisCluster\._slots\.rediscover .*cluster-failover\.ts/,
    );
  });
});
