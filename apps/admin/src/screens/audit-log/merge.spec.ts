import { describe, expect, it } from 'vitest';
import { mergeSources, type Source } from './merge';

const entry = (id: number, minute: number) => ({
  id,
  created_at: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(),
});
const ids = (list: Array<{ id: number }>) => list.map((e) => e.id);

describe('mergeSources (an upload History: its own entries and its analyses’)', () => {
  it('interleaves complete sources newest first, the id breaking ties', () => {
    const a: Source<ReturnType<typeof entry>> = { entries: [entry(5, 50), entry(3, 30)], next: null };
    const b: Source<ReturnType<typeof entry>> = { entries: [entry(6, 30), entry(1, 10)], next: null };
    const { shown, waiting } = mergeSources([a, b]);
    expect(ids(shown)).toEqual([5, 6, 3, 1]);
    expect(waiting).toEqual([]);
  });

  it('stops at the oldest loaded entry of a source with more pages, and names it', () => {
    const open = { entries: [entry(9, 90), entry(7, 70)], next: 'c1' };
    const done = { entries: [entry(8, 80), entry(4, 40), entry(2, 20)], next: null };
    const { shown, waiting } = mergeSources([open, done]);
    // 4 and 2 wait: an entry of the open source between 70 and 40 would come before them.
    expect(ids(shown)).toEqual([9, 8, 7]);
    expect(waiting).toEqual([0]);
    // Once the open source is read to its end, everything shows in order.
    const after = mergeSources([{ entries: [...open.entries, entry(6, 50)], next: null }, done]);
    expect(ids(after.shown)).toEqual([9, 8, 7, 6, 4, 2]);
  });

  it('the newest cut wins when several sources are open', () => {
    const a = { entries: [entry(10, 100), entry(6, 60)], next: 'a' };
    const b = { entries: [entry(9, 90), entry(8, 80)], next: 'b' };
    const { shown, waiting } = mergeSources([a, b]);
    expect(ids(shown)).toEqual([10, 9, 8]);
    expect(waiting).toEqual([1]);
  });

  it('an open source with nothing loaded shows nothing yet; one entry in two sources counts once', () => {
    expect(
      mergeSources([
        { entries: [], next: 'x' },
        { entries: [entry(1, 1)], next: null },
      ]).shown,
    ).toEqual([]);
    const twice = entry(3, 3);
    expect(
      ids(
        mergeSources([
          { entries: [twice], next: null },
          { entries: [twice], next: null },
        ]).shown,
      ),
    ).toEqual([3]);
  });
});
