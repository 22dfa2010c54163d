import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { UsersService } from '@echo/users';
import { pruneAuditLog } from '@echo/audit-log';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { PASSWORD, register, registerAdmin, type Session } from './support/users.js';
import { multipart, solidPng } from './support/images.js';
import { postUpload } from './support/uploads.js';

type Entry = {
  id: number;
  created_at: string;
  actor_id: number | null;
  actor_username: string;
  action: string;
  target_type: string;
  target_id: string;
  target_label: string;
  changes: Record<string, [unknown, unknown]>;
  request_id: string | null;
  ip: string | null;
};

const KEYS = [
  'action',
  'actor_id',
  'actor_username',
  'changes',
  'created_at',
  'id',
  'ip',
  'request_id',
  'target_id',
  'target_label',
  'target_type',
];

/**
 * The admin audit log (issue 24 §3) on MariaDB + Redis: one entry per admin action, written in the
 * action's transaction (a refused action leaves none), kept after the target is gone, readable by
 * admins only, with the request id and the client IP as the trusted proxy gave it.
 */
describe.skipIf(!servicesUp())('audit log', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let db: DataSource;
  let admin: Session;
  let counter = 0;

  /** An admin request from behind the trusted proxy (127.0.0.1, inject's address) for client 203.0.113.<n>. */
  const asAdmin = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) => {
    const requestId = `audit-test-${++counter}`;
    return api
      .inject({
        method,
        url,
        payload,
        headers: { ...admin.auth, 'x-request-id': requestId, 'x-forwarded-for': `203.0.113.${counter}` },
      })
      .then((res) => ({ res, requestId, ip: `203.0.113.${counter}` }));
  };
  const entries = async (query: string): Promise<Entry[]> => {
    const res = await api.inject({ method: 'GET', url: `/api/admin/audit-log?${query}`, headers: admin.auth });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().results;
  };
  const total = async () => Number((await db.query('SELECT COUNT(*) AS n FROM audit_log'))[0].n);
  const forTarget = (type: string, id: string | number) => entries(`target_type=${type}&target_id=${id}`);

  beforeAll(async () => {
    stack = await startStack('audit', { THROTTLE_AUTH_LIMIT: '1000', TRUST_PROXY: '127.0.0.1' });
    api = stack.api;
    db = api.get(DataSource);
    admin = await registerAdmin(api);
  });
  afterAll(() => stack?.close());

  it('PATCH /api/admin/users/:id writes one user.update with before/after, actor, request id and client IP', async () => {
    const bob = await register(api, 'bob');
    const { res, requestId, ip } = await asAdmin('PATCH', `/api/admin/users/${bob.id}`, {
      is_active: false,
      role: 'admin',
    });
    expect(res.statusCode, res.body).toBe(200);
    const list = await forTarget('user', bob.id);
    expect(list).toHaveLength(1);
    const [entry] = list;
    expect(Object.keys(entry).sort()).toEqual(KEYS);
    expect(entry).toMatchObject({
      actor_id: admin.id,
      actor_username: admin.username,
      action: 'user.update',
      target_type: 'user',
      target_id: String(bob.id),
      target_label: bob.username,
      changes: { is_active: [true, false], role: ['user', 'admin'] },
      request_id: requestId,
      ip,
    });
    expect(Date.now() - Date.parse(entry.created_at)).toBeLessThan(60_000);
  });

  it('a field left as it was is not listed in changes', async () => {
    const carl = await register(api, 'carl');
    const { res } = await asAdmin('PATCH', `/api/admin/users/${carl.id}`, { role: 'user', is_active: false });
    expect(res.statusCode).toBe(200);
    const [entry] = await forTarget('user', carl.id);
    expect(entry.changes).toEqual({ is_active: [true, false] });
  });

  it('logout-all, delete and restore: one entry each', async () => {
    const dora = await register(api, 'dora');
    expect((await asAdmin('POST', `/api/admin/users/${dora.id}/logout-all`)).res.statusCode).toBe(204);
    const deleted = await asAdmin('DELETE', `/api/admin/users/${dora.id}`);
    expect(deleted.res.statusCode, deleted.res.body).toBe(202);
    const restored = await asAdmin('POST', `/api/admin/users/${dora.id}/restore`);
    expect(restored.res.statusCode, restored.res.body).toBe(200);
    const list = await forTarget('user', dora.id);
    // Newest first.
    expect(list.map((e) => e.action)).toEqual(['user.restore', 'user.delete', 'user.logout_all']);
    expect(list[1].changes.is_active).toEqual([true, false]);
    expect(list[1].changes.delete_after[0]).toBeNull();
    expect(list[1].request_id).toBe(deleted.requestId);
    expect(list[0].changes.is_active).toEqual([false, true]);
    expect(list[0].changes.delete_after[1]).toBeNull();
    expect(list[0].ip).toBe(restored.ip);
  });

  it('a refused action writes nothing: last-admin 400, unknown user 404, restore of an unscheduled account', async () => {
    const before = await total();
    expect((await asAdmin('PATCH', `/api/admin/users/${admin.id}`, { role: 'user' })).res.statusCode).toBe(400);
    expect((await asAdmin('DELETE', `/api/admin/users/${admin.id}`)).res.statusCode).toBe(400);
    expect((await asAdmin('PATCH', '/api/admin/users/999999', { is_active: false })).res.statusCode).toBe(404);
    expect((await asAdmin('POST', '/api/admin/users/999999/logout-all')).res.statusCode).toBe(404);
    expect((await asAdmin('DELETE', '/api/admin/uploads/00000000-0000-4000-8000-000000000000')).res.statusCode).toBe(
      404,
    );
    const erin = await register(api, 'erin');
    expect((await asAdmin('POST', `/api/admin/users/${erin.id}/restore`)).res.statusCode).toBe(400);
    expect(await total()).toBe(before);
  });

  it('upload.delete and analysis.retry; the entry outlives the upload and keeps its title', async () => {
    const owner = await register(api, 'owner');
    const png = await solidPng(8, 8);
    const upload = await postUpload(
      api,
      owner,
      multipart([
        { name: 'title', value: 'Holiday at the lake' },
        { name: 'file', filename: 'lake.png', contentType: 'image/png', data: png },
      ]),
    );
    // No worker here: mark its analysis failed, as a worker would, to retry it.
    const [analysis] = await db.query('SELECT id FROM visual_analysis_results WHERE upload_id = ?', [upload.id]);
    await db.query("UPDATE visual_analysis_results SET status = 'failed', error = 'decoder crashed' WHERE id = ?", [
      analysis.id,
    ]);
    const retried = await asAdmin('POST', `/api/admin/visual-analysis/${analysis.id}/retry`);
    expect(retried.res.statusCode, retried.res.body).toBe(202);
    // A second retry is refused (no longer failed): no second entry.
    expect((await asAdmin('POST', `/api/admin/visual-analysis/${analysis.id}/retry`)).res.statusCode).toBe(400);
    const retries = await forTarget('analysis', analysis.id);
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({
      action: 'analysis.retry',
      changes: { status: ['failed', 'queued'], error: ['decoder crashed', null] },
    });

    const removed = await asAdmin('DELETE', `/api/admin/uploads/${upload.id}`);
    expect(removed.res.statusCode).toBe(204);
    expect(
      (await api.inject({ method: 'GET', url: `/api/admin/uploads/${upload.id}`, headers: admin.auth })).statusCode,
    ).toBe(404);
    const deletions = await forTarget('upload', upload.id);
    expect(deletions).toHaveLength(1);
    expect(deletions[0]).toMatchObject({
      action: 'upload.delete',
      target_label: 'Holiday at the lake',
      actor_id: admin.id,
      request_id: removed.requestId,
      ip: removed.ip,
    });
  });

  it("entries survive the user's purge with the username as label", async () => {
    const fred = await register(api, 'fred');
    expect((await asAdmin('DELETE', `/api/admin/users/${fred.id}?now=true`)).res.statusCode).toBe(202);
    // The purge is the worker's; removing the row directly is what it ends with.
    await db.query('DELETE FROM refresh_tokens WHERE user_id = ?', [fred.id]);
    await db.query('DELETE FROM users WHERE id = ?', [fred.id]);
    const [entry] = await forTarget('user', fred.id);
    expect(entry).toMatchObject({ action: 'user.delete', target_label: fred.username, changes: { now: [null, true] } });
  });

  it('the CLI path (createAdmin, promote) is recorded with actor cli; no password in changes', async () => {
    const users = api.get(UsersService);
    const created = await users.createAdmin({
      username: 'cliadmin',
      email: 'cliadmin@example.com',
      password: 'Another-pass-99',
      promote: false,
    });
    const promotedUser = await register(api, 'promo');
    await users.createAdmin({
      username: promotedUser.username,
      email: `${promotedUser.username}@example.com`,
      password: 'Replaced-pass-77',
      promote: true,
    });
    const [made] = await forTarget('user', created.user.id);
    expect(made).toMatchObject({
      action: 'admin.create',
      actor_id: null,
      actor_username: 'cli',
      request_id: null,
      ip: null,
      changes: { role: [null, 'admin'] },
    });
    const [promoted] = await forTarget('user', promotedUser.id);
    expect(promoted).toMatchObject({ action: 'admin.promote', changes: { role: ['user', 'admin'] } });
    const raw: Array<{ changes: string }> = await db.query('SELECT changes FROM audit_log');
    for (const row of raw)
      expect(row.changes).not.toMatch(/pass|token|Replaced-pass-77|Another-pass-99|\$argon|\$2[aby]\$/i);
  });

  it("an admin account's failed sign-in is recorded (own transaction); an ordinary account's is not", async () => {
    const before = await total();
    const attempt = (username: string, password: string) =>
      api.inject({
        method: 'POST',
        url: '/api/auth/login',
        headers: { 'x-request-id': `signin-${username}`, 'x-forwarded-for': '198.51.100.9' },
        payload: { username, password },
      });
    expect((await attempt(admin.username, 'Wrong-password-1')).statusCode).toBe(401);
    const plain = await register(api, 'plain');
    expect((await attempt(plain.username, 'Wrong-password-1')).statusCode).toBe(401);
    expect((await attempt('nobody-at-all', 'Wrong-password-1')).statusCode).toBe(401);
    // A successful sign-in records nothing either.
    expect((await attempt(admin.username, PASSWORD)).statusCode).toBe(200);
    expect(await total()).toBe(before + 1);
    const [entry] = await entries('action=admin.sign_in_failed');
    expect(entry).toMatchObject({
      actor_id: null,
      target_type: 'user',
      target_id: String(admin.id),
      target_label: admin.username,
      changes: {},
      request_id: `signin-${admin.username}`,
      ip: '198.51.100.9',
    });
    expect(JSON.stringify(entry)).not.toContain('Wrong-password-1');
  });

  it('a failed restore naming an admin account is recorded like a failed sign-in (it checks the same password)', async () => {
    const other = await registerAdmin(api);
    const before = await total();
    const restore = (username: string, password: string) =>
      api.inject({
        method: 'POST',
        url: '/api/users/me/restore',
        headers: { 'x-request-id': `restore-${username}`, 'x-forwarded-for': '198.51.100.10' },
        payload: { username, password },
      });
    expect((await restore(other.username, 'Wrong-password-2')).statusCode).toBe(401);
    const plain = await register(api, 'plain');
    expect((await restore(plain.username, 'Wrong-password-2')).statusCode).toBe(401);
    // The right password (nothing to restore) is not a failed sign-in.
    expect((await restore(other.username, PASSWORD)).statusCode).toBe(400);
    expect(await total()).toBe(before + 1);
    const list = await entries(`action=admin.sign_in_failed&target_type=user&target_id=${other.id}`);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      actor_id: null,
      target_label: other.username,
      request_id: `restore-${other.username}`,
      ip: '198.51.100.10',
    });
  });

  it('filters, cursor pages, DRF 400, and a non-admin gets 403', async () => {
    const byAction = await entries('action=user.update');
    expect(byAction.length).toBeGreaterThanOrEqual(2);
    expect(byAction.every((e) => e.action === 'user.update')).toBe(true);
    const byActor = await entries(`actor_id=${admin.id}&page_size=100`);
    expect(byActor.length).toBeGreaterThan(5);
    expect(byActor.every((e) => e.actor_id === admin.id)).toBe(true);
    const future = await entries(`created_after=${new Date(Date.now() + 3600_000).toISOString()}`);
    expect(future).toEqual([]);
    const past = await entries(`created_before=${new Date(Date.now() - 3600_000).toISOString()}`);
    expect(past).toEqual([]);

    // Cursor mode: every entry once, newest first, across pages of 3.
    const all = (await entries('page_size=1000')).map((e) => e.id);
    const seen: number[] = [];
    let url: string | null = '/api/admin/audit-log?cursor=&page_size=3';
    while (url) {
      const res: { statusCode: number; body: string; json: () => { results: Entry[]; next: string | null } } =
        await api.inject({ method: 'GET', url, headers: admin.auth });
      expect(res.statusCode, res.body).toBe(200);
      const body: { results: Entry[]; next: string | null } = res.json();
      // Cursor pagination: no count, cursor links.
      expect(body).not.toHaveProperty('count');
      if (body.next) expect(new URL(body.next).searchParams.get('cursor')).toBeTruthy();
      seen.push(...body.results.map((e: Entry) => e.id));
      url = body.next ? new URL(body.next).pathname + new URL(body.next).search : null;
    }
    expect(seen).toEqual(all);
    expect(all).toEqual([...all].sort((a, b) => b - a));

    const bad = await api.inject({ method: 'GET', url: '/api/admin/audit-log?actor_id=x', headers: admin.auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().actor_id).toBeDefined();

    const user = await register(api, 'nosy');
    const denied = await api.inject({ method: 'GET', url: '/api/admin/audit-log', headers: user.auth });
    expect(denied.statusCode).toBe(403);
    // Append-only: no route changes or removes an entry.
    const [first] = await entries('page_size=1');
    for (const method of ['DELETE', 'PATCH', 'PUT'] as const) {
      const res = await api.inject({ method, url: `/api/admin/audit-log/${first.id}`, headers: admin.auth });
      expect(res.statusCode).toBe(404);
    }
  });
});

describe.skipIf(!servicesUp())('audit log retention', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack('auditret');
  });
  afterAll(() => stack?.close());

  it('pruneAuditLog removes entries older than the retention in batches and keeps the rest', async () => {
    const db = stack.api.get(DataSource);
    const insert = (daysAgo: number, label: string) =>
      db.query(
        'INSERT INTO audit_log (created_at, actor_id, actor_username, action, target_type, target_id, target_label, changes) ' +
          "VALUES (?, NULL, 'cli', 'admin.create', 'user', '1', ?, '{}')",
        [new Date(Date.now() - daysAgo * 24 * 3600 * 1000), label],
      );
    for (let i = 0; i < 5; i++) await insert(400 + i, `old-${i}`);
    await insert(364, 'recent');
    // The configured default (365 days), in batches of 2: three statements.
    expect(stack.config.audit.retentionMs).toBe(365 * 24 * 3600 * 1000);
    expect(await pruneAuditLog(db, stack.config.audit.retentionMs, 2)).toBe(5);
    const left: Array<{ target_label: string }> = await db.query('SELECT target_label FROM audit_log');
    expect(left.map((r) => r.target_label)).toEqual(['recent']);
    expect(await pruneAuditLog(db, stack.config.audit.retentionMs, 2)).toBe(0);
  });
});

/** Embedded mode (SQLite): the same writer and reader. */
describe('audit log, embedded SQLite', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startEmbedded('audit');
  });
  afterAll(() => stack?.close());

  it('records an admin update and lists it; a refused one writes nothing', async () => {
    const api = stack.api;
    const admin = await registerAdmin(api);
    const bob = await register(api, 'bob');
    const ok = await api.inject({
      method: 'PATCH',
      url: `/api/admin/users/${bob.id}`,
      headers: { ...admin.auth, 'x-request-id': 'embedded-1' },
      payload: { is_active: false },
    });
    expect(ok.statusCode).toBe(200);
    const refused = await api.inject({
      method: 'PATCH',
      url: `/api/admin/users/${admin.id}`,
      headers: admin.auth,
      payload: { role: 'user' },
    });
    expect(refused.statusCode).toBe(400);
    const res = await api.inject({
      method: 'GET',
      url: '/api/admin/audit-log?action=user.update',
      headers: admin.auth,
    });
    expect(res.statusCode, res.body).toBe(200);
    const list: Entry[] = res.json().results;
    // registerAdmin's own promotion (an in-process call: 'system') and the PATCH.
    expect(list.map((e) => [e.actor_username, e.target_id])).toEqual([
      [admin.username, String(bob.id)],
      ['system', String(admin.id)],
    ]);
    expect(list[0]).toMatchObject({ changes: { is_active: [true, false] }, request_id: 'embedded-1' });
    expect(Date.now() - Date.parse(list[0].created_at)).toBeLessThan(60_000);
  });
});
