import type { JobsOptions } from 'bullmq';

/** Every queue Echo has, and how its jobs retry and are kept: the one place to look. */
export const QUEUES = {
  analysis: 'visual-analysis',
  maintenance: 'maintenance',
  exports: 'exports',
  accountPurge: 'account-purge',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export const JOB_DEFAULTS: Record<QueueName, JobsOptions> = {
  [QUEUES.analysis]: {
    attempts: 3,
    backoff: { type: 'exponential', delay: 2000 },
    // Bounded history in Redis: finished jobs are not kept forever.
    removeOnComplete: { count: 1000, age: 24 * 3600 },
    removeOnFail: { count: 5000, age: 7 * 24 * 3600 },
  },
  [QUEUES.maintenance]: {
    attempts: 1,
    removeOnComplete: { count: 100 },
    removeOnFail: { count: 100 },
  },
  // Data exports (and their expiry sweep): a failed build is retried twice, a minute apart.
  [QUEUES.exports]: {
    attempts: 3,
    backoff: { type: 'exponential', delay: 30_000 },
    removeOnComplete: { count: 1000, age: 24 * 3600 },
    removeOnFail: { count: 1000, age: 7 * 24 * 3600 },
  },
  // A finished purge leaves no job naming the user; a failed one stays a week (the due-purge check retries it).
  [QUEUES.accountPurge]: {
    attempts: 5,
    backoff: { type: 'exponential', delay: 10_000 },
    removeOnComplete: true,
    removeOnFail: { count: 1000, age: 7 * 24 * 3600 },
  },
};
