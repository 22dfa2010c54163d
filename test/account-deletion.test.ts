import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConflictException } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { S3Client } from '@aws-sdk/client-s3';
import { AccountPurge, nothingDone, StorageAudit } from '@echo/account-data';
import { SYSTEM_AUDIT } from '@echo/audit-log';
import { createAdmin } from '../apps/cli/src/create-admin.js';
import { AccountDeletion } from '../libs/account-data/src/deletion/account-deletion.service.js';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { PASSWORD, register, registerAdmin, type Session } from './support/users.js';
import { multipart, solidPng } from './support/images.js';
import { postUpload } from './support/uploads.js';
import { uniquePrefix } from './support/services.js';
import { S3_CREDENTIALS, startLoopbackS3 } from './support/s3.js';
import {
  bucketKeys,
  filesBelow,
  giveDataInEveryState,
  namesVictim,
  pathNamesVictim,
  redisKeys,
  send,
} from './support/purge-drill.js';
import { waitFor } from './support/wait.js';

const DAY = 24 * 3600 * 1000;

/**
 * Leaving (issue 23 §1) on MariaDB + Redis with an in-process worker: the grace period (sign-in
 * refused with the date and the way back, restore signs in), admin deletion (scheduled, cancelled,
 * at once), the last-admin rule, and the name becoming free after the purge.
 */
describe.skipIf(!servicesUp())('account deletion: grace period, restore, admin deletion', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let db: DataSource;
  let admin: Session;

  const inject = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, s?: Session, payload?: object) =>
    api.inject({ method, url, headers: s?.auth ?? {}, payload });
  const login = (username: string, password = PASSWORD) =>
    inject('POST', '/api/auth/login', undefined, { username, password });
  const restore = (body: object) => inject('POST', '/api/users/me/restore', undefined, body);
  const userRow = async (id: number) =>
    (
      await db.query(
        'SELECT is_active, deletion_requested_at, delete_after, deletion_requested_by FROM users WHERE id = ?',
        [id],
      )
    )[0];

  beforeAll(async () => {
    stack = await startStack('acctdel', { THROTTLE_AUTH_LIMIT: '1000' }, { worker: true });
    api = stack.api;
    db = api.get(DataSource);
    admin = await registerAdmin(api);
  });
  afterAll(() => stack?.close());

  it('DELETE /api/users/me asks for the password again; then 202 scheduled after the grace period', async () => {
    const alice = await register(api, 'alice');
    const missing = await inject('DELETE', '/api/users/me', alice, {});
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toHaveProperty('current_password');
    const wrong = await inject('DELETE', '/api/users/me', alice, { current_password: 'not-my-password-1' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json()).toEqual({ current_password: ['Your current password was entered incorrectly.'] });
    expect((await userRow(alice.id)).delete_after).toBeNull();

    const before = Date.now();
    const res = await inject('DELETE', '/api/users/me', alice, { current_password: PASSWORD });
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json();
    expect(body.status).toBe('scheduled');
    const at = Date.parse(body.delete_after);
    expect(at).toBeGreaterThanOrEqual(before + 7 * DAY);
    expect(at).toBeLessThanOrEqual(Date.now() + 7 * DAY);
    const row = await userRow(alice.id);
    expect(Boolean(row.is_active)).toBe(false);
    expect(row.deletion_requested_by).toBe(alice.id);
  });

  it('the deletion ends every session at once: the old access and refresh tokens are refused', async () => {
    const bob = await register(api, 'bob');
    expect((await inject('GET', '/api/users/me', bob)).statusCode).toBe(200);
    expect((await inject('DELETE', '/api/users/me', bob, { current_password: PASSWORD })).statusCode).toBe(202);
    expect((await inject('GET', '/api/users/me', bob)).statusCode).toBe(401);
    expect((await inject('GET', '/api/uploads', bob)).statusCode).toBe(401);
    const refreshed = await inject('POST', '/api/auth/refresh', undefined, { refresh: bob.refresh });
    expect(refreshed.statusCode).toBe(401);
  });

  it('sign-in during the grace period: 403 saying when and how to restore (only with the right password)', async () => {
    const carol = await register(api, 'carol');
    const scheduled = (await inject('DELETE', '/api/users/me', carol, { current_password: PASSWORD })).json();
    const refused = await login(carol.username);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({
      code: 'account_pending_deletion',
      delete_after: scheduled.delete_after,
      restorable: true,
    });
    expect(refused.json().detail).toContain(scheduled.delete_after);
    expect(refused.json().detail).toContain('POST /api/users/me/restore');
    // A wrong password learns nothing about the account.
    const guess = await login(carol.username, 'wrong-password-9');
    expect(guess.statusCode).toBe(401);
    expect(guess.json()).toEqual({ detail: 'No active account found with the given credentials' });
  });

  it('POST /api/users/me/restore cancels the deletion and signs in (what login returns)', async () => {
    const dave = await register(api, 'dave');
    await inject('DELETE', '/api/users/me', dave, { current_password: PASSWORD });
    expect((await restore({ username: dave.username, password: 'wrong-password-9' })).statusCode).toBe(401);
    expect((await restore({ username: dave.username })).statusCode).toBe(400);
    const res = await restore({ email: `${dave.username}@example.com`, password: PASSWORD });
    expect(res.statusCode, res.body).toBe(200);
    expect(Object.keys(res.json()).sort()).toEqual(['access', 'refresh']);
    const me = await api.inject({
      method: 'GET',
      url: '/api/users/me',
      headers: { authorization: `Bearer ${res.json().access}` },
    });
    expect(me.statusCode).toBe(200);
    expect(me.json().is_active).toBe(true);
    const row = await userRow(dave.id);
    expect([Boolean(row.is_active), row.delete_after, row.deletion_requested_by]).toEqual([true, null, null]);
    expect((await login(dave.username)).statusCode).toBe(200);
    // Not scheduled any more: a second restore says so.
    expect((await restore({ username: dave.username, password: PASSWORD })).json()).toEqual({
      detail: 'This account is not scheduled for deletion.',
    });
    // The restored account's data was never purged.
    expect((await db.query('SELECT id FROM users WHERE id = ?', [dave.id])).length).toBe(1);
  });

  it('restore is throttled like login (per account, 429 with Retry-After)', async () => {
    const throttled = await startStack('acctdel-throttle', { THROTTLE_AUTH_LIMIT: '3' });
    try {
      const erin = await register(throttled.api, 'erin');
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await throttled.api.inject({
          method: 'POST',
          url: '/api/users/me/restore',
          payload: { username: erin.username, password: 'wrong-password-9' },
        });
        codes.push(res.statusCode);
        if (res.statusCode === 429) expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
      expect(codes.slice(0, 3)).toEqual([401, 401, 401]);
      expect(codes.at(-1)).toBe(429);
    } finally {
      await throttled.close();
    }
  });

  it("admin: DELETE /api/admin/users/:id schedules; the user cannot restore an admin's deletion; the admin can", async () => {
    const frank = await register(api, 'frank');
    const res = await inject('DELETE', `/api/admin/users/${frank.id}`, admin);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json().status).toBe('scheduled');
    expect((await inject('GET', '/api/users/me', frank)).statusCode).toBe(401);

    const listed = await inject('GET', '/api/admin/users?deletion_scheduled=true&page_size=100', admin);
    expect(listed.statusCode).toBe(200);
    const item = listed.json().results.find((u: { id: number }) => u.id === frank.id);
    expect(item).toMatchObject({
      is_active: false,
      delete_after: res.json().delete_after,
      deletion_requested_by: admin.id,
    });
    expect(item.deletion_requested_at).toEqual(expect.any(String));
    const unscheduled = await inject('GET', '/api/admin/users?deletion_scheduled=false&page_size=100', admin);
    expect(unscheduled.json().results.map((u: { id: number }) => u.id)).not.toContain(frank.id);
    const detail = (await inject('GET', `/api/admin/users/${frank.id}`, admin)).json();
    expect(detail.delete_after).toBe(res.json().delete_after);

    const signIn = await login(frank.username);
    expect(signIn.statusCode).toBe(403);
    expect(signIn.json()).toMatchObject({ restorable: false });
    expect(signIn.json().detail).toMatch(/administrator/);
    const selfRestore = await restore({ username: frank.username, password: PASSWORD });
    expect(selfRestore.statusCode).toBe(403);
    expect((await userRow(frank.id)).delete_after).not.toBeNull();

    // Reactivating without cancelling is refused: cancelling is the way back.
    const patch = await inject('PATCH', `/api/admin/users/${frank.id}`, admin, { is_active: true });
    expect(patch.statusCode).toBe(400);
    const cancelled = await inject('POST', `/api/admin/users/${frank.id}/restore`, admin);
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    expect(cancelled.json()).toMatchObject({
      id: frank.id,
      is_active: true,
      delete_after: null,
      deletion_requested_at: null,
    });
    expect((await login(frank.username)).statusCode).toBe(200);
    const again = await inject('POST', `/api/admin/users/${frank.id}/restore`, admin);
    expect(again.statusCode).toBe(400);
    expect((await inject('POST', '/api/admin/users/999999/restore', admin)).statusCode).toBe(404);
    expect((await inject('DELETE', '/api/admin/users/999999', admin)).statusCode).toBe(404);
    expect((await inject('DELETE', `/api/admin/users/${frank.id}?now=maybe`, admin)).statusCode).toBe(400);
    expect((await inject('DELETE', `/api/admin/users/${admin.id}`, await register(api, 'ivy'))).statusCode).toBe(403);
  });

  it('admin: ?now=true purges at once; the username and email are free again afterwards', async () => {
    const gina = await register(api, 'gina');
    const res = await inject('DELETE', `/api/admin/users/${gina.id}?now=true`, admin);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ status: 'purging' });
    await waitFor(
      async () => (await db.query('SELECT id FROM users WHERE id = ?', [gina.id])).length === 0,
      20_000,
      'the purge',
    );
    expect((await inject('GET', `/api/admin/users/${gina.id}`, admin)).statusCode).toBe(404);
    const again = await inject('POST', '/api/auth/register', undefined, {
      username: gina.username,
      email: `${gina.username}@example.com`,
      password: PASSWORD,
    });
    expect(again.statusCode, again.body).toBe(201);
    expect(again.json().user.id).not.toBe(gina.id);
  });

  it('an admin scheduled earlier stays scheduled at the earlier time; now=true brings it forward', async () => {
    const hank = await register(api, 'hank');
    const first = (await inject('DELETE', `/api/admin/users/${hank.id}`, admin)).json();
    const second = (await inject('DELETE', `/api/admin/users/${hank.id}`, admin)).json();
    expect(second.delete_after).toBe(first.delete_after);
    expect((await inject('DELETE', `/api/admin/users/${hank.id}?now=true`, admin)).json()).toEqual({
      status: 'purging',
    });
    await waitFor(
      async () => (await db.query('SELECT id FROM users WHERE id = ?', [hank.id])).length === 0,
      20_000,
      'the purge',
    );
  });

  it('create-admin --promote refuses an account scheduled for deletion (the purge would delete the new admin)', async () => {
    const jill = await register(api, 'jill');
    const scheduled = await inject('DELETE', `/api/admin/users/${jill.id}`, admin);
    expect(scheduled.statusCode).toBe(202);
    const before = await userRow(jill.id);
    const argv = ['--username', jill.username, '--email', `${jill.username}@example.com`];
    await expect(createAdmin(stack.config, [...argv, '--password', 'operator-pass-77', '--promote'])).rejects.toThrow(
      new RegExp(
        `^account ${jill.username} \\(id ${jill.id}\\) is scheduled for deletion .*restore.*Nothing changed\\.$`,
      ),
    );
    // Nothing changed: still a user, inactive, scheduled; the old password still the one; no audit entry.
    expect(await userRow(jill.id)).toEqual(before);
    const [row] = await db.query('SELECT role FROM users WHERE id = ?', [jill.id]);
    expect(row.role).toBe('user');
    expect((await login(jill.username, 'operator-pass-77')).statusCode).toBe(401);
    expect((await login(jill.username)).statusCode).toBe(403);
    const entries = await db.query("SELECT id FROM audit_log WHERE action = 'admin.promote' AND target_id = ?", [
      String(jill.id),
    ]);
    expect(entries).toEqual([]);
    // Once the deletion is cancelled, the promotion goes ahead.
    expect((await inject('POST', `/api/admin/users/${jill.id}/restore`, admin)).statusCode).toBe(200);
    await createAdmin(stack.config, [...argv, '--password', 'operator-pass-77', '--promote']);
    expect((await db.query('SELECT role FROM users WHERE id = ?', [jill.id]))[0].role).toBe('admin');
  });

  it('the last active admin cannot be deleted, by themselves or by the admin route; another admin can be', async () => {
    const lone = await startStack('acctdel-admins', { THROTTLE_AUTH_LIMIT: '1000' });
    try {
      const only = await registerAdmin(lone.api);
      const selfDelete = await lone.api.inject({
        method: 'DELETE',
        url: '/api/users/me',
        headers: only.auth,
        payload: { current_password: PASSWORD },
      });
      expect(selfDelete.statusCode).toBe(400);
      expect(selfDelete.json()).toEqual({ detail: 'Cannot delete the last active admin.' });
      const viaAdmin = await lone.api.inject({
        method: 'DELETE',
        url: `/api/admin/users/${only.id}`,
        headers: only.auth,
      });
      expect(viaAdmin.statusCode).toBe(400);
      const second = await registerAdmin(lone.api);
      const other = await lone.api.inject({
        method: 'DELETE',
        url: `/api/admin/users/${second.id}`,
        headers: only.auth,
      });
      expect(other.statusCode).toBe(202);
      // `second` is no longer active: `only` is the last active admin again.
      const last = await lone.api.inject({
        method: 'DELETE',
        url: '/api/users/me',
        headers: only.auth,
        payload: { current_password: PASSWORD },
      });
      expect(last.statusCode).toBe(400);
    } finally {
      await lone.close();
    }
  });
});

/**
 * Restore against purge with the processes' clocks wrong (the test process's Date faked while the
 * API or the purge runs in it): the database's clock decides, and the purge's claim, made before
 * it deletes anything, makes every later restore fail. No worker: the purge is called directly.
 */
describe.skipIf(!servicesUp())('account deletion: restore vs purge by the database clock', () => {
  let stack: TestStack;
  let db: DataSource;
  let admin: Session;
  const HOUR = 3600_000;

  /** Runs `work` with this process's clock (the API's, or the purge's) moved by `skewMs`. */
  async function withClock<T>(skewMs: number, work: () => Promise<T>): Promise<T> {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + skewMs);
    try {
      return await work();
    } finally {
      vi.useRealTimers();
    }
  }
  const uploadsOf = async (id: number) =>
    Number((await db.query('SELECT COUNT(*) AS n FROM uploads WHERE user_id = ?', [id]))[0].n);
  async function scheduledWithUpload(name: string): Promise<Session> {
    const user = await register(stack.api, name);
    await postUpload(
      stack.api,
      user,
      multipart([{ name: 'file', filename: 'a.png', data: await solidPng(20, 20, '#aa5500') }]),
    );
    const res = await stack.api.inject({ method: 'DELETE', url: `/api/admin/users/${user.id}`, headers: admin.auth });
    expect(res.json().status).toBe('scheduled');
    return user;
  }

  beforeAll(async () => {
    stack = await startStack('acctdel-clock', { THROTTLE_AUTH_LIMIT: '1000' });
    db = stack.api.get(DataSource);
    admin = await registerAdmin(stack.api);
  });
  afterAll(() => stack?.close());

  it('a restore after the purge claimed the account is refused, even from an API whose clock runs an hour behind', async () => {
    const victim = await scheduledWithUpload('claimed');
    // Due by the database's clock.
    await db.query('UPDATE users SET delete_after = UTC_TIMESTAMP(3) - INTERVAL 1 MINUTE WHERE id = ?', [victim.id]);
    const deletion = stack.api.get(AccountDeletion, { strict: false });
    let refused: unknown = 'not tried';
    const report = await stack.api.get(AccountPurge, { strict: false }).purge(victim.id, async () => {
      // Mid-purge (after the first batch): the claim is recorded, the restore must fail against it.
      const [row] = await db.query('SELECT purge_started_at FROM users WHERE id = ?', [victim.id]);
      expect(row.purge_started_at).not.toBeNull();
      refused = await withClock(-HOUR, () => deletion.adminRestore(victim.id, SYSTEM_AUDIT)).then(
        () => undefined,
        (err: unknown) => err,
      );
    });
    expect(refused).toBeInstanceOf(ConflictException);
    expect(report).toMatchObject({ uploads: 1, userDeleted: true });
    expect(await db.query('SELECT id FROM users WHERE id = ?', [victim.id])).toEqual([]);
  });

  it('a purge from a worker whose clock runs ahead does nothing before the database says it is due; a restore then wins', async () => {
    const victim = await scheduledWithUpload('early');
    const purge = stack.api.get(AccountPurge, { strict: false });
    // Eight days ahead: past the 7-day grace period by this process's clock, not by the database's.
    const early = await withClock(8 * 24 * HOUR, () => purge.purge(victim.id));
    expect(early).toMatchObject({ skipped: 'not due', uploads: 0, userDeleted: false });
    expect(await uploadsOf(victim.id)).toBe(1);
    const [row] = await db.query('SELECT purge_started_at FROM users WHERE id = ?', [victim.id]);
    expect(row.purge_started_at).toBeNull();
    // Restored before any claim: it goes ahead, and a purge after it does nothing.
    const restored = await stack.api.inject({
      method: 'POST',
      url: `/api/admin/users/${victim.id}/restore`,
      headers: admin.auth,
    });
    expect(restored.statusCode, restored.body).toBe(200);
    const late = await withClock(8 * 24 * HOUR, () => purge.purge(victim.id));
    expect(late).toMatchObject({ skipped: 'not scheduled', uploads: 0, userDeleted: false });
    expect(await uploadsOf(victim.id)).toBe(1);
    const signIn = await stack.api.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: victim.username, password: PASSWORD },
    });
    expect(signIn.statusCode).toBe(200);
  });
});

/**
 * The deletion drill (issue 23 §3): a user with data in every state is purged at once; afterwards
 * storage (local disk, then S3), the database and Redis hold nothing of theirs, their old tokens
 * are refused, another user's data is untouched, and the storage audit finds nothing.
 */
describe.skipIf(!servicesUp())('deletion drill: nothing of a purged user is left (in-process worker)', () => {
  for (const driver of ['local', 's3'] as const) {
    describe(`storage: ${driver}`, () => {
      let stack: TestStack;
      let s3: Awaited<ReturnType<typeof startLoopbackS3>> | undefined;
      let client: S3Client | undefined;
      let base: string;
      let tusDir: string;

      beforeAll(async () => {
        tusDir = `.data/test-tus/${uniquePrefix('purge')}`;
        const env: Record<string, string> = {
          THROTTLE_AUTH_LIMIT: '1000',
          WORKER_CONCURRENCY: '1',
          SSE_HEARTBEAT_SECONDS: '1',
          UPLOAD_MAX_BYTES: String(60 * 1024 * 1024),
          TUS_DIR: tusDir,
        };
        if (driver === 's3') {
          s3 = await startLoopbackS3('echo-purge');
          Object.assign(env, {
            STORAGE_DRIVER: 's3',
            S3_BUCKET: s3.bucket,
            S3_ENDPOINT: s3.endpoint,
            S3_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
            S3_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
          });
          client = new S3Client({
            region: 'us-east-1',
            endpoint: s3.endpoint,
            forcePathStyle: true,
            credentials: S3_CREDENTIALS,
          });
        }
        stack = await startStack(`purge_${driver}`, env, { worker: true });
        await stack.api.listen(0, '127.0.0.1');
        base = `http://127.0.0.1:${(stack.api.getHttpServer().address() as { port: number }).port}`;
      }, 120_000);
      afterAll(async () => {
        client?.destroy();
        await stack?.close();
        await s3?.close();
      });

      it('a user with uploads in every state, a tus upload, an export and an open stream: purged, nothing left', async () => {
        const { api } = stack;
        const db = api.get(DataSource);
        const admin = await registerAdmin(api);
        const other = await register(api, 'other');
        const kept = await postUpload(
          api,
          other,
          multipart([{ name: 'file', filename: 'k.png', data: await solidPng(50, 40, '#123456') }]),
        );
        await waitFor(
          async () =>
            (await db.query('SELECT status FROM visual_analysis_results WHERE upload_id = ?', [kept.id]))[0]?.status ===
            'completed',
          30_000,
          "the other user's analysis",
        );
        const victim = await register(api, 'victim');
        const data = await giveDataInEveryState(stack, base, victim);
        const who = { ...data, id: victim.id, username: victim.username };
        const objectsBefore = await storedKeys();
        // Five originals and a thumbnail at least (the export's archive may still be being written).
        expect(objectsBefore.filter((k) => pathNamesVictim(k, who)).length).toBeGreaterThanOrEqual(6);
        expect((await redisKeys(stack.env.CACHE_NAMESPACE)).some((k) => namesVictim(k, who))).toBe(true);

        const res = await api.inject({
          method: 'DELETE',
          url: `/api/admin/users/${victim.id}?now=true`,
          headers: admin.auth,
        });
        expect(res.statusCode).toBe(202);
        await data.stream.waitFor((s) => s.ended, 10_000, 'the open event stream to end');
        await waitFor(
          async () => (await db.query('SELECT id FROM users WHERE id = ?', [victim.id])).length === 0,
          60_000,
          'the purge',
        );

        // Storage: nothing under their prefixes, nothing naming their uploads or exports; tus staging gone.
        expect((await storedKeys()).filter((k) => pathNamesVictim(k, who))).toEqual([]);
        expect(await filesBelow(join(tusDir, String(victim.id)))).toEqual([]);
        expect((await send(base, 'HEAD', data.tusLocation, { ...victim.auth, 'tus-resumable': '1.0.0' })).status).toBe(
          401,
        );
        // Database: no row references them.
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
        // Redis: no key names them (by id, username, upload, analysis or export id) — after the busy analysis ended too.
        await waitFor(
          async () => !(await redisKeys(stack.env.CACHE_NAMESPACE)).some((k) => namesVictim(k, who)),
          30_000,
          'no Redis key naming the victim',
        ).catch(async (err) => {
          throw new Error(
            `${(err as Error).message}: ${(await redisKeys(stack.env.CACHE_NAMESPACE)).filter((k) => namesVictim(k, who)).join(', ')}`,
          );
        });
        // Their old tokens are refused.
        expect((await api.inject({ method: 'GET', url: '/api/users/me', headers: victim.auth })).statusCode).toBe(401);
        expect(
          (await api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: victim.refresh } }))
            .statusCode,
        ).toBe(401);
        // The other user's data is untouched.
        const theirs = await api.inject({ method: 'GET', url: `/api/uploads/${kept.id}`, headers: other.auth });
        expect(theirs.statusCode).toBe(200);
        expect(theirs.json().analysis.status).toBe('completed');
        expect(objectsBefore.filter((k) => k.includes(kept.id)).sort()).toEqual(
          (await storedKeys()).filter((k) => k.includes(kept.id)).sort(),
        );
        // The audit finds nothing (the other user's upload made old enough to be judged), and a
        // second purge nothing to do.
        await db.query('UPDATE uploads SET created_at = ? WHERE id = ?', [
          new Date(Date.now() - 2 * 3600_000),
          kept.id,
        ]);
        const audit = await api.get(StorageAudit, { strict: false }).run();
        expect([audit.orphanObjects, audit.unknownObjects, audit.rowsWithoutObject]).toEqual([0, 0, 0]);
        expect(audit.rowsChecked).toBeGreaterThan(0);
        const again = await stack.worker!.get(AccountPurge, { strict: false }).purge(victim.id);
        expect(nothingDone(again), JSON.stringify(again)).toBe(true);
      }, 180_000);

      async function storedKeys(): Promise<string[]> {
        return driver === 's3' ? bucketKeys(client!, s3!.bucket) : filesBelow(stack.config.storage.dir);
      }
    });
  }
});

/** Embedded mode (SQLite, no Redis): the purge runs in the API process; ACCOUNT_DELETE_GRACE_DAYS=0 purges at once. */
describe('account deletion in embedded mode (SQLite, in-process purge)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startEmbedded('acctdel-embedded', { ACCOUNT_DELETE_GRACE_DAYS: '0', THROTTLE_AUTH_LIMIT: '1000' });
  });
  afterAll(() => stack?.close());

  it('DELETE /api/users/me with a zero grace period: 202 purging, then nothing of the user is left', async () => {
    const { api } = stack;
    const db = api.get(DataSource);
    const other = await register(api, 'other');
    const theirs = await postUpload(
      api,
      other,
      multipart([{ name: 'file', filename: 'o.png', data: await solidPng(30, 20, '#0000ff') }]),
    );
    const me = await register(api, 'leaving');
    const mine = await postUpload(
      api,
      me,
      multipart([{ name: 'file', filename: 'm.png', data: await solidPng(30, 20, '#00ff00') }]),
    );
    await waitFor(
      async () =>
        (await db.query('SELECT status FROM visual_analysis_results WHERE upload_id = ?', [mine.id]))[0]?.status ===
        'completed',
      30_000,
      'the analysis',
    );
    const res = await api.inject({
      method: 'DELETE',
      url: '/api/users/me',
      headers: me.auth,
      payload: { current_password: PASSWORD },
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ status: 'purging' });
    expect((await api.inject({ method: 'GET', url: '/api/users/me', headers: me.auth })).statusCode).toBe(401);
    await waitFor(
      async () => (await db.query('SELECT id FROM users WHERE id = ?', [me.id])).length === 0,
      30_000,
      'the purge',
    );
    expect(await db.query('SELECT id FROM uploads WHERE user_id = ?', [me.id])).toEqual([]);
    expect(await db.query('SELECT id FROM visual_analysis_results WHERE user_id = ?', [me.id])).toEqual([]);
    const files = await filesBelow(stack.config.storage.dir);
    expect(files.filter((f) => pathNamesVictim(f, { id: me.id, uploadIds: [mine.id], exportIds: [] }))).toEqual([]);
    expect(files).toContain(`${other.id}/${theirs.id}`);
    const audit = await api.get(StorageAudit, { strict: false }).run();
    expect([audit.orphanObjects, audit.rowsWithoutObject]).toEqual([0, 0]);
    expect(
      (await api.inject({ method: 'GET', url: `/api/uploads/${theirs.id}`, headers: other.auth })).statusCode,
    ).toBe(200);
  }, 60_000);
});
