import { describe, expect, it } from 'vitest';
import { hostAllowed, jsonDepthExceeds, parseHost } from './request-limits.js';

describe('jsonDepthExceeds', () => {
  it('counts objects and arrays, and stops at the limit', () => {
    expect(jsonDepthExceeds('{"a":[1,{"b":2}]}', 3)).toBe(false);
    expect(jsonDepthExceeds('{"a":[1,{"b":2}]}', 2)).toBe(true);
    expect(jsonDepthExceeds('[]', 1)).toBe(false);
    expect(jsonDepthExceeds('[[]]', 1)).toBe(true);
    expect(jsonDepthExceeds('"scalar"', 0)).toBe(false);
  });

  it('measures depth, not the number of containers', () => {
    expect(jsonDepthExceeds('[' + '[],'.repeat(1000) + '[]]', 2)).toBe(false);
  });

  it('ignores brackets inside strings, including after escaped quotes and backslashes', () => {
    expect(jsonDepthExceeds('{"a":"[[[[{{{{"}', 1)).toBe(false);
    expect(jsonDepthExceeds('{"a":"\\"[[[["}', 1)).toBe(false);
    expect(jsonDepthExceeds('{"a":"\\\\","b":[[1]]}', 2)).toBe(true);
  });

  it('handles a 100k-deep body without recursion', () => {
    expect(jsonDepthExceeds('['.repeat(100_000) + ']'.repeat(100_000), 32)).toBe(true);
  });
});

describe('hostAllowed', () => {
  it('matches exactly, ignoring case and the port', () => {
    expect(hostAllowed('API.example.com:8443', ['api.example.com'])).toBe(true);
    expect(hostAllowed('api.example.com', ['example.com'])).toBe(false);
  });

  it('a leading dot allows the domain and its subdomains, not look-alikes', () => {
    expect(hostAllowed('example.com', ['.example.com'])).toBe(true);
    expect(hostAllowed('a.b.example.com', ['.example.com'])).toBe(true);
    expect(hostAllowed('badexample.com', ['.example.com'])).toBe(false);
  });

  it('reads bracketed IPv6 hosts with and without a port', () => {
    expect(hostAllowed('[::1]:3000', ['[::1]'])).toBe(true);
    expect(hostAllowed('[::1]', ['[::1]'])).toBe(true);
    expect(hostAllowed('[::1', ['[::1]'])).toBe(false);
  });

  it('* allows any non-empty host; empty or over-long names never pass', () => {
    expect(hostAllowed('anything.test', ['*'])).toBe(true);
    expect(hostAllowed('', ['*'])).toBe(false);
    expect(hostAllowed('a'.repeat(254), ['*'])).toBe(false);
  });

  it('refuses what is not name[:digits]: userinfo, paths, non-digit ports (issue 26, 3.3)', () => {
    const local = ['localhost', '127.0.0.1', '[::1]'];
    for (const host of [
      'localhost:x@evil.example',
      'localhost:\\@evil.example',
      '127.0.0.1:80/evil',
      'localhost:80@evil.example',
      'localhost@evil.example',
      'localhost:',
      'localhost:80:80',
      'localhost:99999',
      'localhost 80',
      '[::1]:x@evil.example',
      '[::1]x',
      '[zz::1]',
      'local_host',
    ])
      expect(hostAllowed(host, [...local, '*']), host).toBe(false);
  });
});

describe('parseHost', () => {
  it('splits name and port like Django, lower-cased, trailing dot dropped', () => {
    expect(parseHost('API.Example.com:8443')).toEqual({ name: 'api.example.com', port: '8443' });
    expect(parseHost('example.com.')).toEqual({ name: 'example.com', port: '' });
    expect(parseHost('[2001:DB8::1]:80')).toEqual({ name: '[2001:db8::1]', port: '80' });
    expect(parseHost('127.0.0.1')).toEqual({ name: '127.0.0.1', port: '' });
    expect(parseHost('localhost:x@evil.example')).toBeUndefined();
    expect(parseHost('')).toBeUndefined();
  });
});
