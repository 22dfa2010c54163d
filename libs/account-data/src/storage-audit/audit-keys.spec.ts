import { describe, expect, it } from 'vitest';
import { classifyKey } from './audit-keys.js';

const id = '0b7c2a7e-5d1f-4c3b-9a55-2f0e4c1d9e77';
const partial = '7a1f0c2e-1111-4c3b-9a55-2f0e4c1d9e77.partial';

describe('classifyKey', () => {
  it('reads the owner and upload of originals, thumbnails, previews and their partial writes', () => {
    expect(classifyKey(`12/${id}`)).toEqual({ kind: 'original', userId: 12, uploadId: id });
    expect(classifyKey(`12/${id}.${partial}`)).toEqual({ kind: 'original', userId: 12, uploadId: id });
    expect(classifyKey(`thumbs/3/${id}.webp`)).toEqual({ kind: 'derived', userId: 3, uploadId: id });
    expect(classifyKey(`previews/3/${id}.webp.${partial}`)).toEqual({ kind: 'derived', userId: 3, uploadId: id });
    expect(classifyKey('exports/7/abc.zip')).toEqual({ kind: 'export', userId: 7 });
  });

  it('leaves temp objects to the sweeper and calls anything else unknown', () => {
    expect(classifyKey(`tmp/${id}`)).toEqual({ kind: 'temp' });
    for (const key of ['12/not-a-uuid', 'thumbs/x/y.webp', `thumbs/3/${id}.png`, 'exports/7/a/b', 'readme.txt'])
      expect(classifyKey(key)).toEqual({ kind: 'unknown' });
  });
});
