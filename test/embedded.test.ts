import { SchedulerRegistry } from '@nestjs/schedule';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type TestStack } from './support/app.js';
import { register } from './support/users.js';
import { multipart, solidPng } from './support/images.js';
import { waitFor } from './support/wait.js';

describe('embedded mode (no DATABASE_URL / REDIS_URL)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startEmbedded('embedded');
  });
  afterAll(() => stack?.close());

  it('boots on SQLite and answers /health', async () => {
    expect(stack.config.embeddedDatabase).toBe(true);
    const res = await stack.api.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('runs the upkeep timers in-process: the orphan sweep and the analysis reconcile, one scheduler', () => {
    expect(stack.api.get(SchedulerRegistry).getIntervals().sort()).toEqual([
      'orphan-sweep',
      'prune-audit-log',
      'reconcile-analyses',
    ]);
  });

  it('reports SQLite, memory cache and in-process queue as ready', async () => {
    const res = await stack.api.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.info.database.status).toBe('up');
    expect(body.info.cache.backend).toBe('memory');
    expect(body.info.queue.backend).toBe('in-process');
  });

  it('answers unknown routes with a DRF 404 body and a request id', async () => {
    const res = await stack.api.inject({ method: 'GET', url: '/api/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ detail: 'Not found.' });
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('answers a known path with an unknown method 405 and an Allow header, like DRF', async () => {
    const res = await stack.api.inject({ method: 'DELETE', url: '/api/auth/login' });
    expect(res.statusCode).toBe(405);
    expect(res.json()).toEqual({ detail: 'Method "DELETE" not allowed.' });
    expect(res.headers.allow).toBe('POST, OPTIONS');
    const unknown = await stack.api.inject({ method: 'DELETE', url: '/api/nothing-here' });
    expect(unknown.statusCode).toBe(404);
  });

  it('runs the whole path on SQLite: register, upload, in-process analysis completes, pages list it', async () => {
    const s = await register(stack.api, 'emb');
    const form = multipart([{ name: 'file', filename: 'x.png', data: await solidPng(120, 80, '#0000ff') }]);
    const up = await stack.api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...s.auth, ...form.headers },
      payload: form.payload,
    });
    expect(up.statusCode).toBe(201);
    const id = up.json().analysis.id;
    const done = await waitFor(async () => {
      const a = (await stack.api.inject({ method: 'GET', url: `/api/visual-analysis/${id}`, headers: s.auth })).json();
      return a.status === 'completed' ? a : undefined;
    });
    expect(done.result).toMatchObject({ width: 120, height: 80, dominant_color: '#0000ff' });
    const list = (await stack.api.inject({ method: 'GET', url: '/api/uploads?cursor=', headers: s.auth })).json();
    expect(list.results[0]).toMatchObject({ id: up.json().id, analysis: { id, status: 'completed' } });
    const page = (await stack.api.inject({ method: 'GET', url: '/api/visual-analysis', headers: s.auth })).json();
    expect(page.count).toBe(1);
  });
});
