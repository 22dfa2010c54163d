// The benchmark databases on the local MariaDB: created on demand, never anything without
// "bench" (or "test") in its name.
import mysql from 'mysql2/promise';

export function parseDatabaseUrl(url) {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!name) throw new Error(`${url}: no database name in the URL`);
  if (!/bench|test/i.test(name))
    throw new Error(`refusing to use database "${name}": its name must contain "bench" or "test"`);
  parsed.pathname = '/';
  return { name, url, serverUrl: parsed.toString().replace(/\/$/, '') };
}

export async function connect(url) {
  // timezone Z: DATETIME columns are UTC (the app's DataSource uses the same).
  return mysql.createConnection({ uri: url, timezone: 'Z' });
}

/** Runs `fn` on a fresh connection and always closes it. */
async function withConnection(url, fn) {
  const conn = await connect(url);
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

export function createDatabase(db, { drop = false } = {}) {
  return withConnection(db.serverUrl, async (conn) => {
    if (drop) await conn.query(`DROP DATABASE IF EXISTS \`${db.name}\``);
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${db.name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  });
}

export function dropDatabase(db) {
  return withConnection(db.serverUrl, (conn) => conn.query(`DROP DATABASE IF EXISTS \`${db.name}\``));
}

/** The original names of the uploads the harness makes itself (mixed scenario): `bench-<n>.png`. */
export const harnessUploadName = (n) => `bench-${n}.png`;
const HARNESS_UPLOADS = "original_name LIKE 'bench-%'";

/**
 * Deletes the uploads an earlier run made (mixed scenario, `bench-*.png`; their analyses go with
 * them by cascade). Their files went with that run's temp dir, and left in place they would grow
 * the data set run after run (~14,000 uploads per full run), so no two runs would measure the same thing.
 */
export function removeHarnessUploads(db) {
  return withConnection(db.url, async (conn) => {
    const [result] = await conn.query(`DELETE FROM uploads WHERE ${HARNESS_UPLOADS}`);
    return result.affectedRows;
  });
}

/**
 * What the seed command inserted, or null before the tables exist: uploads made by the harness
 * itself (mixed scenario, named `bench-*.png`) and their analyses are not counted, so a run never
 * triggers a reseed.
 */
export function seededCounts(db) {
  return withConnection(db.url, async (conn) => {
    try {
      const [[row]] = await conn.query(
        `SELECT (SELECT COUNT(*) FROM users) AS users,
                (SELECT COUNT(*) FROM uploads WHERE NOT ${HARNESS_UPLOADS}) AS uploads,
                (SELECT COUNT(*) FROM visual_analysis_results va JOIN uploads up ON up.id = va.upload_id WHERE NOT up.${HARNESS_UPLOADS}) AS analyses`,
      );
      return { users: Number(row.users), uploads: Number(row.uploads), analyses: Number(row.analyses) };
    } catch (err) {
      if (err.code === 'ER_NO_SUCH_TABLE') return null;
      throw err;
    }
  });
}
