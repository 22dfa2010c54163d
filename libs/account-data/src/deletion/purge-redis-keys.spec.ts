import { describe, expect, it } from 'vitest';
import { cacheKeyOfUser } from './purge-redis-keys.js';

describe('cacheKeyOfUser', () => {
  it("takes the user's record, list versions, pages and totals", () => {
    for (const key of [
      'user:12',
      'ver:uploads:12',
      'ver:analyses:12',
      'uploads:12:vabc1:p1s20',
      'uploads:12:vabc1:admin:p2s50&content_type=image/png',
      'analyses:12:v0:c&status=failed',
      'count:uploads:12:vabc1:format=jpeg',
      'exports:12:v3:list',
    ])
      expect(cacheKeyOfUser(key, 12), key).toBe(true);
  });

  it("never another user's key, even one whose filter text holds the id", () => {
    for (const key of [
      'user:123',
      'user:1',
      'ver:uploads:121',
      'uploads:5:vabc:p1s20&q=:12:',
      'count:uploads:5:v1:q=12',
      'admin:stats',
      'analysis:0b7c2a7e-5d1f-4c3b-9a55-2f0e4c1d9e77',
    ])
      expect(cacheKeyOfUser(key, 12), key).toBe(false);
  });
});
