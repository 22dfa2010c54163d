import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AppConfig } from '@echo/config';
import { MediaUrls } from './media-urls.js';

const config = { media: { urlSecret: 'k'.repeat(32), urlTtlSeconds: 3600 }, auth: { jwtSecret: 'j'.repeat(40) } };
const urls = () => new MediaUrls(config as unknown as AppConfig);
const sigOf = (url: string) => new URL(url, 'http://x').searchParams.get('sig')!;
const expected = (id: string, variant: string, exp: number) =>
  createHmac('sha256', 'k'.repeat(32)).update(`${id}\n${variant}\n${exp}`).digest('base64url');

describe('MediaUrls', () => {
  it('signs (id, variant, expiry): kept signatures stay right across windows and past the bound', () => {
    const media = urls();
    const exp = media.expiry(Date.UTC(2026, 10, 27, 4));
    const later = media.expiry(Date.UTC(2026, 10, 27, 6));
    expect(later).toBeGreaterThan(exp);
    for (const [id, e] of [
      ['a', exp],
      ['a', exp],
      ['a', later],
      ['a', exp],
    ] as const) {
      for (const variant of ['file', 'thumbnail', 'preview'] as const) {
        const sig = sigOf(media.url(id, variant, e));
        expect(sig).toBe(expected(id, variant, e));
        expect(media.verify(id, variant, String(e), sig, Date.UTC(2026, 10, 27, 4))).toBe(true);
      }
    }
    // More uploads than the window keeps: the oldest are signed again, never mixed up.
    for (let i = 0; i < 10_050; i++) media.url(`u${i}`, 'file', exp);
    for (const id of ['u0', 'u5000', 'u10049'])
      expect(sigOf(media.url(id, 'file', exp))).toBe(expected(id, 'file', exp));
    expect(sigOf(media.url('u1', 'thumbnail', exp))).not.toBe(sigOf(media.url('u1', 'file', exp)));
    expect(sigOf(media.url('u1', 'preview', exp))).not.toBe(sigOf(media.url('u1', 'file', exp)));
  });
});
