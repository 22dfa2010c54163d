import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { register, registerAdmin, type Session } from './support/users.js';
import { multipart, solidPng } from './support/images.js';
import { postUpload } from './support/uploads.js';

/** The admin routes the console adds: upload detail and moderation delete, anyone's analyses. */
describe.skipIf(!servicesUp())('admin uploads and analyses (MariaDB + Redis)', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let db: DataSource;
  let admin: Session;
  let alice: Session;
  let bob: Session;

  const upload = async (s: Session, color: string) => {
    const form = multipart([
      { name: 'file', filename: 'a.png', contentType: 'image/png', data: await solidPng(40, 30, color) },
    ]);
    return postUpload(api, s, form);
  };
  const get = (s: Session, url: string) => api.inject({ method: 'GET', url, headers: s.auth });

  beforeAll(async () => {
    stack = await startStack('adminapi');
    api = stack.api;
    db = api.get(DataSource);
    admin = await registerAdmin(api);
    alice = await register(api, 'alice');
    bob = await register(api, 'bob');
  });
  afterAll(() => stack?.close());

  it("GET /api/admin/uploads/:id: anyone's upload with its owner and media URLs; 404, 400, 403", async () => {
    const up = await upload(alice, '#102030');
    const res = await get(admin, `/api/admin/uploads/${up.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      id: up.id,
      user_id: alice.id,
      username: alice.username,
      analysis: { status: 'queued' },
    });
    expect(res.json().file_url).toMatch(/^\/api\/media\/uploads\//);
    expect((await get(admin, '/api/admin/uploads/00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    const bad = await get(admin, '/api/admin/uploads/not-a-uuid');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toHaveProperty('detail');
    expect((await get(bob, `/api/admin/uploads/${up.id}`)).statusCode).toBe(403);
  });

  it("DELETE /api/admin/uploads/:id removes the row, its analyses and its file; the owner's listing drops it", async () => {
    const up = await upload(alice, '#203040');
    const file = join(stack.config.storage.dir, `${alice.id}/${up.id}`);
    expect(existsSync(file)).toBe(true);
    expect((await get(alice, '/api/uploads')).json().results.map((u: { id: string }) => u.id)).toContain(up.id);
    expect(
      (await api.inject({ method: 'DELETE', url: `/api/admin/uploads/${up.id}`, headers: bob.auth })).statusCode,
    ).toBe(403);
    expect(
      (await api.inject({ method: 'DELETE', url: `/api/admin/uploads/${up.id}`, headers: admin.auth })).statusCode,
    ).toBe(204);
    expect(existsSync(file)).toBe(false);
    expect(Number((await db.query('SELECT COUNT(*) AS n FROM uploads WHERE id = ?', [up.id]))[0].n)).toBe(0);
    expect(
      Number((await db.query('SELECT COUNT(*) AS n FROM visual_analysis_results WHERE upload_id = ?', [up.id]))[0].n),
    ).toBe(0);
    expect((await get(alice, '/api/uploads')).json().results.map((u: { id: string }) => u.id)).not.toContain(up.id);
    expect(
      (await api.inject({ method: 'DELETE', url: `/api/admin/uploads/${up.id}`, headers: admin.auth })).statusCode,
    ).toBe(404);
  });

  it("GET /api/admin/visual-analysis: anyone's, filtered by status, stuck, upload_ids and user_id; bad filters are 400", async () => {
    const a = await upload(alice, '#304050');
    const b = await upload(bob, '#405060');
    // One failed, one stuck (queued long ago), as the worker and time would leave them.
    await db.query("UPDATE visual_analysis_results SET status = 'failed', error = 'broken' WHERE upload_id = ?", [
      a.id,
    ]);
    await db.query('UPDATE visual_analysis_results SET created_at = NOW(3) - INTERVAL 1 DAY WHERE upload_id = ?', [
      b.id,
    ]);

    const failed = (await get(admin, '/api/admin/visual-analysis?status=failed')).json();
    expect(failed.results.map((r: { upload_id: string }) => r.upload_id)).toEqual([a.id]);
    expect(failed.results[0]).toMatchObject({ user_id: alice.id, error: 'broken', status: 'failed' });
    const stuck = (await get(admin, '/api/admin/visual-analysis?status=stuck')).json();
    expect(stuck.results.map((r: { upload_id: string }) => r.upload_id)).toContain(b.id);
    expect(stuck.results.map((r: { upload_id: string }) => r.upload_id)).not.toContain(a.id);
    const both = (await get(admin, `/api/admin/visual-analysis?upload_ids=${a.id},${b.id}`)).json();
    expect(both.count).toBe(2);
    const bobs = (await get(admin, `/api/admin/visual-analysis?user_id=${bob.id}`)).json();
    expect(bobs.results.every((r: { user_id: number }) => r.user_id === bob.id)).toBe(true);

    expect((await get(admin, '/api/admin/visual-analysis?status=nope')).json()).toHaveProperty('status');
    const tooMany = Array.from({ length: 201 }, () => a.id).join(',');
    const res = await get(admin, `/api/admin/visual-analysis?upload_ids=${tooMany}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toHaveProperty('upload_ids');
    expect((await get(admin, '/api/admin/visual-analysis?upload_ids=x,y')).statusCode).toBe(400);
    expect((await get(alice, '/api/admin/visual-analysis')).statusCode).toBe(403);
  });
});
