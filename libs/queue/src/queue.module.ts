import { Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import type { ConnectionOptions } from 'bullmq';
import type { Cluster, RedisOptions } from 'ioredis';
import type { AppConfig } from '@echo/config';
import { hashTag, ioredisClient, ioredisOptions, type RedisTopology } from '@echo/redis';
import { queueTelemetry } from '@echo/telemetry';
import { JOB_DEFAULTS, QUEUES } from './queue.constants.js';
import { QueueHealth } from './queue.health.js';
import { QUEUE_ERROR_LISTENERS } from './queue-errors.js';

/** The Cluster connection BullMQ shares (it does not close connections it was given). */
const CLUSTER_CONNECTION = Symbol('BULLMQ_CLUSTER_CONNECTION');

class ClusterConnection implements OnApplicationShutdown {
  constructor(readonly cluster: Cluster) {}
  onApplicationShutdown(): void {
    this.cluster.disconnect();
  }
}

/**
 * BullMQ on the queue's Redis (a URL with its own db, a Sentinel set, or a Cluster). Producers
 * (the API) fail fast when Redis is away (enableOfflineQueue: false); consumers (the worker)
 * wait forever for Redis (maxRetriesPerRequest: null), as BullMQ's production guide asks.
 * In Cluster, BullMQ's prefix is a hash tag (`{bull}`): every key of a queue is in one slot, as
 * its multi-key Lua scripts require (BullMQ docs, "Redis Cluster").
 * In embedded mode (no queue Redis) there is no queue: jobs run in-process.
 */
@Module({})
export class QueueModule {
  static forRoot(config: AppConfig, role: 'producer' | 'consumer'): DynamicModule {
    const topology = config.redis.queue;
    if (!topology) return { module: QueueModule, global: true, providers: [QueueHealth], exports: [QueueHealth] };
    const roleOptions: RedisOptions =
      role === 'producer' ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 } : { maxRetriesPerRequest: null };
    const cluster = topology.kind === 'cluster' ? (ioredisClient(topology, roleOptions) as Cluster) : undefined;
    cluster?.on('error', () => undefined); // BullMQ reports through its own listeners; never exit
    const bullRoot = BullModule.forRoot({
      prefix: cluster ? hashTag(config.queue.prefix) : config.queue.prefix,
      // ioredis options or an ioredis Cluster: what BullMQ accepts (its own option types differ in name only).
      connection: (cluster ?? bullmqConnection(topology, roleOptions)) as ConnectionOptions,
      // With tracing on, every queue and worker (they share these options): a job's `process` span
      // continues the trace that enqueued it, and the gap between them is its wait in the queue.
      telemetry: queueTelemetry(),
    });
    const queues = BullModule.registerQueue(
      ...Object.values(QUEUES).map((name) => ({ name, defaultJobOptions: JOB_DEFAULTS[name] })),
    );
    return {
      module: QueueModule,
      global: true,
      imports: [bullRoot, queues],
      providers: [
        QueueHealth,
        QUEUE_ERROR_LISTENERS,
        ...(cluster ? [{ provide: CLUSTER_CONNECTION, useValue: new ClusterConnection(cluster) }] : []),
      ],
      exports: [queues, QueueHealth],
    };
  }
}

/** Connection options BullMQ turns into its own ioredis clients (a single server or Sentinel). */
export function bullmqConnection(topology: RedisTopology, roleOptions: RedisOptions): RedisOptions {
  if (topology.kind === 'single') {
    const url = new URL(topology.url);
    return {
      host: url.hostname,
      port: Number(url.port || 6379),
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      tls: url.protocol === 'rediss:' ? {} : undefined,
      db: topology.db,
      ...roleOptions,
    };
  }
  return ioredisOptions(topology, roleOptions).options as RedisOptions;
}
