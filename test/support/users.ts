import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { UsersService } from '@echo/users';

export const PASSWORD = 'correct-horse-42';

export interface Session {
  id: number;
  username: string;
  access: string;
  refresh: string;
  auth: { authorization: string };
}

export async function register(api: NestFastifyApplication, prefix = 'u'): Promise<Session> {
  const username = `${prefix}_${randomBytes(4).toString('hex')}`;
  const res = await api.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { username, email: `${username}@example.com`, password: PASSWORD },
  });
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json();
  return {
    id: body.user.id,
    username,
    access: body.access,
    refresh: body.refresh,
    auth: { authorization: `Bearer ${body.access}` },
  };
}

export async function registerAdmin(api: NestFastifyApplication): Promise<Session> {
  const session = await register(api, 'admin');
  await api.get(UsersService).adminUpdate(session.id, { role: 'admin' });
  return session;
}

/** PATCH /api/admin/users/:id {is_active: false} as `admin`; the response, for the caller's own checks. */
export function deactivate(api: NestFastifyApplication, admin: Session, userId: number) {
  return api.inject({
    method: 'PATCH',
    url: `/api/admin/users/${userId}`,
    headers: admin.auth,
    payload: { is_active: false },
  });
}
