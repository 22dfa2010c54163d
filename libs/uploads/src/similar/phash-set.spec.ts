import { describe, expect, it } from 'vitest';
import { PhashSet } from './phash-set.js';

describe('PhashSet.within', () => {
  const set = new PhashSet([
    { id: 'self', phash: '0000000000000000' },
    { id: 'b', phash: '0000000000000003' }, // 2 bits
    { id: 'a', phash: '0000000000000030' }, // 2 bits
    { id: 'c', phash: '0000000000000001' }, // 1 bit
    { id: 'far', phash: 'ffffffffffffffff' }, // 64 bits
    { id: 'broken', phash: 'xyz' },
    { id: 'none', phash: null },
  ]);

  it('skips malformed and missing hashes', () => {
    expect(set.size).toBe(5);
  });

  it('lists hashes within the distance, nearest first, ties by id, without the excluded one', () => {
    expect(set.within('0000000000000000', 2, 'self')).toEqual([
      { id: 'c', distance: 1 },
      { id: 'a', distance: 2 },
      { id: 'b', distance: 2 },
    ]);
    expect(set.within('0000000000000000', 0)).toEqual([{ id: 'self', distance: 0 }]);
    expect(set.within('0000000000000000', 64, 'self').map((f) => f.id)).toEqual(['c', 'a', 'b', 'far']);
  });

  it('stops at the limit and answers nothing for a malformed query', () => {
    expect(set.within('0000000000000000', 10, 'self', 2).map((f) => f.id)).toEqual(['c', 'a']);
    expect(set.within('nope', 64)).toEqual([]);
  });
});
