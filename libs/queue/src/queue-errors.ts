import { Logger } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { QUEUES } from './queue.constants.js';

/**
 * A BullMQ Queue or Worker emits 'error' for a failed Redis command (a reconnect, a failover's
 * "Too many Cluster redirections"); with no listener, BullMQ's emit falls back to console.error
 * with a stack per error. Every queue and worker gets this listener instead: one log line per
 * source per 10 s. The clients reconnect by themselves; nothing else is needed.
 */
export function queueErrorListener(source: string, logger = new Logger('Queue')): (err: Error) => void {
  let last = 0;
  return (err: Error) => {
    if (Date.now() - last < 10_000) return;
    last = Date.now();
    logger.warn(`${source}: Redis error (retrying): ${err?.message ?? String(err)}`);
  };
}

/** A provider that puts the listener on every queue of QUEUES as soon as Nest makes them. */
export const QUEUE_ERROR_LISTENERS = {
  provide: Symbol('QUEUE_ERROR_LISTENERS'),
  inject: Object.values(QUEUES).map((name) => getQueueToken(name)),
  useFactory: (...queues: Queue[]) => {
    for (const queue of queues) queue.on('error', queueErrorListener(`queue ${queue.name}`));
    return queues.length;
  },
};
