import { describe, expect, it } from 'vitest';
import { matchesEtag, parseByteRange } from './byte-range.js';

describe('parseByteRange', () => {
  it('reads a closed range, clamping its end to the file', () => {
    expect(parseByteRange('bytes=10-109', 1000)).toEqual({ start: 10, end: 109 });
    expect(parseByteRange('bytes=990-5000', 1000)).toEqual({ start: 990, end: 999 });
  });

  it('reads open and suffix ranges; a suffix longer than the file is the whole file', () => {
    expect(parseByteRange('bytes=900-', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseByteRange('bytes=-16', 1000)).toEqual({ start: 984, end: 999 });
    expect(parseByteRange('bytes=-5000', 1000)).toEqual({ start: 0, end: 999 });
  });

  it('is 416 for a range past the end, a zero suffix, or any range of an empty file', () => {
    expect(parseByteRange('bytes=1005-', 1000)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=-0', 1000)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=0-', 0)).toBe('unsatisfiable');
  });

  it('ignores what it should not answer partially: no header, other units, malformed or reversed ranges, several ranges', () => {
    for (const header of [
      undefined,
      '',
      'items=0-5',
      'bytes=abc',
      'bytes=',
      'bytes=-',
      'bytes=5-2',
      'bytes=0-1,5-6',
      'bytes=0x10-20',
    ]) {
      expect(parseByteRange(header, 1000), String(header)).toBeUndefined();
    }
  });
});

describe('matchesEtag', () => {
  const etag = '"abc"';
  it('matches the same tag, a weak form of it, one of a list, or *', () => {
    expect(matchesEtag('"abc"', etag)).toBe(true);
    expect(matchesEtag('W/"abc"', etag)).toBe(true);
    expect(matchesEtag('"x", "abc"', etag)).toBe(true);
    expect(matchesEtag('*', etag)).toBe(true);
  });

  it('does not match another tag, an unquoted one, or no header', () => {
    expect(matchesEtag('"abd"', etag)).toBe(false);
    expect(matchesEtag('abc', etag)).toBe(false);
    expect(matchesEtag(undefined, etag)).toBe(false);
  });
});
