import { describe, expect, it } from 'vitest';
import { csrfRefusal } from './session-csrf.guard.js';

const ok = { 'content-type': 'application/json', 'x-echo-csrf': '1' };

describe('csrfRefusal', () => {
  it('accepts JSON with the header, from a non-browser or a same-origin page', () => {
    expect(csrfRefusal(ok)).toBeUndefined();
    expect(csrfRefusal({ ...ok, 'content-type': 'Application/JSON; charset=utf-8' })).toBeUndefined();
    expect(csrfRefusal({ ...ok, 'sec-fetch-site': 'same-origin' })).toBeUndefined();
  });

  it.each([
    ['no content type', { 'x-echo-csrf': '1' }, /must be JSON/],
    ['a form', { ...ok, 'content-type': 'application/x-www-form-urlencoded' }, /must be JSON/],
    ['multipart', { ...ok, 'content-type': 'multipart/form-data; boundary=x' }, /must be JSON/],
    ['text/plain', { ...ok, 'content-type': 'text/plain' }, /must be JSON/],
    ['JSON-like but not JSON', { ...ok, 'content-type': 'application/jsonp' }, /must be JSON/],
    ['no header', { 'content-type': 'application/json' }, /X-Echo-CSRF: 1/],
    ['another value', { ...ok, 'x-echo-csrf': 'true' }, /X-Echo-CSRF: 1/],
    ['a cross-site page', { ...ok, 'sec-fetch-site': 'cross-site' }, /another origin/],
    ['a sibling subdomain', { ...ok, 'sec-fetch-site': 'same-site' }, /another origin/],
    ['a typed URL', { ...ok, 'sec-fetch-site': 'none' }, /another origin/],
  ])('refuses %s', (_, headers, message) => {
    expect(csrfRefusal(headers)).toMatch(/^CSRF Failed: /);
    expect(csrfRefusal(headers)).toMatch(message);
  });
});
