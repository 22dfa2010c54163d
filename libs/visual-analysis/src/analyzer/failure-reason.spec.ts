import { describe, expect, it } from 'vitest';
import { formatFromBytes } from './failure-reason.js';

/** An ISO BMFF `ftyp` box: size, 'ftyp', major brand, minor version, compatible brands. */
function ftyp(major: string, ...compatible: string[]): Buffer {
  const size = 16 + 4 * compatible.length;
  const box = Buffer.alloc(size);
  box.writeUInt32BE(size, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(major, 8, 'latin1');
  compatible.forEach((b, i) => box.write(b, 16 + 4 * i, 'latin1'));
  return box;
}

describe('formatFromBytes (HEIF family)', () => {
  it('names AVIF by any of its brands, HEIC by its HEVC brands, the rest HEIF', () => {
    expect(formatFromBytes(ftyp('avif', 'mif1'))).toBe('avif');
    expect(formatFromBytes(ftyp('mif1', 'avif', 'miaf'))).toBe('avif');
    expect(formatFromBytes(ftyp('heic', 'mif1'))).toBe('heic');
    expect(formatFromBytes(ftyp('mif1', 'heic'))).toBe('heic');
    expect(formatFromBytes(ftyp('mif1', 'miaf'))).toBe('heif');
  });
});
