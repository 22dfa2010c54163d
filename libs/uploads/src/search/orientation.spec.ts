import { describe, expect, it } from 'vitest';
import { orientationOf } from './orientation.js';

describe('orientationOf (displayed size)', () => {
  it.each([
    [4000, 3000, 'landscape'],
    [3000, 4000, 'portrait'],
    [1000, 1000, 'square'],
    [1010, 1000, 'square'],
    [1000, 1010, 'square'],
    [1011, 1000, 'landscape'],
    [1, 1, 'square'],
    [2, 1, 'landscape'],
  ])('%i×%i is %s', (width, height, expected) => {
    expect(orientationOf(width, height)).toBe(expected);
  });
});
