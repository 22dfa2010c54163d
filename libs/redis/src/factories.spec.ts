import { describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { ioredisClient, ioredisOptions, isCluster, pubsub } from './ioredis-client.js';
import { isNodeRedisCluster, nodeRedisClient, nodeRedisOptions } from './node-redis-client.js';
import { hashTag, parseNodes, type RedisTopology } from './topology.js';

const single: RedisTopology = { kind: 'single', url: 'rediss://u:pw@r.example:6380', db: 2 };
const sentinel: RedisTopology = {
  kind: 'sentinel',
  sentinels: [
    { host: 's1', port: 26379 },
    { host: 's2', port: 26379 },
  ],
  name: 'echo',
  sentinelPassword: 'spw',
  username: 'app',
  password: 'pw',
  tls: true,
  db: 1,
};
const cluster: RedisTopology = {
  kind: 'cluster',
  nodes: [{ host: 'n1', port: 7000 }],
  username: 'app',
  password: 'pw',
  tls: false,
};

describe('ioredis factory', () => {
  it('single: the URL as given, the role db, the caller options and a bounded reconnect backoff', () => {
    const made = ioredisOptions(single, { enableOfflineQueue: false, commandTimeout: 200 });
    expect(made).toMatchObject({
      kind: 'single',
      url: 'rediss://u:pw@r.example:6380',
      options: { db: 2, enableOfflineQueue: false, commandTimeout: 200 },
    });
    const retry = (made.options as { retryStrategy: (n: number) => number }).retryStrategy;
    expect(retry(1)).toBe(100);
    expect(retry(100)).toBe(2000);
  });

  it('sentinel: sentinels, name, both passwords, TLS to data nodes and sentinels, failover detector', () => {
    const made = ioredisOptions(sentinel, { maxRetriesPerRequest: null });
    expect(made.kind).toBe('sentinel');
    expect(made.options).toMatchObject({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      name: 'echo',
      sentinelPassword: 'spw',
      username: 'app',
      password: 'pw',
      db: 1,
      tls: {},
      sentinelTLS: {},
      enableTLSForSentinelMode: true,
      failoverDetector: true,
      maxRetriesPerRequest: null,
    });
  });

  it('cluster: seed nodes; per-node options under redisOptions, offline queue at the cluster level; no db', () => {
    const made = ioredisOptions(cluster, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      shardedSubscribers: true,
    });
    if (made.kind !== 'cluster') throw new Error('not a cluster');
    expect(made.nodes).toEqual([{ host: 'n1', port: 7000 }]);
    expect(made.options).toMatchObject({
      enableOfflineQueue: false,
      shardedSubscribers: true,
      redisOptions: { username: 'app', password: 'pw', maxRetriesPerRequest: 1 },
    });
    expect(made.options.redisOptions).not.toHaveProperty('db');
    expect(made.options.redisOptions).not.toHaveProperty('enableOfflineQueue');
    expect(made.options.dnsLookup).toBeUndefined();
    const tls = ioredisOptions({ ...cluster, tls: true });
    expect(tls.options).toMatchObject({ redisOptions: { tls: {} } });
    expect(typeof (tls.options as { dnsLookup?: unknown }).dnsLookup).toBe('function');
  });

  it('makes Redis or Cluster instances (lazily, nothing connects) and picks sharded pub/sub for Cluster', () => {
    const a = ioredisClient(single, { lazyConnect: true });
    const b = ioredisClient(sentinel, { lazyConnect: true });
    const c = ioredisClient(cluster, { lazyConnect: true });
    expect(a).toBeInstanceOf(Redis);
    expect(b).toBeInstanceOf(Redis);
    expect(c).toBeInstanceOf(Cluster);
    expect(isCluster(c)).toBe(true);
    expect(isCluster(a)).toBe(false);
    expect(pubsub.messageEvent(c)).toBe('smessage');
    expect(pubsub.scriptCommand(c)).toBe('SPUBLISH');
    expect(pubsub.messageEvent(b)).toBe('message');
    expect(pubsub.scriptCommand(a)).toBe('PUBLISH');
    for (const client of [a, b, c]) client.disconnect();
  });
});

describe('node-redis factory', () => {
  it('single: URL, database, fail-fast offline queue, connect timeout', () => {
    const made = nodeRedisOptions(single, { disableOfflineQueue: true, connectTimeoutMs: 500 });
    expect(made).toMatchObject({
      kind: 'single',
      options: {
        url: single.kind === 'single' ? single.url : '',
        database: 2,
        disableOfflineQueue: true,
        socket: { connectTimeout: 500 },
      },
    });
  });

  it('sentinel: root nodes, name, node and sentinel credentials, TLS on both', () => {
    const made = nodeRedisOptions(sentinel, { disableOfflineQueue: true });
    expect(made).toMatchObject({
      kind: 'sentinel',
      options: {
        name: 'echo',
        sentinelRootNodes: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26379 },
        ],
        nodeClientOptions: {
          username: 'app',
          password: 'pw',
          database: 1,
          disableOfflineQueue: true,
          socket: { tls: true },
        },
        sentinelClientOptions: { password: 'spw', socket: { tls: true } },
      },
    });
  });

  it('cluster: root nodes and per-node defaults (credentials), no database', () => {
    const made = nodeRedisOptions(cluster, { disableOfflineQueue: true });
    expect(made).toMatchObject({
      kind: 'cluster',
      options: {
        rootNodes: [{ socket: { host: 'n1', port: 7000 } }],
        defaults: { username: 'app', password: 'pw', disableOfflineQueue: true },
      },
    });
    expect((made.options as { defaults: object }).defaults).not.toHaveProperty('database');
  });

  it('makes the matching client kinds without connecting', () => {
    expect(isNodeRedisCluster(nodeRedisClient(cluster))).toBe(true);
    expect(isNodeRedisCluster(nodeRedisClient(single))).toBe(false);
    expect(isNodeRedisCluster(nodeRedisClient(sentinel))).toBe(false);
  });
});

describe('topology helpers', () => {
  it('parses host:port lists and IPv6, refusing the rest', () => {
    expect(parseNodes('a:1, [::1]:2')).toEqual({
      nodes: [
        { host: 'a', port: 1 },
        { host: '::1', port: 2 },
      ],
    });
    expect(parseNodes('a')).toEqual({ error: 'entry 1 is not host:port' });
    // Credentials pasted into a node list never come back in the error (it reaches the start-up log).
    expect(JSON.stringify(parseNodes('h:1,user:s3cret@h:2'))).not.toContain('s3cret');
    expect(parseNodes('a:0')).toHaveProperty('error');
  });

  it('hash tags', () => {
    expect(hashTag(12)).toBe('{12}');
  });
});
