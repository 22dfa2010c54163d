import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { QUEUES } from '@echo/queue';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { register, type Session } from './support/users.js';
import { postUpload } from './support/uploads.js';
import { multipart, solidPng } from './support/images.js';
import { waitFor } from './support/wait.js';
import { distBuilt, EchoProcess, PrivateRedis } from './support/processes.js';

/** A large PNG (no shrink-on-load), so a worker spends long enough on it to be killed mid-job. */
function bigPng(seed: number): Promise<Buffer> {
  const w = 5000;
  const h = 4000;
  const svg = `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg"><defs><radialGradient id="g"><stop offset="0" stop-color="#${(seed * 123456).toString(16).slice(-6).padStart(6, '0')}"/><stop offset="1" stop-color="#102030"/></radialGradient></defs><rect width="100%" height="100%" fill="url(#g)"/></svg>`;
  return sharp(Buffer.from(svg)).png({ compressionLevel: 1 }).toBuffer();
}

/**
 * Fault drills around the worker app: real worker processes (dist/) on a private Redis, so
 * they can be SIGKILLed and the queue db flushed without touching anything shared.
 */
describe.skipIf(!servicesUp() || !distBuilt('worker'))('worker faults (built worker processes, private Redis)', () => {
  let redis: PrivateRedis;
  let stack: TestStack;
  let db: DataSource;
  let user: Session;
  const workers: EchoProcess[] = [];

  const startWorker = () => {
    const worker = EchoProcess.spawn('worker', {
      ...stack.env,
      LOG_LEVEL: 'warn',
      WORKER_METRICS_PORT: '0',
      WORKER_CONCURRENCY: '1',
    });
    workers.push(worker);
    return worker;
  };
  const upload = async (data: Buffer): Promise<{ id: string; analysis: { id: string } }> =>
    postUpload(stack.api, user, multipart([{ name: 'file', filename: 'x.png', data }]));
  const row = async (id: string) =>
    (await db.query('SELECT status, attempts, error, completed_at FROM visual_analysis_results WHERE id = ?', [id]))[0];
  const completed = (id: string, timeout = 40_000) =>
    waitFor(
      async () => {
        const r = await row(id);
        return r?.status === 'completed' ? r : undefined;
      },
      timeout,
      `analysis ${id} to complete`,
    );

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startStack('faults', {
      REDIS_URL: redis.url,
      UPLOAD_MAX_BYTES: String(40 * 1024 * 1024),
      QUEUE_LOCK_DURATION_MS: '2000',
      ANALYSIS_STUCK_AFTER_SECONDS: '2',
      MAINTENANCE_EVERY_SECONDS: '1',
    });
    db = stack.api.get(DataSource);
    user = await register(stack.api, 'faults');
  });
  afterAll(async () => {
    for (const w of workers) await w.kill('SIGKILL');
    await stack?.close();
    await redis?.stop();
  });

  it('a worker SIGKILLed mid-job: the stalled job is retried by another worker and completes once', async () => {
    const first = startWorker();
    const up = await upload(await bigPng(1));
    await waitFor(async () => (await row(up.analysis.id))?.status === 'processing', 30_000, 'processing');
    await first.kill('SIGKILL');
    expect((await row(up.analysis.id)).status).toBe('processing');

    const second = startWorker();
    const done = await completed(up.analysis.id);
    expect(done.attempts).toBe(2); // the killed attempt and the one that finished
    expect(done.error).toBeNull();
    // Exactly once: nothing left in the queue for it, and the row stays completed.
    await new Promise((r) => setTimeout(r, 2500));
    const again = await row(up.analysis.id);
    expect(again.attempts).toBe(2);
    expect(new Date(again.completed_at).getTime()).toBe(new Date(done.completed_at).getTime());
    await second.kill('SIGTERM');
  });

  it('SIGTERM lets the current job finish (or hands it back) and the worker exits 0', async () => {
    // The job is queued before the worker starts, so the worker takes it while still booting: the
    // signal arrives as early as a supervisor's could (this once killed the process outright).
    const up = await upload(await bigPng(2));
    const worker = startWorker();
    await waitFor(async () => (await row(up.analysis.id))?.status === 'processing', 30_000, 'processing');
    expect(await worker.kill('SIGTERM', 30_000), worker.output).toBe(0);
    const after = await row(up.analysis.id);
    if (after.status !== 'completed') {
      // Handed back: a new worker finishes it.
      const next = startWorker();
      await completed(up.analysis.id);
      await next.kill('SIGTERM');
    }
    expect((await row(up.analysis.id)).status).toBe('completed');
  });

  it('the queue db flushed after enqueue: the reconciler re-enqueues and the analysis completes', async () => {
    const up = await upload(await solidPng(70, 70, '#abcdef'));
    expect(await redis.command((r) => r.keys(`${stack.config.queue.prefix}:*`))).not.toHaveLength(0);
    await redis.command((r) => r.flushdb(), stack.config.redis.queueDb);
    expect(await redis.command((r) => r.keys(`${stack.config.queue.prefix}:*`))).toHaveLength(0);
    const worker = startWorker();
    await completed(up.analysis.id);
    await worker.kill('SIGTERM');
  });

  it('Redis stopped and restarted: uploads still accepted, profile served, analyses complete after it returns', async () => {
    const worker = startWorker();
    await redis.stop();
    const started = Date.now();
    const me = await stack.api.inject({ method: 'GET', url: '/api/users/me', headers: user.auth });
    expect(me.statusCode).toBe(200); // cache fails open to the database
    const ups = [];
    for (let i = 0; i < 3; i++) ups.push(await upload(await solidPng(30 + i, 30, '#00aa00')));
    expect(Date.now() - started).toBeLessThan(5000);
    const ready = await stack.api.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    await redis.start();
    for (const up of ups) await completed(up.analysis.id, 60_000);
    await worker.kill('SIGTERM');
  });
});

/**
 * Redis emptied under a running worker (FLUSHALL, or a failover to an empty replica): the
 * reconciler's schedule lived in Redis too, so the worker must put it back by itself. An
 * in-process worker (no dist/ needed) on a private Redis.
 */
describe.skipIf(!servicesUp())('Redis flushed while the worker keeps running', () => {
  let redis: PrivateRedis;
  let stack: TestStack;
  let user: Session;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startStack(
      'flushlive',
      { REDIS_URL: redis.url, ANALYSIS_STUCK_AFTER_SECONDS: '1', MAINTENANCE_EVERY_SECONDS: '1' },
      { worker: true },
    );
    user = await register(stack.api, 'flushlive');
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  it('queued analyses lost to a FLUSHALL all complete, without a worker restart', async () => {
    const db = stack.api.get(DataSource);
    // Paused queue-wide (a flag in Redis), so every job is surely still queued when the flush
    // takes it; the flush also clears the flag, and the same worker carries on.
    await stack.api.get<Queue>(getQueueToken(QUEUES.analysis)).pause();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const form = multipart([{ name: 'file', filename: 'x.png', data: await solidPng(20 + i, 20, '#336699') }]);
      ids.push(((await postUpload(stack.api, user, form)) as { analysis: { id: string } }).analysis.id);
    }
    expect(await redis.command((r) => r.flushall())).toBe('OK');

    await waitFor(
      async () => {
        const rows: { status: string }[] = await db.query(
          `SELECT status FROM visual_analysis_results WHERE id IN (${ids.map(() => '?').join(',')})`,
          ids,
        );
        return rows.length === ids.length && rows.every((r) => r.status === 'completed');
      },
      15_000,
      'every analysis to complete after the flush',
    );
    // The schedules are back in Redis for whatever comes next.
    const maintenance = stack.api.get<Queue>(getQueueToken(QUEUES.maintenance));
    expect(await maintenance.getJobScheduler('reconcile-analyses')).toBeTruthy();
    expect(await maintenance.getJobScheduler('sweep-uploads')).toBeTruthy();
  });

  it('a schedule kept without its next iteration (a failover lost that job): the reconciler runs again', async () => {
    const db = stack.api.get(DataSource);
    const analysis = stack.api.get<Queue>(getQueueToken(QUEUES.analysis));
    const maintenance = stack.api.get<Queue>(getQueueToken(QUEUES.maintenance));
    // The analysis job goes missing (as if its add's reply was lost in the switch)…
    await analysis.pause();
    const form = multipart([{ name: 'file', filename: 'x.png', data: await solidPng(31, 17, '#996633') }]);
    const id = ((await postUpload(stack.api, user, form)) as { analysis: { id: string } }).analysis.id;
    await (await analysis.getJob(id))!.remove();
    // …and so does the reconciler's next iteration, the schedule itself kept (what a replica a
    // step behind its primary holds). Paused first, so no iteration is running while it goes.
    await maintenance.pause();
    await waitFor(async () => (await maintenance.getActiveCount()) === 0, 5000, 'no maintenance job running');
    const scheduler = await maintenance.getJobScheduler('reconcile-analyses');
    const jobId = `repeat:reconcile-analyses:${scheduler!.next}`;
    const key = `${stack.config.queue.prefix}:${QUEUES.maintenance}`;
    expect(await maintenance.getJob(jobId)).toBeTruthy();
    // BullMQ refuses to remove a scheduler's job: gone the way a failover loses it, key by key.
    await redis.command((r) =>
      r
        .multi()
        .del(`${key}:${jobId}`)
        .zrem(`${key}:delayed`, jobId)
        .zrem(`${key}:prioritized`, jobId)
        .lrem(`${key}:wait`, 0, jobId)
        .lrem(`${key}:paused`, 0, jobId)
        .exec(),
    );
    expect(await maintenance.getJob(jobId)).toBeUndefined();
    await Promise.all([maintenance.resume(), analysis.resume()]);

    await waitFor(
      async () => {
        const [row] = await db.query('SELECT status FROM visual_analysis_results WHERE id = ?', [id]);
        return row?.status === 'completed';
      },
      15_000,
      'the analysis to complete (re-enqueued by the reconciler)',
    );
  });
});
