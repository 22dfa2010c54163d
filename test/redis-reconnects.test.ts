import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { multipart, solidPng } from './support/images.js';
import { PrivateRedis } from './support/processes.js';
import { postUpload } from './support/uploads.js';
import { register, type Session } from './support/users.js';
import { waitFor } from './support/wait.js';

/**
 * Issue 21 §1, reconnects: Redis going away and coming back, again and again, must cost no process
 * and no listeners. Every Redis user (cache + near cache, throttler, BullMQ queues and worker,
 * events bus, stream tickets, tus) runs in this process on a Redis of the test's own; a listener
 * added per reconnect would pass Node's default of 10 per event within these cycles and print a
 * MaxListenersExceededWarning, and would show as growing listener counts on the process.
 */
const CYCLES = 12;

describe.skipIf(!servicesUp())('Redis restarted again and again (API + worker in one process)', () => {
  let redis: PrivateRedis;
  let stack: TestStack;
  let user: Session;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startStack('reconnects', { REDIS_URL: redis.url }, { worker: true });
    user = await register(stack.api, 'rc');
    process.on('warning', onWarning);
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    await stack?.close();
    await redis?.stop();
  });

  const ready = async () =>
    (await stack.api.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200 &&
    (await stack.api.inject({ method: 'GET', url: '/api/users/me', headers: user.auth })).statusCode === 200;

  it(`${CYCLES} restarts: every request answered 2xx or 503, ready again each time, no listener added per reconnect`, async () => {
    await waitFor(ready, 15_000, 'the stack to be ready');
    const processListeners = () => process.eventNames().reduce((n, name) => n + process.listenerCount(name), 0);
    const before = processListeners();
    const statuses: number[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await redis.stop();
      for (const url of ['/api/uploads', '/api/users/me', '/api/visual-analysis'])
        statuses.push((await stack.api.inject({ method: 'GET', url, headers: user.auth })).statusCode);
      await redis.start();
      await waitFor(ready, 15_000, `ready again after restart ${cycle + 1}`);
    }
    expect(statuses.filter((s) => !(s === 200 || s === 503))).toEqual([]);
    // Still whole: an upload is analysed by the in-process worker after the last restart.
    const up = await postUpload(
      stack.api,
      user,
      multipart([{ name: 'file', filename: 'r.png', data: await solidPng(24, 24, '#345678') }]),
    );
    await waitFor(
      async () =>
        (await stack.api.inject({ method: 'GET', url: `/api/uploads/${up.id}`, headers: user.auth })).json().analysis
          ?.status === 'completed',
      20_000,
      'the analysis after the last restart',
    );
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message)).toEqual([]);
    expect(processListeners()).toBeLessThanOrEqual(before + 2);
  }, 180_000);
});
