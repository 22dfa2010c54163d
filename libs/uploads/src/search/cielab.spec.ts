import { describe, expect, it } from 'vitest';
import { deltaE, labOfHex } from './cielab.js';

describe('labOfHex / deltaE', () => {
  it('converts sRGB to CIELAB (D65) with the reference values', () => {
    expect(labOfHex('#ffffff')![0]).toBeCloseTo(100, 1);
    expect(labOfHex('#000000')).toEqual([0, 0, 0]);
    const red = labOfHex('#FF0000')!;
    // The published L*a*b* of sRGB red: 53.24, 80.09, 67.20.
    expect(red[0]).toBeCloseTo(53.24, 1);
    expect(red[1]).toBeCloseTo(80.09, 1);
    expect(red[2]).toBeCloseTo(67.2, 1);
  });

  it.each(['red', '#fff', '#12345g', 'ff0000', ' #ff0000', '#ff00000'])('refuses %j', (hex) => {
    expect(labOfHex(hex)).toBeNull();
  });

  it('is perceptual where RGB distance is not: equal RGB steps, unequal ΔE', () => {
    // The same +40 step in the green channel is a small change in a bright green and a large one in a dark grey.
    const bright = deltaE(labOfHex('#00c800')!, labOfHex('#00f000')!);
    const dark = deltaE(labOfHex('#202020')!, labOfHex('#204820')!);
    expect(dark).toBeGreaterThan(1.5 * bright);
  });
});
