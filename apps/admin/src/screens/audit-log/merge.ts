/** The fields of an audit entry that order the log: newest first, the id breaking ties (as the API orders it). */
export interface Ordered {
  id: number;
  created_at: string;
}

/** One filter's entries loaded so far (cursor pages, newest first) and whether older ones remain. */
export interface Source<T extends Ordered> {
  entries: T[];
  /** The cursor of the next (older) page; null when this filter has no more entries. */
  next: string | null;
}

/** True when `a` comes before `b` in the log's order (newer, or as new with a higher id). */
export function newer(a: Ordered, b: Ordered): boolean {
  const at = Date.parse(a.created_at);
  const bt = Date.parse(b.created_at);
  return at !== bt ? at > bt : a.id > b.id;
}

/**
 * Several filters' entries as one list, newest first (an upload's History: its own entries and
 * its analyses'). Only what is known to be complete is shown: the list stops at the oldest loaded
 * entry of a source that still has older pages, since an entry of that source may come next.
 * `waiting` are the sources whose next page must be read to show more.
 */
export function mergeSources<T extends Ordered>(sources: ReadonlyArray<Source<T>>): { shown: T[]; waiting: number[] } {
  const all = sources.flatMap((s) => s.entries);
  const seen = new Set<number>();
  const sorted = all
    .filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)))
    .sort((a, b) => (newer(a, b) ? -1 : newer(b, a) ? 1 : 0));
  // The newest of the open sources' last entries: nothing older is certain to be in order yet.
  let cut: Ordered | undefined;
  let cutIndexes: number[] = [];
  sources.forEach((source, index) => {
    if (source.next === null) return;
    const last = source.entries.at(-1);
    // An open source with nothing loaded bounds everything.
    const bound = last ?? { id: Number.MAX_SAFE_INTEGER, created_at: '9999-12-31T23:59:59.999Z' };
    if (!cut || newer(bound, cut)) {
      cut = bound;
      cutIndexes = [index];
    } else if (!newer(cut, bound)) cutIndexes.push(index);
  });
  const bound = cut;
  const shown = bound ? sorted.filter((e) => e.id === bound.id || newer(e, bound)) : sorted;
  return { shown, waiting: cutIndexes };
}
