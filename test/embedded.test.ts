import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type TestStack } from './support/app.js';

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
});
