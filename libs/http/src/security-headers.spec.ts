import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { securityHeaders } from './security-headers.js';

describe('securityHeaders', () => {
  it("puts helmet's headers on every response, hijacked ones included", async () => {
    const app = Fastify();
    securityHeaders(app, { contentSecurityPolicy: false });
    app.get('/json', async () => ({ ok: true }));
    app.get('/raw', (_request, reply) => {
      reply.hijack();
      reply.raw.end('raw');
    });
    for (const url of ['/json', '/json', '/raw']) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(200);
      expect(res.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'strict-transport-security': 'max-age=31536000; includeSubDomains',
        'cross-origin-opener-policy': 'same-origin',
        'referrer-policy': 'no-referrer',
      });
      expect(res.headers['content-security-policy']).toBeUndefined();
    }
    await app.close();
  });
});
