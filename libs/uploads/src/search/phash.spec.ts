import { describe, expect, it } from 'vitest';
import { hammingDistance, isPhash, phashWords, popcount32 } from './phash.js';

describe('pHash helpers', () => {
  it('popcount32 counts the set bits of any 32-bit value', () => {
    const naive = (x: number) => [...(x >>> 0).toString(2)].filter((b) => b === '1').length;
    for (const x of [0, 1, 2, 3, 0xff, 0x80000000, 0xffffffff, 0x55555555, 0xdeadbeef, 0x7fffffff, -1])
      expect(popcount32(x), String(x)).toBe(naive(x));
    let seed = 7;
    for (let i = 0; i < 1000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      expect(popcount32(seed)).toBe(naive(seed));
    }
  });

  it('phashWords splits a hash into its unsigned halves', () => {
    expect(phashWords('ffffffff00000001')).toEqual([0xffffffff, 1]);
    expect(phashWords('8000000000000000')).toEqual([0x80000000, 0]);
  });

  it('hammingDistance counts differing bits in either case, and refuses malformed hashes', () => {
    expect(hammingDistance('0000000000000000', '0000000000000000')).toBe(0);
    expect(hammingDistance('0000000000000000', '000000000000000f')).toBe(4);
    expect(hammingDistance('ffffffffffffffff', '0000000000000000')).toBe(64);
    expect(hammingDistance('ABCDEF0123456789', 'abcdef0123456789')).toBe(0);
    expect(hammingDistance('8000000000000001', '0000000000000000')).toBe(2);
    expect(() => hammingDistance('abc', '0000000000000000')).toThrow(TypeError);
    expect(() => hammingDistance('zzzzzzzzzzzzzzzz', '0000000000000000')).toThrow(TypeError);
  });

  it('isPhash accepts exactly 16 hex digits', () => {
    expect(isPhash('0123456789abcdef')).toBe(true);
    expect(isPhash('0123456789ABCDEF')).toBe(true);
    expect(isPhash('0123456789abcde')).toBe(false);
    expect(isPhash('0123456789abcdefa')).toBe(false);
    expect(isPhash(null)).toBe(false);
  });
});
