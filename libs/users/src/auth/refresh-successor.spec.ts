import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { successorKey, successorOf } from './refresh-successor.js';

const token = () => `${randomUUID()}.${randomBytes(32).toString('base64url')}`;

describe('successorOf', () => {
  const key = successorKey('a-test-secret-of-at-least-32-characters!');

  it('gives the same successor for the same token, and a different one for another token', () => {
    const raw = token();
    expect(successorOf(key, raw)).toEqual(successorOf(key, raw));
    expect(successorOf(key, token()).id).not.toBe(successorOf(key, raw).id);
    expect(successorOf(key, token()).secret).not.toBe(successorOf(key, raw).secret);
  });

  it('depends on the server key: another secret derives another successor', () => {
    const raw = token();
    const other = successorKey('another-secret-of-at-least-32-characters');
    expect(successorOf(other, raw).id).not.toBe(successorOf(key, raw).id);
    expect(successorOf(other, raw).secret).not.toBe(successorOf(key, raw).secret);
  });

  it('has the shape of a random token: a version-8 UUID id and a 43-character base64url secret', () => {
    const { id, secret } = successorOf(key, token());
    // The shape TokenService.find accepts, and a valid RFC 9562 UUID (version 8, variant 10).
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
