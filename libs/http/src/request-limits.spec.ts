import { describe, expect, it } from 'vitest';
import { hostAllowed, jsonDepthExceeds } from './request-limits.js';

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
});
