#!/usr/bin/env node
// The bench's bare baselines: what a minimal server does for the same request, so Echo's req/s is
// read as a ratio on the same machine in the same run. BASELINE_WORKERS processes (node:cluster,
// like API_WORKERS), each one Fastify app:
//   MODE=redis  GET any path: the response bytes the harness stored in Redis for
//               (Authorization, URL) — "Fastify + ioredis returning the same cached page".
//   MODE=mysql  Echo's three list endpoints as a careful hand-written server answers them without a
//               cache, on Echo's schema, with the same response bodies (the harness compares them):
//                 GET /api/uploads                     own uploads
//                 GET /api/admin/users/:id/uploads     one user's uploads, with username (admins)
//                 GET /api/visual-analysis             own analyses (full rows, result JSON)
//               each with `page` and `page_size`. Per request, on one pooled mysql2 connection:
//               the caller's user row (active? token version? admin?), COUNT(*), and the page
//               with each upload's latest analysis (and owner) joined — 3 statements. The access
//               token is verified (HS256, JWT_SECRET) and remembered until it expires, and file_url
//               / thumbnail_url are signed as libs/uploads/src/media/media-urls.ts does (HMAC-SHA256,
//               signatures kept per expiry window) — the same work Echo does for them.
// No validation beyond that, no logging, no metrics: a floor for "the same work", not a product.
// STATS_PORT (MODE=mysql): GET / answers {requests, statements} summed over the workers.
import cluster from 'node:cluster';
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';

const {
  MODE,
  PORT,
  STATS_PORT,
  REDIS_URL,
  REDIS_DB = '1',
  KEY_PREFIX,
  DATABASE_URL,
  JWT_SECRET,
  MEDIA_URL_SECRET,
  MEDIA_URL_TTL_SECONDS = '3600',
  BASELINE_WORKERS = '2',
  POOL_SIZE = '10',
} = process.env;

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 200;

if (cluster.isPrimary && Number(BASELINE_WORKERS) > 1) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  for (let i = 0; i < Number(BASELINE_WORKERS); i++) cluster.fork();
  if (STATS_PORT) servePrimaryStats(Number(STATS_PORT));
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const stats = { requests: 0, statements: 0 };
  process.on('message', (msg) => {
    if (msg === 'stats') process.send({ stats });
  });
  if (cluster.isPrimary && STATS_PORT) serveOwnStats(Number(STATS_PORT), stats);
  const app = Fastify({ logger: false });
  if (MODE === 'redis') {
    const redis = new Redis(REDIS_URL, { db: Number(REDIS_DB) });
    app.get('/*', async (request, reply) => {
      const body = await redis.getBuffer(`${KEY_PREFIX}:page:${request.headers.authorization}:${request.url}`);
      if (!body) return reply.code(404).send({ detail: 'not primed' });
      return reply.type('application/json').send(body);
    });
    app.addHook('onClose', async () => redis.disconnect());
  } else {
    mysqlRoutes(app, stats);
  }
  app.get('/health', async () => ({ ok: true }));
  await app.listen({ port: Number(PORT), host: '127.0.0.1', backlog: 4096 });
  process.on('SIGTERM', async () => {
    await app.close();
    process.exit(0);
  });
}

function mysqlRoutes(app, stats) {
  // timezone Z: DATETIME columns are UTC, as Echo's DataSource reads them.
  const pool = mysql.createPool({
    uri: DATABASE_URL,
    connectionLimit: Number(POOL_SIZE),
    enableKeepAlive: true,
    timezone: 'Z',
  });
  app.addHook('onClose', async () => pool.end());
  const tokens = accessTokens(JWT_SECRET);
  const media = mediaUrls();

  const UPLOAD_COLUMNS =
    'up.id, up.user_id, up.title, up.original_name, up.content_type, up.size, up.sha256, up.width, up.height, up.created_at';
  // Each page row's latest analysis: one probe of ix_var_upload_created per row of the page.
  const LATEST =
    'LEFT JOIN visual_analysis_results latest ON latest.id = (SELECT v.id FROM visual_analysis_results v ' +
    'WHERE v.upload_id = up.id ORDER BY v.created_at DESC, v.id DESC LIMIT 1)';
  // The page's ids from the (user_id, created_at, id) index first, then only those rows are read
  // and joined (a deferred join: OFFSET skips index entries, not joined rows).
  const uploadsPage = (withOwner) =>
    `SELECT ${UPLOAD_COLUMNS}, latest.id AS analysis_id, latest.status AS analysis_status` +
    `${withOwner ? ', owner.username' : ''} FROM (SELECT id FROM uploads WHERE user_id = ? ` +
    'ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?) ids JOIN uploads up ON up.id = ids.id ' +
    `${LATEST}${withOwner ? ' JOIN users owner ON owner.id = up.user_id' : ''} ORDER BY up.created_at DESC, up.id DESC`;
  const ANALYSES_PAGE =
    'SELECT va.id, va.upload_id, va.status, va.progress, va.attempts, va.error, va.result, va.analyzer_version, ' +
    'va.created_at, va.started_at, va.completed_at FROM (SELECT id FROM visual_analysis_results WHERE user_id = ? ' +
    'ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?) ids JOIN visual_analysis_results va ON va.id = ids.id ' +
    'ORDER BY va.created_at DESC, va.id DESC';

  /** The three statements of a list page on one connection; null when the page is past the end. */
  async function listPage(request, reply, options) {
    try {
      return await answerPage(request, reply, options);
    } finally {
      stats.requests++; // once answered, so requests and statements are counted alike
    }
  }

  async function answerPage(request, reply, { toBody, admin = false, count, page: pageSql, ownerId }) {
    const claims = tokens.verify(request.headers.authorization);
    if (!claims) return reply.code(401).send({ detail: 'Given token not valid for any token type' });
    const { page, size } = pageParams(request.query);
    if (page === null) return reply.code(404).send({ detail: 'Invalid page.' });
    const conn = await pool.getConnection();
    try {
      const q = async (sql, params) => {
        stats.statements++;
        return (await conn.query(sql, params))[0];
      };
      const [user] = await q('SELECT id, role, is_active, token_version FROM users WHERE id = ?', [claims.userId]);
      if (!user || !user.is_active) return reply.code(401).send({ detail: 'User is inactive or deleted.' });
      if (Number(user.token_version ?? 0) !== claims.version)
        return reply.code(401).send({ detail: 'Token has been revoked.' });
      if (admin && user.role !== 'admin')
        return reply.code(403).send({ detail: 'You do not have permission to perform this action.' });
      const listOwner = ownerId ?? claims.userId;
      const [{ n }] = await q(count, [listOwner]);
      const total = Number(n);
      if (page > Math.max(1, Math.ceil(total / size))) return reply.code(404).send({ detail: 'Invalid page.' });
      if (!total && admin && !(await q('SELECT id FROM users WHERE id = ?', [listOwner])).length)
        return reply.code(404).send({ detail: 'Not found.' });
      const rows = total ? await q(pageSql, [listOwner, size, (page - 1) * size]) : [];
      return pageBody(request, page, size, total, rows.map(toBody));
    } finally {
      conn.release();
    }
  }

  const upload = (withOwner) => {
    const exp = media.expiry();
    return (r) => {
      const body = {
        id: r.id,
        user_id: Number(r.user_id),
        title: r.title,
        original_name: r.original_name,
        content_type: r.content_type,
        size: Number(r.size),
        sha256: r.sha256,
        width: Number(r.width),
        height: Number(r.height),
        created_at: r.created_at.toISOString(),
        analysis: r.analysis_id ? { id: r.analysis_id, status: r.analysis_status } : null,
      };
      if (withOwner) body.username = r.username;
      body.file_url = media.url(r.id, 'file', exp);
      body.thumbnail_url = media.url(r.id, 'thumbnail', exp);
      return body;
    };
  };
  const iso = (d) => (d ? d.toISOString() : null);
  const analysis = (r) => ({
    id: r.id,
    upload_id: r.upload_id,
    status: r.status,
    progress: Number(r.progress),
    attempts: Number(r.attempts),
    error: r.error,
    result: r.result ? JSON.parse(r.result) : null,
    analyzer_version: r.analyzer_version,
    created_at: iso(r.created_at),
    started_at: iso(r.started_at),
    completed_at: iso(r.completed_at),
  });

  app.get('/api/uploads', (request, reply) =>
    listPage(request, reply, {
      toBody: upload(false),
      count: 'SELECT COUNT(*) AS n FROM uploads WHERE user_id = ?',
      page: uploadsPage(false),
    }),
  );
  app.get('/api/admin/users/:id/uploads', (request, reply) => {
    const ownerId = Number(request.params.id);
    if (!Number.isSafeInteger(ownerId) || ownerId < 1) return reply.code(404).send({ detail: 'Not found.' });
    return listPage(request, reply, {
      admin: true,
      ownerId,
      toBody: upload(true),
      count: 'SELECT COUNT(*) AS n FROM uploads WHERE user_id = ?',
      page: uploadsPage(true),
    });
  });
  app.get('/api/visual-analysis', (request, reply) =>
    listPage(request, reply, {
      toBody: analysis,
      count: 'SELECT COUNT(*) AS n FROM visual_analysis_results WHERE user_id = ?',
      page: ANALYSES_PAGE,
    }),
  );
}

/** DRF's page-number query: page ≥ 1 (else null: 404), page_size clamped to 1…200 (default 50). */
function pageParams(query) {
  const raw = query.page ?? '1';
  const page = /^\d{1,9}$/.test(raw) && Number(raw) >= 1 ? Number(raw) : null;
  const parsedSize = Number(query.page_size);
  const size =
    Number.isSafeInteger(parsedSize) && parsedSize > 0 ? Math.min(parsedSize, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
  return { page, size };
}

/** {count, next, previous, results} with absolute links that keep the other parameters (as DRF). */
function pageBody(request, page, size, count, results) {
  const link = (value) => {
    const url = new URL(request.url, `http://${request.headers.host}`);
    if (value === null) url.searchParams.delete('page');
    else url.searchParams.set('page', String(value));
    return url.toString();
  };
  return {
    count,
    next: page * size < count ? link(page + 1) : null,
    previous: page > 1 ? link(page === 2 ? null : page - 1) : null,
    results,
  };
}

/** HS256 access tokens of Echo (sub, typ 'access', ver, exp), each verified once until it expires. */
function accessTokens(secret) {
  if (!secret) throw new Error("MODE=mysql needs JWT_SECRET (the API's)");
  const key = Buffer.from(secret, 'utf8');
  const verified = new Map();
  return {
    verify(header) {
      const token = header?.startsWith('Bearer ') ? header.slice(7) : null;
      if (!token) return null;
      const known = verified.get(token);
      if (known && known.expMs > Date.now()) return known.claims;
      const [head, payload, sig] = token.split('.');
      if (!sig) return null;
      const expected = Buffer.from(createHmac('sha256', key).update(`${head}.${payload}`).digest('base64url'));
      const given = Buffer.from(sig);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
      let claims;
      try {
        const body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
        if (body.typ !== 'access' || typeof body.exp !== 'number' || body.exp * 1000 <= Date.now()) return null;
        claims = { userId: Number(body.sub), version: Number(body.ver ?? 0), expMs: body.exp * 1000 };
      } catch {
        return null;
      }
      if (verified.size > 100_000) verified.clear();
      verified.set(token, { claims, expMs: claims.expMs });
      return claims;
    },
  };
}

/** libs/uploads/src/media/media-urls.ts: the same key, expiry window, message and memo. */
function mediaUrls() {
  const key = MEDIA_URL_SECRET
    ? Buffer.from(MEDIA_URL_SECRET)
    : Buffer.from(hkdfSync('sha256', JWT_SECRET, '', 'echo media url v1', 32));
  const ttl = Number(MEDIA_URL_TTL_SECONDS);
  const window = Math.max(1, Math.floor(ttl / 4));
  let signed = { exp: 0, byUrl: new Map() };
  return {
    expiry: () => Math.ceil((Math.floor(Date.now() / 1000) + ttl) / window) * window,
    url(id, variant, exp) {
      if (signed.exp !== exp) signed = { exp, byUrl: new Map() };
      const memo = `${variant}/${id}`;
      let sig = signed.byUrl.get(memo);
      if (sig === undefined) {
        if (signed.byUrl.size >= 10_000) signed.byUrl.clear();
        sig = createHmac('sha256', key).update(`${id}\n${variant}\n${exp}`).digest('base64url');
        signed.byUrl.set(memo, sig);
      }
      return `/api/media/uploads/${id}/${variant}?exp=${exp}&sig=${sig}`;
    },
  };
}

/** Cluster: the primary asks every worker for its counters and answers their sum. */
function servePrimaryStats(port) {
  createServer(async (_req, res) => {
    const workers = Object.values(cluster.workers);
    const replies = await Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve) => {
            const timer = setTimeout(() => resolve(null), 2000);
            const onMessage = (msg) => {
              if (!msg?.stats) return;
              clearTimeout(timer);
              w.off('message', onMessage);
              resolve(msg.stats);
            };
            w.on('message', onMessage);
            w.send('stats');
          }),
      ),
    );
    const sum = { requests: 0, statements: 0, workers: replies.filter(Boolean).length };
    for (const s of replies.filter(Boolean)) {
      sum.requests += s.requests;
      sum.statements += s.statements;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(sum));
  }).listen(port, '127.0.0.1');
}

function serveOwnStats(port, stats) {
  createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ...stats, workers: 1 }));
  }).listen(port, '127.0.0.1');
}
