import { describe, expect, it } from 'vitest';
import { safeFileName, truncateUtf8, UniqueNames } from './archive-names.js';

describe('safeFileName', () => {
  const jpeg = (name: string) => safeFileName(name, 'image/jpeg', 'fallback-id');

  it('keeps an ordinary name and a matching extension in any case', () => {
    expect(jpeg('IMG_0001.JPG')).toBe('IMG_0001.JPG');
    expect(jpeg('Été à Paris.jpeg')).toBe('Été à Paris.jpeg');
    expect(safeFileName('scan.TIF', 'image/tiff', 'x')).toBe('scan.TIF');
  });

  it('keeps only the last path segment: no traversal, no absolute path, no drive', () => {
    expect(jpeg('../../etc/passwd.jpg')).toBe('passwd.jpg');
    expect(jpeg('/abs/photo.jpg')).toBe('photo.jpg');
    expect(jpeg('C:\\Users\\me\\photo.jpg')).toBe('photo.jpg');
    expect(jpeg('..')).toBe('fallback-id.jpg');
    expect(jpeg('photos/..')).toBe('fallback-id.jpg');
  });

  it('drops control and bidi-override characters, replaces what Windows refuses', () => {
    expect(jpeg('a\u0000b\u001fc\u007f\u0085.jpg')).toBe('abc.jpg');
    // "photo\u202Egpj.exe" displays as "photoexe.jpg" but is an .exe: the override goes, .jpg is added.
    expect(jpeg('photo\u202egpj.exe')).toBe('photogpj.exe.jpg');
    expect(jpeg('a<b>c:d"e|f?g*h.jpg')).toBe('a_b_c_d_e_f_g_h.jpg');
  });

  it('adds the content type’s extension when the name has none or another one', () => {
    expect(jpeg('photo')).toBe('photo.jpg');
    expect(jpeg('photo.exe')).toBe('photo.exe.jpg');
    expect(safeFileName('picture.jpg', 'image/png', 'x')).toBe('picture.jpg.png');
    expect(safeFileName('IMG_1.HEIC', 'image/heif', 'x')).toBe('IMG_1.HEIC');
  });

  it('never yields a hidden file, trailing dots/spaces, or a Windows device name', () => {
    expect(jpeg('.hidden.jpg')).toBe('hidden.jpg');
    expect(jpeg('name. . .')).toBe('name.jpg');
    expect(jpeg('CON.jpg')).toBe('_CON.jpg');
    expect(jpeg('nul.tar.jpg')).toBe('_nul.tar.jpg');
    expect(jpeg('com1')).toBe('_com1.jpg');
    expect(jpeg('console.jpg')).toBe('console.jpg');
  });

  it('falls back to the upload id for an empty name', () => {
    expect(jpeg('')).toBe('fallback-id.jpg');
    expect(jpeg('   ')).toBe('fallback-id.jpg');
    expect(jpeg('\u0001\u0002')).toBe('fallback-id.jpg');
  });

  it('bounds the name to 240 bytes of UTF-8 without cutting a character', () => {
    const long = jpeg(`${'é'.repeat(300)}.jpg`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(240);
    expect(long.endsWith('é.jpg')).toBe(true);
    expect(truncateUtf8('aé€😀', 6)).toBe('aé€');
    expect(truncateUtf8('aé€😀', 5)).toBe('aé');
  });
});

describe('UniqueNames', () => {
  it('numbers repeats from (2), case-insensitively, and never reuses a name taken naturally', () => {
    const names = new UniqueNames();
    expect(names.take('photo.jpg')).toBe('photo.jpg');
    expect(names.take('photo.jpg')).toBe('photo (2).jpg');
    expect(names.take('Photo.JPG')).toBe('Photo (3).JPG');
    expect(names.take('photo (2).jpg')).toBe('photo (2) (2).jpg');
    expect(names.take('noext')).toBe('noext');
    expect(names.take('noext')).toBe('noext (2)');
  });
});
