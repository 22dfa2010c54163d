import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { TokenService } from '@echo/users';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { PASSWORD, register, registerAdmin } from './support/users.js';

/**
 * Requests that arrive together. Each case runs RUNS times: a race that shows once in three runs
 * is caught. (MariaDB + Redis, as in production.)
 */
const RUNS = 20;

describe.skipIf(!servicesUp())('concurrent requests (MariaDB + Redis)', () => {
  let stack: TestStack;
  let api: TestStack['api'];
  let db: DataSource;

  beforeAll(async () => {
    stack = await startStack('races', { THROTTLE_AUTH_LIMIT: '100000' });
    api = stack.api;
    db = api.get(DataSource);
  });
  afterAll(() => stack?.close());

  it(`two admins demoting each other at once: one 200, the other refused with a DRF body, never a 500 (${RUNS} runs)`, async () => {
    for (let run = 0; run < RUNS; run++) {
      const [a, b] = await Promise.all([registerAdmin(api), registerAdmin(api)]);
      // Exactly these two are the active admins (earlier runs' winners are demoted directly).
      await db.query("UPDATE users SET role = 'user' WHERE role = 'admin' AND id NOT IN (?, ?)", [a.id, b.id]);
      const [ab, ba] = await Promise.all([
        api.inject({ method: 'PATCH', url: `/api/admin/users/${b.id}`, headers: a.auth, payload: { role: 'user' } }),
        api.inject({ method: 'PATCH', url: `/api/admin/users/${a.id}`, headers: b.auth, payload: { role: 'user' } }),
      ]);
      const why = `run ${run}: ${ab.statusCode} ${ab.body} / ${ba.statusCode} ${ba.body}`;
      expect(
        [ab, ba].filter((r) => r.statusCode === 200),
        why,
      ).toHaveLength(1);
      // Which refusal the loser gets depends on timing, and both are right: 400 when both were
      // authorised before either committed (the last-admin guard stops the second), 403 when the
      // winner's demotion committed before the loser was authorised (no longer an admin).
      const loser = ab.statusCode === 200 ? ba : ab;
      expect([400, 403], why).toContain(loser.statusCode);
      expect(loser.json(), why).toEqual({
        detail:
          loser.statusCode === 400
            ? 'Cannot demote or deactivate the last active admin.'
            : 'You do not have permission to perform this action.',
      });
      const admins = await db.query("SELECT id FROM users WHERE role = 'admin' AND is_active = 1");
      expect(admins, why).toHaveLength(1);
    }
  });

  it(`ten refreshes with one token: one pair issued, and after the detected reuse no token of that family refreshes again (${RUNS} runs)`, async () => {
    for (let run = 0; run < RUNS; run++) {
      const s = await register(api, 'fam');
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: s.refresh } }),
        ),
      );
      const winners = results.filter((r) => r.statusCode === 200);
      expect(winners, `run ${run}`).toHaveLength(1);
      expect(results.filter((r) => r.statusCode === 401)).toHaveLength(9);
      const again = await api.inject({
        method: 'POST',
        url: '/api/auth/refresh',
        payload: { refresh: winners[0].json().refresh },
      });
      expect(again.statusCode, `run ${run}: the winner's token still refreshed`).toBe(401);
    }
  });

  it('a token the family issues after its reuse was detected is refused too (the losing order of that race, made deterministic)', async () => {
    const s = await register(api, 'late');
    const first = await api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: s.refresh } });
    expect(first.statusCode).toBe(200);
    // Reuse of the spent token: the family is revoked.
    expect(
      (await api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: s.refresh } })).statusCode,
    ).toBe(401);
    // The winner of a concurrent rotation writes its new row only now.
    const [{ family_id: familyId }] = await db.query('SELECT family_id FROM refresh_tokens WHERE id = ?', [
      s.refresh.split('.')[0],
    ]);
    const late = await api.get(TokenService).issuePair({ id: s.id, tokenVersion: 0 }, familyId);
    const res = await api.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh: late.refresh } });
    expect(res.statusCode).toBe(401);
  });

  it(`a missing field is reported as missing, once, never with a length message (${RUNS} runs)`, async () => {
    const s = await register(api, 'miss');
    for (let run = 0; run < RUNS; run++) {
      const [email, password, registration, login] = await Promise.all([
        api.inject({
          method: 'PATCH',
          url: '/api/users/me',
          headers: s.auth,
          payload: { email: `new${run}@example.com` },
        }),
        api.inject({
          method: 'PATCH',
          url: '/api/users/me',
          headers: s.auth,
          payload: { password: 'another-pass-99' },
        }),
        api.inject({ method: 'POST', url: '/api/auth/register', payload: { email: `m${run}@example.com` } }),
        api.inject({ method: 'POST', url: '/api/auth/login', payload: {} }),
      ]);
      expect(email.statusCode).toBe(400);
      expect(email.json()).toEqual({ current_password: ['This field is required to change the password or email.'] });
      expect(password.json()).toEqual({
        current_password: ['This field is required to change the password or email.'],
      });
      expect(registration.json()).toEqual({
        username: ['This field is required.'],
        password: ['This field is required.'],
      });
      expect(login.json()).toEqual({ username: ['This field is required.'], password: ['This field is required.'] });
    }
    // A value that is there but wrong still gets the validator's message.
    const long = await api.inject({
      method: 'PATCH',
      url: '/api/users/me',
      headers: s.auth,
      payload: { email: 'x@example.com', current_password: 'x'.repeat(200) },
    });
    expect(long.json()).toEqual({
      current_password: ['Current_password must be shorter than or equal to 128 characters.'],
    });
    const wrong = await api.inject({
      method: 'PATCH',
      url: '/api/users/me',
      headers: s.auth,
      payload: { email: 'x@example.com', current_password: `${PASSWORD}x` },
    });
    expect(wrong.json()).toEqual({ current_password: ['Your current password was entered incorrectly.'] });
  });
});
