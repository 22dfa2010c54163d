// What the scenarios need from the seeded database: users to log in as, heavy uploaders, an
// admin, and deep keyset cursors.
import { connect } from './db.js';

/** Same encoding as libs/pagination/src/page-request.ts encodeCursor (string ids get an `s`). */
export function encodeCursor({ createdAt, id, direction = 'n' }) {
  const wireId = typeof id === 'number' ? id : `s${id}`;
  return Buffer.from(JSON.stringify([createdAt.getTime(), wireId, direction])).toString('base64url');
}

/**
 * @returns {{ users: {id, username, uploads}[], heavy: {id, username, uploads}[], admin: {id, username} | null }}
 * `users`: `count` random active non-admin users that own uploads; `heavy`: the active users with the most uploads.
 */
export async function pickUsers(databaseUrl, { count, heavyCount = 20 }) {
  const conn = await connect(databaseUrl);
  try {
    const [users] = await conn.query(
      `SELECT u.id, u.username, c.n AS uploads
         FROM users u JOIN (SELECT user_id, COUNT(*) AS n FROM uploads GROUP BY user_id) c ON c.user_id = u.id
        WHERE u.is_active = 1 AND u.role = 'user'
        ORDER BY RAND(42) LIMIT ?`,
      [count],
    );
    const [heavy] = await conn.query(
      `SELECT u.id, u.username, c.n AS uploads
         FROM users u JOIN (SELECT user_id, COUNT(*) AS n FROM uploads GROUP BY user_id) c ON c.user_id = u.id
        WHERE u.is_active = 1 AND u.role = 'user'
        ORDER BY c.n DESC LIMIT ?`,
      [heavyCount],
    );
    const [[admin]] = await conn.query(
      "SELECT id, username FROM users WHERE role = 'admin' AND is_active = 1 ORDER BY id LIMIT 1",
    );
    const num = (rows) => rows.map((r) => ({ id: Number(r.id), username: r.username, uploads: Number(r.uploads) }));
    return {
      users: num(users),
      heavy: num(heavy),
      admin: admin ? { id: Number(admin.id), username: admin.username } : null,
    };
  } finally {
    await conn.end();
  }
}

/** A cursor `depth` (0–1) of the way into the user's newest-first upload list. */
export async function deepCursor(databaseUrl, user, depth = 0.9) {
  const conn = await connect(databaseUrl);
  try {
    const offset = Math.max(0, Math.floor(user.uploads * depth) - 1);
    const [[row]] = await conn.query(
      'SELECT id, created_at FROM uploads WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?',
      [user.id, offset],
    );
    return row ? { cursor: encodeCursor({ createdAt: row.created_at, id: row.id }), offset } : null;
  } finally {
    await conn.end();
  }
}

/** POST /api/auth/login for each user, `concurrency` at a time; returns users with `.token`. */
export async function loginAll(baseUrl, users, password, { concurrency = 8, onProgress } = {}) {
  const out = new Array(users.length);
  let next = 0;
  let done = 0;
  const workerLoop = async () => {
    while (next < users.length) {
      const i = next++;
      const user = users[i];
      const res = await fetch(`${baseUrl}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user.username, password }),
      });
      if (res.status !== 200)
        throw new Error(`login of ${user.username} failed: HTTP ${res.status} ${await res.text()}`);
      out[i] = { ...user, token: (await res.json()).access };
      onProgress?.(++done, users.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, workerLoop));
  return out;
}

/**
 * Active non-admin users who own at least `minItems` rows of `table` (uploads or
 * visual_analysis_results; a full page 3 of 50 needs 150), most first, at most `count`: the
 * cache-off page-3 scenarios rotate through them.
 */
export async function pickPagedUsers(databaseUrl, { table, minItems, count = 1000 }) {
  if (!['uploads', 'visual_analysis_results'].includes(table)) throw new Error(`pickPagedUsers: no table ${table}`);
  const conn = await connect(databaseUrl);
  try {
    const [rows] = await conn.query(
      `SELECT u.id, u.username, c.n AS items
         FROM users u JOIN (SELECT user_id, COUNT(*) AS n FROM ${table} GROUP BY user_id) c ON c.user_id = u.id
        WHERE u.is_active = 1 AND u.role = 'user' AND c.n >= ?
        ORDER BY c.n DESC LIMIT ?`,
      [minItems, count],
    );
    return rows.map((r) => ({ id: Number(r.id), username: r.username, items: Number(r.items) }));
  } finally {
    await conn.end();
  }
}

/** Every active admin (the seed makes one per 2,000 users, at most 5). */
export async function pickAdmins(databaseUrl) {
  const conn = await connect(databaseUrl);
  try {
    const [rows] = await conn.query(
      "SELECT id, username FROM users WHERE role = 'admin' AND is_active = 1 ORDER BY id",
    );
    return rows.map((r) => ({ id: Number(r.id), username: r.username }));
  } finally {
    await conn.end();
  }
}

/**
 * `count` random active non-admin users with more than `minUploads` uploads (so their page 2
 * exists), none of `exclude` (ids): the cold-users scenario's first visitors.
 */
export async function pickColdUsers(databaseUrl, { count, minUploads, exclude = [] }) {
  const conn = await connect(databaseUrl);
  try {
    const [rows] = await conn.query(
      `SELECT u.id, u.username, c.n AS uploads
         FROM users u JOIN (SELECT user_id, COUNT(*) AS n FROM uploads GROUP BY user_id) c ON c.user_id = u.id
        WHERE u.is_active = 1 AND u.role = 'user' AND c.n > ? AND u.id NOT IN (?)
        ORDER BY RAND(7) LIMIT ?`,
      [minUploads, exclude.length ? exclude : [0], count],
    );
    return rows.map((r) => ({ id: Number(r.id), username: r.username, uploads: Number(r.uploads) }));
  } finally {
    await conn.end();
  }
}
