import { Module, type DynamicModule } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import type { AppConfig } from '@echo/config';
import { JOB_DEFAULTS, QUEUES } from './queue.constants.js';
import { QueueHealth } from './queue.health.js';

/**
 * BullMQ on the queue's own Redis db. Producers (the API) fail fast when Redis is away
 * (enableOfflineQueue: false); consumers (the worker) wait forever for Redis
 * (maxRetriesPerRequest: null), as BullMQ's production guide asks.
 * In embedded mode (no REDIS_URL) there is no queue: jobs run in-process.
 */
@Module({})
export class QueueModule {
  static forRoot(config: AppConfig, role: 'producer' | 'consumer'): DynamicModule {
    if (!config.redis.url)
      return { module: QueueModule, global: true, providers: [QueueHealth], exports: [QueueHealth] };
    const url = new URL(config.redis.url);
    const bullRoot = BullModule.forRoot({
      prefix: config.queue.prefix,
      connection: {
        host: url.hostname,
        port: Number(url.port || 6379),
        username: url.username || undefined,
        password: url.password ? decodeURIComponent(url.password) : undefined,
        tls: url.protocol === 'rediss:' ? {} : undefined,
        db: config.redis.queueDb,
        ...(role === 'producer'
          ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 }
          : { maxRetriesPerRequest: null }),
      },
    });
    const queues = BullModule.registerQueue(
      ...Object.values(QUEUES).map((name) => ({ name, defaultJobOptions: JOB_DEFAULTS[name] })),
    );
    return {
      module: QueueModule,
      global: true,
      imports: [bullRoot, queues],
      providers: [QueueHealth],
      exports: [queues, QueueHealth],
    };
  }
}
