import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type TestStack } from './support/app.js';

/** The OpenAPI document at /docs/json is what client authors read: every route, with schemas. */
describe('OpenAPI document', () => {
  let stack: TestStack;
  let doc: {
    paths: Record<
      string,
      Record<
        string,
        { requestBody?: unknown; responses: Record<string, { content?: unknown }>; parameters?: { name: string }[] }
      >
    >;
  };
  beforeAll(async () => {
    stack = await startEmbedded('openapi');
    const res = await stack.api.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });
  afterAll(() => stack?.close());

  const routes: Array<[string, string, { body?: boolean; paginated?: boolean }]> = [
    ['post', '/api/auth/register', { body: true }],
    ['post', '/api/auth/login', { body: true }],
    ['post', '/api/auth/refresh', { body: true }],
    ['post', '/api/auth/logout', { body: true }],
    ['post', '/api/auth/session', { body: true }],
    ['post', '/api/auth/session/refresh', { body: true }],
    ['post', '/api/auth/session/logout', { body: true }],
    ['post', '/api/auth/logout-all', {}],
    ['post', '/api/auth/stream-ticket', {}],
    ['get', '/api/users/me', {}],
    ['patch', '/api/users/me', { body: true }],
    ['get', '/api/admin/users', { paginated: true }],
    ['get', '/api/admin/users/{id}', {}],
    ['patch', '/api/admin/users/{id}', { body: true }],
    ['post', '/api/admin/users/{id}/logout-all', {}],
    ['delete', '/api/users/me', { body: true }],
    ['post', '/api/users/me/restore', { body: true }],
    ['delete', '/api/admin/users/{id}', {}],
    ['post', '/api/admin/users/{id}/restore', {}],
    ['post', '/api/uploads', { body: true }],
    ['get', '/api/uploads', { paginated: true }],
    ['get', '/api/uploads/{id}', {}],
    ['get', '/api/uploads/{id}/file', {}],
    ['get', '/api/uploads/{id}/thumbnail', {}],
    ['get', '/api/uploads/{id}/preview', {}],
    ['get', '/api/uploads/{id}/similar', { paginated: true }],
    ['get', '/api/uploads/duplicates', { paginated: true }],
    ['get', '/api/admin/uploads/{id}/similar', { paginated: true }],
    ['get', '/api/admin/audit-log', { paginated: true }],
    ['delete', '/api/uploads/{id}', {}],
    ['options', '/api/uploads/tus', {}],
    ['post', '/api/uploads/tus', {}],
    ['head', '/api/uploads/tus/{id}', {}],
    ['patch', '/api/uploads/tus/{id}', { body: true }],
    ['delete', '/api/uploads/tus/{id}', {}],
    ['get', '/api/admin/users/{id}/uploads', { paginated: true }],
    ['get', '/api/admin/uploads', { paginated: true }],
    ['get', '/api/admin/uploads/{id}', {}],
    ['delete', '/api/admin/uploads/{id}', {}],
    ['get', '/api/media/uploads/{id}/file', {}],
    ['get', '/api/media/uploads/{id}/thumbnail', {}],
    ['get', '/api/media/uploads/{id}/preview', {}],
    ['post', '/api/users/me/export', {}],
    ['get', '/api/users/me/export', {}],
    ['get', '/api/users/me/export/{id}', {}],
    ['get', '/api/media/exports/{id}', {}],
    ['get', '/api/visual-analysis', { paginated: true }],
    ['post', '/api/visual-analysis', { body: true }],
    ['get', '/api/visual-analysis/{id}', {}],
    ['get', '/api/visual-analysis/events', {}],
    ['get', '/api/admin/queues', {}],
    ['get', '/api/admin/stats', {}],
    ['get', '/api/admin/visual-analysis', { paginated: true }],
    ['post', '/api/admin/visual-analysis/{id}/retry', {}],
    ['get', '/health', {}],
    ['get', '/health/ready', {}],
  ];

  it.each(routes)('%s %s is documented', (method, path, opts) => {
    const op = doc.paths[path]?.[method];
    expect(op, `${method} ${path}`).toBeDefined();
    expect(Object.keys(op.responses).length).toBeGreaterThan(0);
    if (opts.body) expect(op.requestBody, 'request body schema').toBeDefined();
    if (opts.paginated) {
      expect(op.parameters?.map((p) => p.name)).toEqual(expect.arrayContaining(['page', 'page_size', 'cursor']));
      const ok = op.responses['200'] as {
        content: { 'application/json': { schema: { properties: Record<string, unknown> } } };
      };
      expect(Object.keys(ok.content['application/json'].schema.properties).sort()).toEqual([
        'count',
        'next',
        'previous',
        'results',
      ]);
    }
  });

  it('documents no route that the list above does not know', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    const known = new Set(routes.map(([m, p]) => `${m} ${p}`));
    expect(documented.filter((r) => !known.has(r) && !r.includes('/metrics'))).toEqual([]);
  });
});
