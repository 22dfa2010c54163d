import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_CSP, adminConsoleDir } from '../apps/api/src/admin-console.js';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { registerAdmin } from './support/users.js';

/** How the API serves the built console (no browser needed): headers, client routes, assets, neighbours. */
describe('admin console serving (embedded)', () => {
  let stack: TestStack;
  let asset: string;

  beforeAll(async () => {
    if (!adminConsoleDir()) throw new Error('dist/admin is missing: run `npm run build` (it builds the console) first');
    stack = await startEmbedded('consoleserve');
    const html = (await stack.api.inject({ method: 'GET', url: '/admin' })).body;
    asset = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(html)![1];
  });
  afterAll(() => stack?.close());

  it.each([
    '/admin',
    '/admin/',
    '/admin/users?search=al',
    '/admin/users/42',
    '/admin/uploads/0b6a2c1e-1111-4222-8333-444455556666',
    '/admin/queues',
  ])('GET %s is the app (index.html, not cached, strict CSP)', async (url) => {
    const res = await stack.api.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['content-security-policy']).toBe(ADMIN_CSP);
    expect(ADMIN_CSP).toContain("script-src 'self'");
    expect(ADMIN_CSP).not.toContain('unsafe-inline');
    expect(res.body).toContain('<div id="app"></div>');
    // No inline script for the CSP to refuse.
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('hashed assets are immutable for a year; a missing one is a JSON 404, not the app', async () => {
    const js = await stack.api.inject({ method: 'GET', url: asset });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const missing = await stack.api.inject({ method: 'GET', url: '/admin/assets/index-missing.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ detail: 'Not found.' });
  });

  it('leaves the API alone: unknown /api routes stay JSON 404s, and a POST under /admin is not the app', async () => {
    const api = await stack.api.inject({ method: 'GET', url: '/api/nothing-here' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toHaveProperty('detail');
    const post = await stack.api.inject({ method: 'POST', url: '/admin/users', payload: {} });
    expect(post.statusCode).toBeGreaterThanOrEqual(400);
    expect(post.headers['content-type']).not.toMatch(/html/);
  });
});

describe.skipIf(!servicesUp())('admin console beside bull-board (MariaDB + Redis)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack('consoleboard');
  });
  afterAll(() => stack?.close());

  it('bull-board keeps /admin/queues (admins only) while the console has the rest of /admin', async () => {
    const admin = await registerAdmin(stack.api);
    const board = await stack.api.inject({ method: 'GET', url: '/admin/queues', headers: admin.auth });
    expect(board.statusCode).toBe(200);
    expect(board.body).toContain('Echo queues');
    expect(board.headers['content-security-policy']).not.toBe(ADMIN_CSP); // the console's policy stays in its own plugin
    const refused = await stack.api.inject({ method: 'GET', url: '/admin/queues' });
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toHaveProperty('detail');
    const app = await stack.api.inject({ method: 'GET', url: '/admin/analyses' });
    expect(app.statusCode).toBe(200);
    expect(app.body).toContain('<div id="app"></div>');
  });
});
