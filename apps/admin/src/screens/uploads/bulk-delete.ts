/**
 * Deleting several uploads: one `DELETE /api/admin/uploads/:id` per upload, at most `concurrency`
 * in flight. Not a bulk route: each delete stays its own short transaction (row, analyses, then
 * the files) exactly as a single delete, one failure cannot roll the others back, each is checked
 * and (with the audit log) recorded per upload, and a handful in flight leaves the API's database
 * pool to everyone else.
 */

/** What one DELETE answered: its HTTP status, the API's message, and `Retry-After` seconds if any. */
export interface DeleteAnswer {
  status: number;
  message?: string;
  retryAfter?: number;
}

export interface DeleteOutcome {
  id: string;
  /** `gone`: 404, someone (or an earlier try) deleted it already, which is what was asked. */
  result: 'deleted' | 'gone' | 'failed';
  status?: number;
  message?: string;
}

export interface BulkOptions {
  concurrency?: number;
  /** Called after each upload is settled. */
  onProgress?: (settled: number, total: number) => void;
  /** Tries again after a 429 or 503 (overloaded: it says when to come back), at most this often. */
  retries?: number;
  sleep?: (ms: number) => Promise<void>;
}

export const BULK_CONCURRENCY = 4;
const RETRY_STATUSES = new Set([429, 503]);
/** Waits longer than this are cut short: an admin is watching the progress bar. */
const MAX_RETRY_WAIT_MS = 5_000;

export async function deleteEach(
  ids: readonly string[],
  remove: (id: string) => Promise<DeleteAnswer>,
  options: BulkOptions = {},
): Promise<DeleteOutcome[]> {
  const concurrency = Math.max(1, options.concurrency ?? BULK_CONCURRENCY);
  const retries = options.retries ?? 2;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const outcomes: DeleteOutcome[] = new Array(ids.length);
  let next = 0;
  let settled = 0;

  const one = async (id: string): Promise<DeleteOutcome> => {
    for (let attempt = 0; ; attempt++) {
      let answer: DeleteAnswer;
      try {
        answer = await remove(id);
      } catch (err) {
        // Offline, or the connection dropped: whether it was deleted is unknown; a retry tells.
        return { id, result: 'failed', message: (err as Error).message || 'Network error.' };
      }
      if (answer.status >= 200 && answer.status < 300) return { id, result: 'deleted', status: answer.status };
      if (answer.status === 404) return { id, result: 'gone', status: 404 };
      if (RETRY_STATUSES.has(answer.status) && attempt < retries) {
        await sleep(Math.min(MAX_RETRY_WAIT_MS, Math.max(1, answer.retryAfter ?? 1) * 1000));
        continue;
      }
      return { id, result: 'failed', status: answer.status, message: answer.message };
    }
  };

  // `concurrency` lanes, each taking the next id until none is left.
  const lane = async () => {
    while (next < ids.length) {
      const index = next++;
      outcomes[index] = await one(ids[index]);
      options.onProgress?.(++settled, ids.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, lane));
  return outcomes;
}
