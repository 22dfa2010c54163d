import { describe, expect, it } from 'vitest';
import { ignoredPath, requestAttributes } from './request-attributes.js';

const request = (url: string, params: object = {}, user?: { id: number }) => ({
  routeOptions: { url },
  params,
  user,
  raw: {},
});

describe('requestAttributes', () => {
  it('the user, and the route id as upload or analysis id', () => {
    expect(requestAttributes(request('/api/uploads/:id', { id: 'u1' }, { id: 7 }))).toEqual({
      'enduser.id': '7',
      'echo.upload.id': 'u1',
    });
    expect(requestAttributes(request('/api/media/uploads/:id/file', { id: 'u2' }))).toEqual({ 'echo.upload.id': 'u2' });
    expect(requestAttributes(request('/api/admin/uploads/:id/similar', { id: 'u3' }))).toEqual({
      'echo.upload.id': 'u3',
    });
    expect(requestAttributes(request('/api/visual-analysis/:id', { id: 'a1' }))).toEqual({ 'echo.analysis.id': 'a1' });
    expect(requestAttributes(request('/api/admin/visual-analysis/:id/retry', { id: 'a2' }))).toEqual({
      'echo.analysis.id': 'a2',
    });
  });

  it("other routes' ids are not taken for uploads (a user id, a tus upload's id)", () => {
    expect(requestAttributes(request('/api/admin/users/:id', { id: '5' }))).toEqual({});
    expect(requestAttributes(request('/api/uploads/tus/:id', { id: 'dGVzdA' }))).toEqual({});
  });
});

describe('ignoredPath', () => {
  it('scrapes and probes, with or without a query or trailing slash', () => {
    for (const url of ['/metrics', '/metrics?token=x', '/health', '/health/ready/'])
      expect(ignoredPath(url)).toBe(true);
    for (const url of ['/api/health', '/', '/api/uploads']) expect(ignoredPath(url)).toBe(false);
  });
});
