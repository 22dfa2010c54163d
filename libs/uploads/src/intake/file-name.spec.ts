import { describe, expect, it } from 'vitest';
import { sanitizeFileName } from './file-name.js';

describe('sanitizeFileName', () => {
  it('keeps only the last path segment, for either separator', () => {
    expect(sanitizeFileName('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFileName('C:\\Users\\bob\\cat.jpg')).toBe('cat.jpg');
    expect(sanitizeFileName('dir/')).toBe('');
  });

  it('drops control characters and leading dots, and trims', () => {
    expect(sanitizeFileName('a\u0000b\u001fc\u007f.png')).toBe('abc.png');
    expect(sanitizeFileName('...hidden.png')).toBe('hidden.png');
    expect(sanitizeFileName('  cat.png  ')).toBe('cat.png');
  });

  it('normalises to NFC and bounds the length to 255', () => {
    expect(sanitizeFileName('cafe\u0301.jpg')).toBe('caf\u00e9.jpg');
    expect(sanitizeFileName('x'.repeat(1000))).toHaveLength(255);
  });

  it('is empty for a missing name', () => {
    expect(sanitizeFileName(undefined)).toBe('');
    expect(sanitizeFileName('')).toBe('');
  });
});
