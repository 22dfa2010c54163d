#!/usr/bin/env node
// The bench's bare baselines: what a minimal server does for the same request, so Echo's req/s is
// read as a ratio on the same machine in the same run. BASELINE_WORKERS processes (node:cluster,
// like API_WORKERS), each one Fastify app:
//   MODE=redis  GET any path: the response bytes the harness stored in Redis for
//               (Authorization, URL) — "Fastify + ioredis returning the same cached page".
//   MODE=mysql  GET /api/uploads?page_size=N: the same three queries Echo's own-uploads page runs
//               without a cache (count, page, latest analysis statuses), one pooled mysql2
//               connection per request; the user comes from a token → id map in Redis.
// No auth, no validation, no logging: a floor for "the same work", not a product.
import cluster from 'node:cluster';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';

const {
  MODE,
  PORT,
  REDIS_URL,
  REDIS_DB = '1',
  KEY_PREFIX,
  DATABASE_URL,
  BASELINE_WORKERS = '2',
  POOL_SIZE = '10',
} = process.env;

if (cluster.isPrimary && Number(BASELINE_WORKERS) > 1) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  for (let i = 0; i < Number(BASELINE_WORKERS); i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const app = Fastify({ logger: false });
  const redis = new Redis(REDIS_URL, { db: Number(REDIS_DB) });
  const pool =
    MODE === 'mysql'
      ? mysql.createPool({ uri: DATABASE_URL, connectionLimit: Number(POOL_SIZE), enableKeepAlive: true })
      : null;

  app.get('/health', async () => ({ ok: true }));
  app.get('/*', async (request, reply) => {
    if (MODE === 'redis') {
      const body = await redis.getBuffer(`${KEY_PREFIX}:page:${request.headers.authorization}:${request.url}`);
      if (!body) return reply.code(404).send({ detail: 'not primed' });
      return reply.type('application/json').send(body);
    }
    const userId = Number(await redis.get(`${KEY_PREFIX}:user:${request.headers.authorization}`));
    if (!userId) return reply.code(401).send({ detail: 'unknown token' });
    const size = Math.min(200, Number(request.query.page_size) || 50);
    const conn = await pool.getConnection();
    try {
      const [[{ n }]] = await conn.query('SELECT COUNT(*) AS n FROM uploads WHERE user_id = ?', [userId]);
      const [rows] = await conn.query(
        'SELECT id, user_id, title, original_name, content_type, size, sha256, width, height, created_at FROM uploads WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?',
        [userId, size],
      );
      const ids = rows.map((r) => r.id);
      const [statuses] = ids.length
        ? await conn.query(
            'SELECT id, upload_id, status, created_at FROM visual_analysis_results WHERE upload_id IN (?) ORDER BY created_at DESC',
            [ids],
          )
        : [[]];
      const latest = new Map();
      for (const s of statuses) if (!latest.has(s.upload_id)) latest.set(s.upload_id, { id: s.id, status: s.status });
      return {
        count: Number(n),
        next: Number(n) > size ? `http://${request.headers.host}/api/uploads?page=2&page_size=${size}` : null,
        previous: null,
        results: rows.map((r) => ({
          ...r,
          size: Number(r.size),
          created_at: new Date(r.created_at).toISOString(),
          analysis: latest.get(r.id) ?? null,
        })),
      };
    } finally {
      conn.release();
    }
  });
  await app.listen({ port: Number(PORT), host: '127.0.0.1', backlog: 4096 });
  process.on('SIGTERM', async () => {
    await app.close();
    redis.disconnect();
    await pool?.end();
    process.exit(0);
  });
}
