import { describe, expect, it } from 'vitest';
import { deleteEach, type DeleteAnswer } from './bulk-delete';

/** A fake API: answers per id after a tick, and records how many calls were in flight at most. */
function fakeApi(answers: Record<string, DeleteAnswer[] | Error>) {
  let inFlight = 0;
  const seen = { peak: 0, calls: [] as string[] };
  const remove = async (id: string): Promise<DeleteAnswer> => {
    inFlight++;
    seen.peak = Math.max(seen.peak, inFlight);
    seen.calls.push(id);
    await new Promise((resolve) => setTimeout(resolve, 1 + (id.charCodeAt(id.length - 1) % 3)));
    inFlight--;
    const planned = answers[id];
    if (planned instanceof Error) throw planned;
    return planned?.shift() ?? { status: 204 };
  };
  return { remove, seen };
}

describe('deleteEach', () => {
  it('never has more than `concurrency` deletes in flight, and settles every id in order', async () => {
    const ids = Array.from({ length: 23 }, (_, i) => `u${i}`);
    const { remove, seen } = fakeApi({});
    const progress: number[] = [];
    const outcomes = await deleteEach(ids, remove, { concurrency: 4, onProgress: (n) => progress.push(n) });
    expect(seen.peak).toBe(4);
    expect(seen.calls.sort()).toEqual([...ids].sort());
    expect(outcomes.map((o) => o.id)).toEqual(ids);
    expect(outcomes.every((o) => o.result === 'deleted')).toBe(true);
    expect(progress).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
  });

  it('counts a 404 as done (already gone), and reports other failures with their status and message', async () => {
    const { remove } = fakeApi({
      gone: [{ status: 404, message: 'Not found.' }],
      refused: [{ status: 403, message: 'You do not have permission to perform this action.' }],
      broken: [{ status: 500, message: 'A server error occurred.' }],
      offline: new TypeError('Failed to fetch'),
    });
    const outcomes = await deleteEach(['ok', 'gone', 'refused', 'broken', 'offline'], remove);
    expect(outcomes).toEqual([
      { id: 'ok', result: 'deleted', status: 204 },
      { id: 'gone', result: 'gone', status: 404 },
      { id: 'refused', result: 'failed', status: 403, message: 'You do not have permission to perform this action.' },
      { id: 'broken', result: 'failed', status: 500, message: 'A server error occurred.' },
      { id: 'offline', result: 'failed', message: 'Failed to fetch' },
    ]);
  });

  it('tries a 503 or 429 again after its Retry-After (capped), then gives up after `retries`', async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    const { remove, seen } = fakeApi({
      busy: [{ status: 503, retryAfter: 2 }, { status: 204 }],
      throttled: [{ status: 429, retryAfter: 60 }, { status: 204 }],
      down: [{ status: 503 }, { status: 503 }, { status: 503, message: 'Service unavailable.' }],
    });
    const outcomes = await deleteEach(['busy', 'throttled', 'down'], remove, { concurrency: 1, sleep, retries: 2 });
    expect(outcomes.map((o) => o.result)).toEqual(['deleted', 'deleted', 'failed']);
    expect(outcomes[2]).toMatchObject({ status: 503, message: 'Service unavailable.' });
    expect(waits).toEqual([2000, 5000, 1000, 1000]);
    expect(seen.calls).toEqual(['busy', 'busy', 'throttled', 'throttled', 'down', 'down', 'down']);
  });

  it('does nothing for no ids', async () => {
    const { remove, seen } = fakeApi({});
    expect(await deleteEach([], remove)).toEqual([]);
    expect(seen.calls).toEqual([]);
  });
});
