import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { getQueueToken } from '@nestjs/bullmq';
import { QueueEvents, type Queue } from 'bullmq';
import { QUEUES } from '@echo/queue';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AccountPurge, MISSING_ORIGINAL, purgeJobId, StorageAudit, type PurgeReport } from '@echo/account-data';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { distBuilt, EchoProcess, freePort, PrivateRedis } from './support/processes.js';
import { register, registerAdmin, type Session } from './support/users.js';
import { bucketKeys, filesBelow, namesVictim, pathNamesVictim, redisKeys } from './support/purge-drill.js';
import { S3_CREDENTIALS } from './support/s3.js';
import { startPagedS3 } from './support/s3-paged.js';
import { waitFor } from './support/wait.js';

const UPLOADS = 2000;

/**
 * The purge under faults, with built worker processes on a private Redis: a worker SIGKILLed in
 * the middle of a 2,000-upload purge and a restarted one finish it; a Redis FLUSHALL that took the
 * delayed purge job does not lose the purge (the due check re-enqueues it from the users table);
 * the built CLI's audit-storage finds nothing afterwards; and the time of one purge of 2,000
 * uploads (seeded straight into the database and storage) is measured.
 */
describe.skipIf(!servicesUp() || !distBuilt('worker') || !distBuilt('cli'))(
  'account purge drills (built worker)',
  () => {
    let redis: PrivateRedis;
    let stack: TestStack;
    let db: DataSource;
    let admin: Session;
    let queue: Queue;
    const workers: EchoProcess[] = [];

    const startWorker = () => {
      const worker = EchoProcess.spawn('worker', { ...stack.env, LOG_LEVEL: 'warn', WORKER_METRICS_PORT: '0' });
      workers.push(worker);
      return worker;
    };
    const userExists = async (id: number) => (await db.query('SELECT id FROM users WHERE id = ?', [id])).length > 0;
    const uploadsOf = async (id: number) =>
      Number((await db.query('SELECT COUNT(*) AS n FROM uploads WHERE user_id = ?', [id]))[0].n);

    /**
     * `count` uploads with a completed analysis, their originals, thumbnails and (every 4th) previews,
     * written directly; made two hours ago, so the storage audit judges them.
     */
    async function seed(user: Session, count: number): Promise<string[]> {
      const ids = Array.from({ length: count }, () => randomUUID());
      const now = new Date(Date.now() - 2 * 3600_000);
      for (let at = 0; at < ids.length; at += 500) {
        const batch = ids.slice(at, at + 500);
        await db.query(
          `INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key, created_at, taken_at) VALUES ${batch.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
          batch.flatMap((id, i) => [
            id,
            user.id,
            `photo ${at + i}`,
            `IMG_${at + i}.jpg`,
            'image/jpeg',
            64,
            id.replace(/-/g, '').padEnd(64, '0'),
            40,
            30,
            `${user.id}/${id}`,
            now,
            now,
          ]),
        );
        await db.query(
          `INSERT INTO visual_analysis_results (id, upload_id, user_id, status, progress, attempts, result, analyzer_version, created_at, completed_at) VALUES ${batch.map(() => "(?, ?, ?, 'completed', 100, 1, NULL, '1', ?, ?)").join(', ')}`,
          batch.flatMap((id) => [randomUUID(), id, user.id, now, now]),
        );
      }
      const root = stack.config.storage.dir;
      for (const dir of [`${user.id}`, `thumbs/${user.id}`, `previews/${user.id}`])
        await mkdir(join(root, dir), { recursive: true });
      const bytes = Buffer.alloc(64, 7);
      for (let at = 0; at < ids.length; at += 100)
        await Promise.all(
          ids
            .slice(at, at + 100)
            .flatMap((id, i) => [
              writeFile(join(root, `${user.id}`, id), bytes),
              writeFile(join(root, `thumbs/${user.id}`, `${id}.webp`), bytes),
              ...((at + i) % 4 === 0 ? [writeFile(join(root, `previews/${user.id}`, `${id}.webp`), bytes)] : []),
            ]),
        );
      return ids;
    }

    async function assertNothingLeft(victim: Session, uploadIds: string[]) {
      const who = { id: victim.id, username: victim.username, uploadIds, analysisIds: [], exportIds: [] };
      expect((await filesBelow(stack.config.storage.dir)).filter((p) => pathNamesVictim(p, who))).toEqual([]);
      for (const [table, column] of [
        ['uploads', 'user_id'],
        ['visual_analysis_results', 'user_id'],
        ['refresh_tokens', 'user_id'],
        ['exports', 'user_id'],
        ['users', 'id'],
      ])
        expect(
          Number((await db.query(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = ?`, [victim.id]))[0].n),
          table,
        ).toBe(0);
      expect((await redisKeys(stack.env.CACHE_NAMESPACE, redis.url)).filter((k) => namesVictim(k, who))).toEqual([]);
      expect((await stack.api.inject({ method: 'GET', url: '/api/users/me', headers: victim.auth })).statusCode).toBe(
        401,
      );
    }

    /** The built CLI's audit: its JSON report. */
    async function auditStorage(args: string[] = []): Promise<{ code: number | null; report: Record<string, any> }> {
      const cli = EchoProcess.spawn('cli', { ...stack.env, LOG_LEVEL: 'warn' }, ['audit-storage', '--json', ...args]);
      const code = await new Promise<number | null>((resolve) => cli.child.once('exit', resolve));
      const line = cli.output.split('\n').find((l) => l.startsWith('{'));
      expect(line, cli.output).toBeDefined();
      return { code, report: JSON.parse(line!) };
    }

    beforeAll(async () => {
      redis = await PrivateRedis.start();
      stack = await startStack('purgedrill', {
        REDIS_URL: redis.url,
        THROTTLE_AUTH_LIMIT: '1000',
        QUEUE_LOCK_DURATION_MS: '2000',
        MAINTENANCE_EVERY_SECONDS: '1',
      });
      db = stack.api.get(DataSource);
      admin = await registerAdmin(stack.api);
      queue = stack.api.get<Queue>(getQueueToken(QUEUES.accountPurge));
    });
    afterAll(async () => {
      for (const w of workers) await w.kill('SIGKILL');
      await stack?.close();
      await redis?.stop();
    });

    it(`a worker SIGKILLed in the middle of a ${UPLOADS}-upload purge: a restarted worker finishes it; nothing is left`, async () => {
      const victim = await register(stack.api, 'victim');
      const other = await register(stack.api, 'other');
      const ids = await seed(victim, UPLOADS);
      const others = await seed(other, 20);
      // Cached pages and a user record naming them.
      expect((await stack.api.inject({ method: 'GET', url: '/api/uploads', headers: victim.auth })).json().count).toBe(
        UPLOADS,
      );
      let worker = startWorker();
      const res = await stack.api.inject({
        method: 'DELETE',
        url: `/api/admin/users/${victim.id}?now=true`,
        headers: admin.auth,
      });
      expect(res.json()).toEqual({ status: 'purging' });
      const left = await waitFor(
        async () => {
          const n = await uploadsOf(victim.id);
          return n < UPLOADS ? n : undefined;
        },
        60_000,
        'the purge to begin',
      );
      await worker.kill('SIGKILL');
      // Killed midway: the row and part of the data are still there, the job is stuck active.
      expect(left).toBeGreaterThan(0);
      expect(await userExists(victim.id)).toBe(true);
      expect(await uploadsOf(victim.id)).toBeGreaterThan(0);
      expect(await (await queue.getJob(purgeJobId(victim.id)))?.getState()).toBe('active');

      worker = startWorker();
      await waitFor(async () => !(await userExists(victim.id)), 60_000, 'the restarted worker to finish the purge');
      await assertNothingLeft(victim, ids);
      // The other user's rows and files are all there.
      expect(await uploadsOf(other.id)).toBe(20);
      expect((await filesBelow(join(stack.config.storage.dir, String(other.id)))).sort()).toEqual([...others].sort());

      const audit = await auditStorage();
      expect(audit.report).toMatchObject({ orphanObjects: 0, unknownObjects: 0, rowsWithoutObject: 0 });
      expect(audit.report.rowsChecked).toBeGreaterThanOrEqual(20);
      expect(audit.code).toBe(0);

      // A second run finds nothing to do.
      const events = new QueueEvents(QUEUES.accountPurge, {
        connection: { url: redis.url },
        prefix: stack.env.QUEUE_PREFIX,
      });
      try {
        await events.waitUntilReady();
        const job = await queue.add('purge', { userId: victim.id }, { jobId: purgeJobId(victim.id) });
        const report = (await job.waitUntilFinished(events, 30_000)) as PurgeReport;
        expect(report).toMatchObject({ uploads: 0, analyses: 0, objects: 0, redisKeys: 0, userDeleted: false });
      } finally {
        await events.close();
      }
      await worker.kill('SIGTERM');
    }, 240_000);

    it('a FLUSHALL that took the delayed purge job does not lose the purge: the due check enqueues it again', async () => {
      const victim = await register(stack.api, 'flushed');
      const ids = await seed(victim, 30);
      const res = await stack.api.inject({
        method: 'DELETE',
        url: `/api/admin/users/${victim.id}`,
        headers: admin.auth,
      });
      expect(res.json().status).toBe('scheduled');
      const job = await queue.getJob(purgeJobId(victim.id));
      expect(await job?.getState()).toBe('delayed');
      expect(job!.opts.delay).toBeGreaterThan(6.9 * 24 * 3600 * 1000);
      expect(await redis.command((r) => r.flushall())).toBe('OK');
      expect(await queue.getJob(purgeJobId(victim.id))).toBeUndefined();
      // The grace period has passed (by the database's reckoning), and no job exists to say so.
      await db.query('UPDATE users SET delete_after = ? WHERE id = ?', [new Date(Date.now() - 60_000), victim.id]);
      const worker = startWorker();
      await waitFor(async () => !(await userExists(victim.id)), 30_000, 'the due check to enqueue and run the purge');
      await assertNothingLeft(victim, ids);
      await worker.kill('SIGTERM');
    }, 120_000);

    it('a cancelled deletion drops its delayed job; a purge that finds the user restored does nothing', async () => {
      const victim = await register(stack.api, 'restored');
      await seed(victim, 5);
      await stack.api.inject({ method: 'DELETE', url: `/api/admin/users/${victim.id}`, headers: admin.auth });
      expect(await queue.getJob(purgeJobId(victim.id))).toBeDefined();
      const restored = await stack.api.inject({
        method: 'POST',
        url: `/api/admin/users/${victim.id}/restore`,
        headers: admin.auth,
      });
      expect(restored.statusCode).toBe(200);
      expect(await queue.getJob(purgeJobId(victim.id))).toBeUndefined();
      // A stray purge job (say, enqueued just before the restore) leaves the account alone.
      const worker = startWorker();
      const events = new QueueEvents(QUEUES.accountPurge, {
        connection: { url: redis.url },
        prefix: stack.env.QUEUE_PREFIX,
      });
      try {
        await events.waitUntilReady();
        const job = await queue.add('purge', { userId: victim.id }, { jobId: purgeJobId(victim.id) });
        expect(await job.waitUntilFinished(events, 30_000)).toMatchObject({ skipped: 'not scheduled', uploads: 0 });
      } finally {
        await events.close();
        await worker.kill('SIGTERM');
      }
      expect(await uploadsOf(victim.id)).toBe(5);
    }, 120_000);

    it('audit-storage (built CLI) reports per user; --fix deletes orphans and marks a row whose original is gone', async () => {
      const owner = await register(stack.api, 'audited');
      const [kept, broken] = await seed(owner, 2);
      const root = stack.config.storage.dir;
      const hourAgo = new Date(Date.now() - 2 * 3600_000);
      // An orphan original and thumbnail (no row), a file of no known shape, and a fresh orphan (a write in flight).
      const orphan = randomUUID();
      const written = [
        `${owner.id}/${orphan}`,
        `thumbs/${owner.id}/${orphan}.webp`,
        'stray.txt',
        `thumbs/${owner.id}/${randomUUID()}.webp`,
      ];
      for (const key of written) await writeFile(join(root, key), 'x');
      for (const key of written.slice(0, 3)) await utimes(join(root, key), hourAgo, hourAgo);
      await rm(join(root, `${owner.id}`, broken));

      const before = await auditStorage(['--user', String(owner.id)]);
      expect(before.code).toBe(1);
      expect(before.report).toMatchObject({ orphanObjects: 2, rowsWithoutObject: 1, unknownObjects: 0 });
      const everywhere = await auditStorage();
      expect(everywhere.report).toMatchObject({ orphanObjects: 2, rowsWithoutObject: 1, unknownObjects: 1 });
      expect(everywhere.report.perUser).toMatchObject({
        [`user ${owner.id}`]: { 'orphan-object': 2, 'missing-original': 1 },
        'no owner': { 'unknown-object': 1 },
      });

      const fixed = await auditStorage(['--fix', '--user', String(owner.id)]);
      expect(fixed.code).toBe(0);
      expect(fixed.report.fixed).toEqual({ deleted: 2, marked: 1 });
      expect(existsSync(join(root, written[0]))).toBe(false);
      expect(existsSync(join(root, written[1]))).toBe(false);
      expect(existsSync(join(root, written[3]))).toBe(true); // younger than an hour: not judged
      expect(existsSync(join(root, `${owner.id}`, kept))).toBe(true);
      // The row stays, its newest analysis failed with the reason (the owner's list shows it at once).
      const upload = await stack.api.inject({ method: 'GET', url: `/api/uploads/${broken}`, headers: owner.auth });
      expect(upload.statusCode).toBe(200);
      expect(upload.json().analysis.status).toBe('failed');
      const analysis = await stack.api.inject({
        method: 'GET',
        url: `/api/visual-analysis/${upload.json().analysis.id}`,
        headers: owner.auth,
      });
      expect(analysis.json().error).toBe(MISSING_ORIGINAL);
      // Marked once: a second --fix marks nothing more (the row is still reported: its file is still gone).
      const again = await auditStorage(['--fix', '--user', String(owner.id)]);
      expect(again.report).toMatchObject({ orphanObjects: 0, rowsWithoutObject: 1, fixed: { deleted: 0, marked: 0 } });
      await rm(join(root, 'stray.txt'));
      await rm(join(root, written[3]));
      // Leave the store consistent for the tests after this one.
      const gone = await stack.api.inject({
        method: 'DELETE',
        url: `/api/admin/uploads/${broken}`,
        headers: admin.auth,
      });
      expect(gone.statusCode).toBe(204);
    }, 120_000);

    it('audit-storage --fix leaves a row younger than an hour alone: its file may still be on its way in', async () => {
      const owner = await register(stack.api, 'intake');
      const [old, fresh] = await seed(owner, 2);
      const root = stack.config.storage.dir;
      // As intake leaves an upload between its commit and the move of its file: the row, no file.
      await db.query('UPDATE uploads SET created_at = ? WHERE id = ?', [new Date(), fresh]);
      await rm(join(root, `${owner.id}`, fresh));
      // An old row whose file is gone is still found and marked.
      await rm(join(root, `${owner.id}`, old));
      const audit = await stack.api.get(StorageAudit, { strict: false }).run({ userId: owner.id, fix: true });
      expect(audit.findings.filter((f) => f.kind === 'missing-original').map((f) => f.uploadId)).toEqual([old]);
      expect(audit).toMatchObject({ rowsChecked: 1, rowsWithoutObject: 1, fixed: { marked: 1 } });
      const failed = async (id: string) =>
        Number(
          (
            await db.query(
              "SELECT COUNT(*) AS n FROM visual_analysis_results WHERE upload_id = ? AND status = 'failed'",
              [id],
            )
          )[0].n,
        );
      expect(await failed(old)).toBe(1);
      expect(await failed(fresh)).toBe(0);
      // Leave the store consistent for the tests after this one.
      for (const id of [old, fresh])
        expect(
          (await stack.api.inject({ method: 'DELETE', url: `/api/admin/uploads/${id}`, headers: admin.auth }))
            .statusCode,
        ).toBe(204);
    }, 60_000);

    it('the worker runs the report-only audit on its schedule: findings in the log and the metrics, nothing deleted', async () => {
      const root = stack.config.storage.dir;
      const orphan = `${admin.id}/${randomUUID()}`;
      await mkdir(join(root, String(admin.id)), { recursive: true });
      await writeFile(join(root, orphan), 'x');
      const old = new Date(Date.now() - 2 * 3600_000);
      await utimes(join(root, orphan), old, old);
      const port = await freePort();
      const worker = EchoProcess.spawn('worker', {
        ...stack.env,
        LOG_LEVEL: 'warn',
        WORKER_METRICS_PORT: String(port),
        STORAGE_AUDIT_EVERY_SECONDS: '1',
      });
      workers.push(worker);
      try {
        const metrics = await waitFor(
          async () => {
            const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
              (r) => r.text(),
              () => '',
            );
            return /echo_storage_audit_findings\{kind="orphan_objects"\} 1\b/.test(text) ? text : undefined;
          },
          30_000,
          'the scheduled audit to report the orphan',
        );
        expect(metrics).toMatch(/echo_storage_audit_findings\{kind="rows_without_object"\} 0\b/);
        expect(Number(/^echo_storage_audit_last_run_timestamp_seconds (\S+)$/m.exec(metrics)![1])).toBeGreaterThan(
          Date.now() / 1000 - 60,
        );
        await waitFor(async () => worker.output.includes(orphan), 10_000, 'the orphan named in the log');
        expect(worker.output).toContain('audit-storage --fix');
        expect(existsSync(join(root, orphan))).toBe(true); // reported, not repaired
      } finally {
        await worker.kill('SIGTERM');
        await rm(join(root, orphan));
      }
    }, 90_000);

    it(`measures one purge of ${UPLOADS} uploads (local storage, built worker)`, async () => {
      const victim = await register(stack.api, 'timed');
      const ids = await seed(victim, UPLOADS);
      const worker = startWorker();
      const events = new QueueEvents(QUEUES.accountPurge, {
        connection: { url: redis.url },
        prefix: stack.env.QUEUE_PREFIX,
      });
      try {
        await events.waitUntilReady();
        const started = Date.now();
        await stack.api.inject({
          method: 'DELETE',
          url: `/api/admin/users/${victim.id}?now=true`,
          headers: admin.auth,
        });
        const job = await waitFor(async () => queue.getJob(purgeJobId(victim.id)), 10_000, 'the job');
        const report = (await job.waitUntilFinished(events, 120_000)) as PurgeReport;
        const wall = Date.now() - started;
        console.log(
          `purge of ${UPLOADS} uploads: ${report.ms} ms in the worker (${wall} ms from the request, incl. the 2 s margin); ` +
            `${report.objects} storage deletes, ${report.analyses} analyses, ${report.redisKeys} Redis keys`,
        );
        expect(report.uploads).toBe(UPLOADS);
        expect(report.analyses).toBe(UPLOADS);
        expect(report.ms).toBeLessThan(60_000);
        await assertNothingLeft(victim, ids);
      } finally {
        await events.close();
        await worker.kill('SIGTERM');
      }
    }, 240_000);
  },
);

/**
 * The same purge against S3 (s3rver on loopback, listings paged): every delete is a request, 16 in
 * flight; then the audit pages through 2,000+ keys of another user and finds nothing.
 */
describe.skipIf(!servicesUp())('account purge timing on S3 (in-process worker, s3rver)', () => {
  it(`measures one purge of ${UPLOADS} uploads on S3`, async () => {
    const s3 = await startPagedS3('echo-purge-timing');
    const stack = await startStack(
      'purge_s3_timing',
      {
        THROTTLE_AUTH_LIMIT: '1000',
        STORAGE_DRIVER: 's3',
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: s3.endpoint,
        S3_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
        S3_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
      },
      { worker: true },
    );
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3_CREDENTIALS,
    });
    try {
      const db = stack.api.get(DataSource);
      const victim = await register(stack.api, 's3victim');
      const ids = Array.from({ length: UPLOADS }, () => randomUUID());
      const now = new Date();
      // Made two hours ago: the audit judges only rows older than an hour.
      const madeAt = new Date(now.getTime() - 2 * 3600_000);
      for (let at = 0; at < ids.length; at += 500) {
        const batch = ids.slice(at, at + 500);
        await db.query(
          `INSERT INTO uploads (id, user_id, content_type, size, sha256, width, height, storage_key, created_at) VALUES ${batch.map(() => "(?, ?, 'image/jpeg', 64, ?, 40, 30, ?, ?)").join(', ')}`,
          batch.flatMap((id) => [id, victim.id, id.replace(/-/g, '').padEnd(64, '0'), `${victim.id}/${id}`, madeAt]),
        );
      }
      const keys = ids.flatMap((id) => [`${victim.id}/${id}`, `thumbs/${victim.id}/${id}.webp`]);
      const put = (Key: string) =>
        client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: Buffer.alloc(64, 1) }));
      // One object per prefix first: s3rver's directory creation races under concurrent first writes.
      await put(keys[0]);
      await put(keys[1]);
      for (let at = 2; at < keys.length; at += 16) await Promise.all(keys.slice(at, at + 16).map(put));
      expect((await bucketKeys(client, s3.bucket)).length).toBe(2 * UPLOADS);
      // The audit pages through the user's 2,000 originals (two listing pages) and finds each row's object.
      const audit = await stack.api.get(StorageAudit, { strict: false }).run({ userId: victim.id });
      expect(audit).toMatchObject({ rowsChecked: UPLOADS, rowsWithoutObject: 0, orphanObjects: 0 });
      const purge = stack.worker!.get(AccountPurge, { strict: false });
      await db.query('UPDATE users SET is_active = 0, deletion_requested_at = ?, delete_after = ? WHERE id = ?', [
        now,
        new Date(now.getTime() - 60_000),
        victim.id,
      ]);
      const report = await purge.purge(victim.id);
      console.log(
        `S3 purge of ${UPLOADS} uploads (${2 * UPLOADS} objects, ${report.objects} deletes sent): ${report.ms} ms`,
      );
      expect(report.uploads).toBe(UPLOADS);
      expect(await bucketKeys(client, s3.bucket)).toEqual([]);
    } finally {
      client.destroy();
      await stack.close();
      await s3.close();
    }
  }, 300_000);
});
