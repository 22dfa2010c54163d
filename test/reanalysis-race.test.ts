import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { multipart, noisePng } from './support/images.js';
import { postUpload } from './support/uploads.js';
import { register, registerAdmin, type Session } from './support/users.js';

/**
 * Re-analysis requests that arrive together (issue 26): one pending analysis per upload, and every
 * request of a burst gets that one. The image is large enough (a 35 MP progressive JPEG, ~0.8 s
 * to analyse here) that the analysis a burst creates cannot finish while the burst is running, so
 * a second analysis in one burst can only come from the race.
 */
const RUNS = 20;
/** What the controller allows per user and window (REANALYSIS_LIMIT). */
const REANALYSIS_LIMIT = 20;
const PENDING = "('queued', 'processing')";

async function slowImage(): Promise<Buffer> {
  return sharp(await noisePng(400, 300))
    .resize(7000, 5000)
    .jpeg({ quality: 85, progressive: true })
    .toBuffer();
}

function raceSuite(label: string, start: () => Promise<TestStack>) {
  let stack: TestStack;
  let db: DataSource;
  let alice: Session;
  let image: Buffer;

  const post = (s: Session, uploadId: string) =>
    stack.api.inject({
      method: 'POST',
      url: '/api/visual-analysis',
      headers: s.auth,
      payload: { upload_id: uploadId },
    });
  const ids = async (uploadId: string, where = '1 = 1') =>
    (
      (await db.query(`SELECT id FROM visual_analysis_results WHERE upload_id = ? AND ${where}`, [uploadId])) as {
        id: string;
      }[]
    ).map((r) => r.id);
  /**
   * Whatever is pending is declared finished, so the next request has to create an analysis. The
   * worker may be between reading a queued row and marking it processing (that write is not
   * guarded by status): repeat until nothing is pending for a moment.
   */
  const finishPending = async (uploadId: string) => {
    for (let i = 0; i < 50; i++) {
      await db.query(
        `UPDATE visual_analysis_results SET status = 'completed' WHERE upload_id = ? AND status IN ${PENDING}`,
        [uploadId],
      );
      await new Promise((resolve) => setTimeout(resolve, 30));
      if (!(await ids(uploadId, `status IN ${PENDING}`)).length) return;
    }
    throw new Error(`analyses of ${uploadId} stay pending`);
  };
  const upload = async (s: Session) =>
    postUpload(
      stack.api,
      s,
      multipart([{ name: 'file', filename: 'big.jpg', contentType: 'image/jpeg', data: image }]),
    );

  beforeAll(async () => {
    [stack, image] = await Promise.all([start(), slowImage()]);
    db = stack.api.get(DataSource);
    alice = await register(stack.api, 'alice');
  }, 60_000);
  afterAll(() => stack?.close());

  it(`${label}: ${RUNS} bursts of 5–10 re-analyses of one upload all get one analysis; only created ones count against the limit`, async () => {
    const up = await upload(alice);
    for (let run = 0; run < RUNS; run++) {
      await finishPending(up.id);
      const before = new Set(await ids(up.id));
      const burst = await Promise.all(Array.from({ length: 5 + (run % 6) }, () => post(alice, up.id)));
      const why = `run ${run}: ${burst.map((r) => `${r.statusCode} ${r.body}`).join(' | ')}`;
      expect(
        burst.map((r) => r.statusCode),
        why,
      ).toEqual(burst.map(() => 202));
      const returned = new Set(burst.map((r) => r.json().id));
      expect(returned.size, why).toBe(1);
      const [id] = returned;
      const created = (await ids(up.id)).filter((x) => !before.has(x));
      expect(created, why).toEqual([id]);
      expect(await ids(up.id, `status IN ${PENDING}`), why).toEqual([id]);
    }
    // RUNS bursts created RUNS analyses: the limit is used up now, not after its first few calls.
    expect(RUNS).toBe(REANALYSIS_LIMIT);
    await finishPending(up.id);
    const before = await ids(up.id);
    const over = await Promise.all(Array.from({ length: 5 }, () => post(alice, up.id)));
    for (const res of over) {
      expect(res.statusCode, res.body).toBe(429);
      expect(res.json().detail).toMatch(/^Request was throttled\. Expected available in \d+ seconds?\.$/);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect((await ids(up.id)).sort(), 'a refused call created nothing').toEqual(before.sort());
  }, 30_000);

  it(`${label}: an admin retry of a failed analysis keeps to one pending analysis per upload`, async () => {
    const admin = await registerAdmin(stack.api);
    const bob = await register(stack.api, 'bob');
    const up = await upload(bob);
    const first = up.analysis.id as string;
    // A re-analysis is pending while the first analysis has failed: retrying it is refused.
    await finishPending(up.id);
    const second = (await post(bob, up.id)).json().id as string;
    await db.query("UPDATE visual_analysis_results SET status = 'failed', error = 'lost' WHERE id = ?", [first]);
    const retry = () =>
      stack.api.inject({ method: 'POST', url: `/api/admin/visual-analysis/${first}/retry`, headers: admin.auth });
    const refused = await retry();
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json()).toEqual({
      detail: `This upload already has a pending analysis (${second}); retry once it has finished.`,
    });
    // Retries and re-analyses together: whoever wins, one analysis is pending and the
    // re-analyses all return it; the losing retries are 400s with a DRF body (the retry route answers 202).
    for (let run = 0; run < 5; run++) {
      await finishPending(up.id);
      await db.query("UPDATE visual_analysis_results SET status = 'failed', error = 'lost' WHERE id = ?", [first]);
      const before = new Set(await ids(up.id));
      const all = await Promise.all([
        ...Array.from({ length: 3 }, () => retry()),
        ...Array.from({ length: 3 }, () => post(bob, up.id)),
      ]);
      const why = `run ${run}: ${all.map((r) => `${r.statusCode} ${r.body}`).join(' | ')}`;
      const pending = await ids(up.id, `status IN ${PENDING}`);
      expect(pending, why).toHaveLength(1);
      for (const res of all.slice(0, 3)) {
        expect([202, 400], why).toContain(res.statusCode);
        if (res.statusCode === 202) expect(res.json().id, why).toBe(pending[0]);
        else expect(res.json().detail, why).toEqual(expect.any(String));
      }
      expect(all.slice(0, 3).filter((r) => r.statusCode === 202).length, why).toBeLessThanOrEqual(1);
      for (const res of all.slice(3)) {
        expect(res.statusCode, why).toBe(202);
        expect(res.json().id, why).toBe(pending[0]);
      }
      const created = (await ids(up.id)).filter((x) => !before.has(x));
      expect(created.length, why).toBeLessThanOrEqual(1);
    }
  }, 30_000);
}

describe.skipIf(!servicesUp())('re-analysis under concurrency (API + worker on MariaDB + Redis)', () => {
  raceSuite('mariadb', () => startStack('reanalysis', { WORKER_CONCURRENCY: '1' }, { worker: true }));
});

describe('re-analysis under concurrency (embedded: SQLite, in-process jobs)', () => {
  raceSuite('embedded', () => startEmbedded('reanalysis'));
});
