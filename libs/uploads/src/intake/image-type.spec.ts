import { describe, expect, it } from 'vitest';
import { sniffImageType, SNIFF_BYTES } from './image-type.js';

/** An ISO-BMFF `ftyp` box: size, 'ftyp', major brand, minor version, compatible brands. */
function ftyp(major: string, ...compatible: string[]): Buffer {
  const size = 16 + 4 * compatible.length;
  const box = Buffer.alloc(size);
  box.writeUInt32BE(size, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(major, 8, 'latin1');
  compatible.forEach((b, i) => box.write(b, 16 + 4 * i, 'latin1'));
  return box;
}

describe('sniffImageType', () => {
  it.each([
    ['image/jpeg', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10])],
    ['image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d])],
    ['image/gif', Buffer.from('GIF89a\x01\x00', 'latin1')],
    ['image/gif', Buffer.from('GIF87a\x01\x00', 'latin1')],
    ['image/webp', Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1')],
    ['image/tiff', Buffer.from('II*\0\x08\0\0\0', 'latin1')],
    ['image/tiff', Buffer.from('MM\0*\0\0\0\x08', 'latin1')],
    ['image/avif', ftyp('avif', 'mif1', 'miaf')],
    ['image/heic', ftyp('heic', 'mif1', 'heic')],
    ['image/heif', ftyp('mif1', 'mif1')],
    // A generic major brand: the compatible brands decide.
    ['image/avif', ftyp('mif1', 'miaf', 'avif')],
  ])('recognises %s by its magic bytes', (type, head) => {
    expect(sniffImageType(head)).toBe(type);
  });

  it('refuses what is not an accepted image, whatever it claims', () => {
    expect(sniffImageType(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeUndefined();
    expect(sniffImageType(Buffer.from('%PDF-1.7'))).toBeUndefined();
    expect(sniffImageType(Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'))).toBeUndefined();
    expect(sniffImageType(ftyp('isom', 'mp41'))).toBeUndefined(); // an MP4
    expect(sniffImageType(Buffer.alloc(0))).toBeUndefined();
  });

  it('needs whole signatures: a truncated PNG or JPEG header is not recognised', () => {
    expect(sniffImageType(Buffer.from([0x89, 0x50, 0x4e, 0x47]))).toBeUndefined();
    expect(sniffImageType(Buffer.from([0xff, 0xd8]))).toBeUndefined();
  });

  it('reads compatible brands only within the box and the sniffed bytes', () => {
    // 'avif' sits past the box's declared size: not a brand of this file.
    const box = ftyp('mif1', 'miaf');
    const beyond = Buffer.concat([box, Buffer.from('avif', 'latin1')]);
    expect(sniffImageType(beyond)).toBe('image/heif');
    expect(SNIFF_BYTES).toBeGreaterThanOrEqual(ftyp('mif1', 'miaf', 'avif', 'heic').length);
  });
});
