#!/usr/bin/env node
// Echo load harness: seeds `echo_bench`, starts the built API (cluster) and worker, logs in
// seeded users, and runs autocannon scenarios at several connection counts. Results go to
// bench/results/<timestamp>.md/.json and bench/results/latest.md.
//
//   npm run bench -- [--quick] [--connections 100,200] [--duration 60] [--scenarios profile,mixed] …
//   node bench/run.js --help
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  connect,
  createDatabase,
  harnessUploadName,
  parseDatabaseUrl,
  removeHarnessUploads,
  seededCounts,
} from './lib/db.js';
import { uniquePngs, multipartBody } from './lib/images.js';
import { counters, delta, Sampler, scrape, serverLatency } from './lib/metrics.js';
import { Redis } from 'ioredis';
import {
  childPids,
  freePort,
  onceCleanup,
  rssMb,
  runNode,
  startNode,
  stop as stopProc,
  stopAll,
  waitForHttp,
} from './lib/processes.js';
import { environment, fmt, table, timestamp, writeResults } from './lib/report.js';
import { deepCursor, loginAll, pickUsers } from './lib/seed-data.js';
import {
  assertBuilt,
  cleanRedis,
  CLI_MAIN,
  apiMetricsUrl,
  REDIS_URL,
  runMigrations,
  stackSettings,
  startApi,
  startWorker,
} from './lib/stack.js';

const BASELINE_MAIN = new URL('./baseline/server.js', import.meta.url).pathname;

const SCENARIOS = ['uploads-page', 'profile', 'admin-user-uploads', 'cursor-deep', 'mixed'];

const HELP = `Echo load harness (autocannon). Needs a build: npm run bench builds first.

  --quick                     1000 users / 20000 uploads / 10000 analyses, connections 50,100, 5 s
  --users N --uploads N --analyses N   seed sizes (default 10000 / 200000 / 100000)
  --reseed                    reseed even if the database already holds those sizes
  --password P                the seeded users' password (default echo-bench-pass-1)
  --connections 100,200,…     connection counts (default 100,200,500,1000)
  --duration S                seconds per run (default 60)
  --scenarios a,b             subset of ${SCENARIOS.join(', ')}
  --tokens N                  seeded users logged in and rotated through (default 500; quick 100)
  --api-workers N             API_WORKERS (default 2)
  --pool-size N               DB_POOL_SIZE per API process (default 10)
  --cache-off-connections N   connections of the cache on/off comparison (default: first of --connections)
  --skip-cache-off            skip the cache on/off comparison
  --skip-baseline             skip the bare baselines (Fastify + ioredis / + mysql2, same process count)
  --accept-encoding E         send Accept-Encoding (e.g. gzip); default none (no compression)
  --timeout S                 autocannon request timeout (default 10)
  --pause S                   pause between runs (default 2)
  --warmup S                  unmeasured load after each API start, before its first measured run (default 5; quick 2)
  --keep-logs                 keep the temp dir (API/worker logs, storage) after the run

Env: BENCH_DATABASE_URL (default mysql://root@127.0.0.1:3306/echo_bench), BENCH_REDIS_URL.`;

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    users: { type: 'string' },
    uploads: { type: 'string' },
    analyses: { type: 'string' },
    reseed: { type: 'boolean', default: false },
    password: { type: 'string', default: 'echo-bench-pass-1' },
    connections: { type: 'string' },
    duration: { type: 'string' },
    scenarios: { type: 'string' },
    tokens: { type: 'string' },
    'api-workers': { type: 'string', default: '2' },
    'pool-size': { type: 'string', default: '10' },
    'cache-off-connections': { type: 'string' },
    'skip-cache-off': { type: 'boolean', default: false },
    'skip-baseline': { type: 'boolean', default: false },
    'accept-encoding': { type: 'string' },
    timeout: { type: 'string', default: '10' },
    pause: { type: 'string' },
    warmup: { type: 'string' },
    'keep-logs': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}

const int = (raw, fallback, name) => {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer (got ${raw})`);
  return n;
};
const intList = (raw, fallback, name) =>
  raw === undefined
    ? fallback
    : raw
        .split(',')
        .map((x) => int(x.trim(), 0, name))
        .filter((n) => n > 0);

const quick = flags.quick;
const settings = {
  sizes: {
    users: int(flags.users, quick ? 1000 : 10000, 'users'),
    uploads: int(flags.uploads, quick ? 20000 : 200000, 'uploads'),
    analyses: int(flags.analyses, quick ? 10000 : 100000, 'analyses'),
  },
  connections: intList(flags.connections, quick ? [50, 100] : [100, 200, 500, 1000], 'connections'),
  duration: int(flags.duration, quick ? 5 : 60, 'duration'),
  scenarios: flags.scenarios ? flags.scenarios.split(',').map((s) => s.trim()) : SCENARIOS,
  tokens: int(flags.tokens, quick ? 100 : 500, 'tokens'),
  apiWorkers: int(flags['api-workers'], 2, 'api-workers'),
  poolSize: int(flags['pool-size'], 10, 'pool-size'),
  timeout: int(flags.timeout, 10, 'timeout'),
  pause: int(flags.pause, quick ? 1 : 2, 'pause'),
  warmup: int(flags.warmup, quick ? 2 : 5, 'warmup'),
  acceptEncoding: flags['accept-encoding'] ?? null,
};
settings.cacheOffConnections = int(flags['cache-off-connections'], settings.connections[0], 'cache-off-connections');
for (const s of settings.scenarios)
  if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}: one of ${SCENARIOS.join(', ')}`);

const db = parseDatabaseUrl(process.env.BENCH_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/echo_bench');
const stamp = timestamp();
const state = {
  startedAt: new Date(),
  quietConn: null,
  warmApi: null,
  tempDir: null,
  stack: null,
  api: null,
  worker: null,
  sampler: null,
  instance: null,
  runs: [],
  cacheComparison: [],
  baselines: [],
  notes: [],
  written: false,
  failed: false,
};

// --- scenarios: each returns the next request (rotating users) ---

function get(path, token) {
  return { method: 'GET', path, headers: { authorization: `Bearer ${token}` } };
}

function rotate(list) {
  let i = 0;
  return () => list[i++ % list.length];
}

function buildScenarios({ users, heavy, admin, cursors, pngs }) {
  const nextUser = rotate(users);
  const nextHeavy = rotate(heavy);
  const nextCursor = rotate(cursors);
  let uploadCount = 0;
  const reads = {
    'uploads-page': () => get('/api/uploads?page_size=50', nextUser().token),
    profile: () => get('/api/users/me', nextUser().token),
    'admin-user-uploads': () => get(`/api/admin/users/${nextHeavy().id}/uploads?page_size=50`, admin.token),
    'cursor-deep': () => {
      const c = nextCursor();
      return get(`/api/uploads?page_size=50&cursor=${c.cursor}`, c.token);
    },
  };
  // Image k % P by user k % T: with P prime the (image, user) pairs repeat only after P × T uploads.
  const upload = () => {
    const k = uploadCount++;
    const { body, contentType } = multipartBody(pngs[k % pngs.length], {
      filename: harnessUploadName(k),
      fields: { title: `bench ${k}` },
    });
    return {
      method: 'POST',
      path: '/api/uploads',
      headers: { authorization: `Bearer ${users[k % users.length].token}`, 'content-type': contentType },
      body,
    };
  };
  const mix = (parts) => {
    const total = parts.reduce((a, [w]) => a + w, 0);
    return () => {
      let r = Math.random() * total;
      for (const [w, fn] of parts) if ((r -= w) < 0) return fn();
      return parts[parts.length - 1][1]();
    };
  };
  return {
    ...reads,
    upload,
    // 90 % reads of the scenarios above, 10 % uploads.
    mixed: mix([
      [35, reads['uploads-page']],
      [30, reads.profile],
      [10, reads['admin-user-uploads']],
      [15, reads['cursor-deep']],
      [10, upload],
    ]),
    // The cache comparison: the two endpoints behind the cached user record.
    'read-mix': mix([
      [50, reads.profile],
      [50, reads['uploads-page']],
    ]),
  };
}

async function checkOnce(baseUrl, request) {
  const res = await fetch(`${baseUrl}${request.path}`, {
    method: request.method,
    headers: request.headers,
    body: request.body,
  });
  const text = await res.text();
  return { ok: res.status >= 200 && res.status < 300, status: res.status, text: text.slice(0, 200) };
}

// --- one autocannon run with a one-line ticker ---

function load(baseUrl, scenario, connections, label, duration = settings.duration) {
  const extraHeaders = settings.acceptEncoding ? { 'accept-encoding': settings.acceptEncoding } : {};
  const isTty = process.stderr.isTTY;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: baseUrl,
        connections,
        duration,
        timeout: settings.timeout,
        requests: [
          {
            method: 'GET',
            path: '/',
            setupRequest: (req) => {
              const next = scenario();
              return {
                ...req,
                method: next.method,
                path: next.path,
                body: next.body,
                headers: { ...req.headers, ...extraHeaders, ...next.headers },
              };
            },
          },
        ],
      },
      (err, result) => {
        state.instance = null;
        if (isTty) process.stderr.write('\n');
        if (err) reject(err);
        else resolve(result);
      },
    );
    state.instance = instance;
    let seconds = 0;
    let errors = 0;
    let non2xx = 0;
    let total = 0;
    instance.on('reqError', () => errors++);
    instance.on('response', (_client, status) => {
      if (status < 200 || status >= 300) non2xx++;
    });
    instance.on('tick', ({ counter }) => {
      seconds++;
      total += counter;
      const peaks = state.samplerRun?.peaks;
      const line = `  ${label}  ${String(Math.min(seconds, duration)).padStart(3)}/${duration} s  ${fmt(counter).padStart(6)} req/s  total ${fmt(total)}  errors ${errors}  non-2xx ${non2xx}${peaks?.threads ? `  db threads ≤${peaks.threads}` : ''}`;
      if (isTty) process.stderr.write(`\r${line.padEnd(110)}`);
      else if (seconds % Math.max(5, Math.ceil(duration / 6)) === 0 || seconds === duration) console.log(line);
    });
  });
}

/**
 * Uploads of the mixed scenario leave analyses for the worker: wait until they are done, so the
 * next run does not share the CPU with them. (Seeded "queued" rows are older than the harness.)
 */
async function waitForQuiet(maxMs = 180_000) {
  state.quietConn ??= await connect(db.url);
  const deadline = Date.now() + maxMs;
  let said = false;
  while (Date.now() < deadline) {
    const [[row]] = await state.quietConn.query(
      "SELECT COUNT(*) AS n FROM visual_analysis_results WHERE status IN ('queued', 'processing') AND created_at >= ?",
      [state.startedAt],
    );
    const pending = Number(row.n);
    if (!pending) return;
    if (!said) console.log(`  (waiting for ${pending} analyses of the harness' uploads to finish first)`);
    said = true;
    await sleep(500);
  }
  state.notes.push(
    `The analysis backlog of the upload runs had not drained after ${maxMs / 1000} s when a later run started.`,
  );
}

async function measure(name, scenario, connections) {
  const { api, worker, sampler } = state;
  if (state.warmApi !== api && settings.warmup > 0) {
    // Fresh processes: JIT, pools and cache fill up before anything is measured.
    await load(api.baseUrl, scenario, connections, `warm-up ${name} c=${connections}`, settings.warmup);
    state.warmApi = api;
  }
  await waitForQuiet();
  const before = await counters(state.metricsUrl, state.stack.metricsToken);
  state.samplerRun = sampler.start(
    { primary: api.proc.pid, worker: worker.proc.pid },
    { url: state.metricsUrl, token: state.stack.metricsToken },
  );
  let result;
  try {
    result = await load(api.baseUrl, scenario, connections, `${name} c=${connections}`);
  } finally {
    state.peaks = await state.samplerRun.stop();
    state.samplerRun = null;
  }
  const after = await counters(state.metricsUrl, state.stack.metricsToken);
  const peaks = state.peaks;
  const requests = result.requests.total;
  const dq = delta(after, before, 'dbQueries');
  const hits = delta(after, before, 'cacheHits');
  const misses = delta(after, before, 'cacheMisses');
  const cacheErrors = delta(after, before, 'cacheErrors');
  const apiWorkerRss = Object.values(peaks.apiWorkers).filter((v) => v !== null);
  const run = {
    scenario: name,
    connections,
    durationS: result.duration,
    requests,
    rps: result.requests.average,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    server: serverLatency(before, after),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    status5xx: result['5xx'],
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, v]) => [code, v.count])),
    peakThreadsConnected: peaks.threads,
    peakPool: { open: peaks.poolOpen, waiting: peaks.poolWaiting },
    dbQueries: dq,
    dbQueriesPerRequest: dq === null || !requests ? null : dq / requests,
    cacheHitRatio: hits === null || misses === null || hits + misses === 0 ? null : hits / (hits + misses),
    cacheErrors,
    peakRssMb: { apiPrimary: peaks.primary, apiWorkers: apiWorkerRss, worker: peaks.worker },
  };
  console.log(
    `  → ${fmt(run.rps)} req/s, p50 ${fmt(run.latencyMs.p50)} ms, p99 ${fmt(run.latencyMs.p99)} ms (server ${fmt(run.server.p99Ms)}), errors ${run.errors} (timeouts ${run.timeouts}), ` +
      `non-2xx ${run.non2xx} (5xx ${run.status5xx}), db threads ≤${fmt(run.peakThreadsConnected)}, db q/req ${fmt(run.dbQueriesPerRequest, 2)}`,
  );
  return run;
}

// --- bare baselines: the same requests against a minimal server, same process count ---

async function startBaseline(mode, env = {}) {
  const port = await freePort();
  const proc = startNode(
    `baseline-${mode}`,
    BASELINE_MAIN,
    [],
    {
      ...process.env,
      MODE: mode,
      PORT: String(port),
      REDIS_URL,
      KEY_PREFIX: `${state.stack.prefix}_base`,
      DATABASE_URL: db.url,
      BASELINE_WORKERS: String(settings.apiWorkers),
      POOL_SIZE: String(settings.poolSize),
      ...env,
    },
    join(state.tempDir, `baseline-${mode}.log`),
  );
  await waitForHttp(`http://127.0.0.1:${port}/health`, { proc, timeoutMs: 30_000 });
  return { proc, baseUrl: `http://127.0.0.1:${port}`, stop: () => stopProc(proc) };
}

/** Stores what Echo answers for every (token, path) a scenario sends, for the Redis baseline. */
async function primeBaseline(users, paths) {
  const redis = new Redis(REDIS_URL, { db: 1 });
  try {
    for (const user of users) {
      const auth = `Bearer ${user.token}`;
      await redis.set(`${state.stack.prefix}_base:user:${auth}`, String(user.id), 'EX', 3600);
      for (const path of paths) {
        const res = await fetch(`${state.api.baseUrl}${path}`, { headers: { authorization: auth } });
        await redis.set(
          `${state.stack.prefix}_base:page:${auth}:${path}`,
          Buffer.from(await res.arrayBuffer()),
          'EX',
          3600,
        );
      }
    }
  } finally {
    redis.disconnect();
  }
}

async function measureBaseline(label, server, scenario, connections) {
  await waitForQuiet();
  const pids = [server.proc.pid, ...childPids(server.proc.pid)];
  let peakRss = 0;
  const timer = setInterval(() => {
    for (const pid of pids.slice(1)) peakRss = Math.max(peakRss, rssMb(pid) ?? 0);
  }, 1000);
  let result;
  try {
    result = await load(server.baseUrl, scenario, connections, `${label} c=${connections}`);
  } finally {
    clearInterval(timer);
  }
  const run = {
    scenario: label,
    connections,
    rps: result.requests.average,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    errors: result.errors,
    non2xx: result.non2xx,
    peakRssMbPerProcess: peakRss || null,
  };
  console.log(
    `  → ${fmt(run.rps)} req/s, p50 ${fmt(run.latencyMs.p50)} ms, p99 ${fmt(run.latencyMs.p99)} ms, errors ${run.errors}, non-2xx ${run.non2xx}`,
  );
  return run;
}

/** Echo's req/s for (scenario, connections) as a share of the baseline's. */
function ratio(run) {
  const base = state.baselines.find((b) => b.of === run.scenario && b.connections === run.connections);
  return base && base.rps ? run.rps / base.rps : null;
}

// --- output ---

const mb = (v) => fmt(v);
const COLUMNS = [
  { title: 'scenario', value: (r) => r.scenario, align: 'left' },
  { title: 'conns', value: (r) => r.connections },
  { title: 'req/s', value: (r) => fmt(r.rps) },
  { title: 'vs bare', value: (r) => (ratio(r) === null ? '' : `${fmt(ratio(r) * 100)}%`) },
  { title: 'p50 ms', value: (r) => fmt(r.latencyMs.p50) },
  { title: 'p99 ms', value: (r) => fmt(r.latencyMs.p99) },
  { title: 'server p99 ms', value: (r) => (r.server?.p99Ms === Infinity ? '>10,000' : fmt(r.server?.p99Ms ?? null)) },
  { title: 'server >5 s', value: (r) => fmt(r.server?.over5s ?? null) },
  { title: 'errors', value: (r) => r.errors },
  { title: 'timeouts', value: (r) => r.timeouts },
  { title: 'non-2xx', value: (r) => r.non2xx },
  { title: '5xx', value: (r) => r.status5xx },
  { title: 'db threads', value: (r) => fmt(r.peakThreadsConnected) },
  { title: 'pool open/wait', value: (r) => `${fmt(r.peakPool.open)}/${fmt(r.peakPool.waiting)}` },
  { title: 'db q/req', value: (r) => fmt(r.dbQueriesPerRequest, 2) },
  { title: 'cache hit', value: (r) => (r.cacheHitRatio === null ? 'n/a' : `${fmt(r.cacheHitRatio * 100)}%`) },
  { title: 'cache err', value: (r) => fmt(r.cacheErrors) },
  { title: 'RSS MB primary', value: (r) => mb(r.peakRssMb.apiPrimary) },
  {
    title: 'RSS MB api workers',
    value: (r) => (r.peakRssMb.apiWorkers.length ? r.peakRssMb.apiWorkers.map(mb).join(' + ') : 'n/a'),
  },
  { title: 'RSS MB worker', value: (r) => mb(r.peakRssMb.worker) },
];

function markdown(meta) {
  const env = meta.environment;
  const lines = [
    `# Echo load benchmark ${meta.stamp}${meta.partial ? ' (PARTIAL: interrupted or failed)' : ''}`,
    '',
    `- commit ${env.commit ?? '?'}${env.dirty ? ' (working tree modified)' : ''}, Node ${env.node}, ${env.cpus} × ${env.cpuModel}, ${env.memoryGb} GB RAM`,
    `- database \`${db.name}\`: ${meta.seed.users} users, ${meta.seed.uploads} uploads, ${meta.seed.analyses} analyses (seeded); autocannon on the same machine`,
    `- API_WORKERS=${settings.apiWorkers} (cluster workers seen: ${meta.clusterWorkers}), DB_POOL_SIZE=${settings.poolSize}, NODE_OPTIONS=${process.env.BENCH_NODE_OPTIONS ?? '(default)'}, ${settings.duration} s per run, ` +
      `${meta.loggedIn} users logged in and rotated, request timeout ${settings.timeout} s, ${settings.warmup} s unmeasured warm-up after each API start, ` +
      `Accept-Encoding: ${settings.acceptEncoding ?? 'none'}`,
    `- metrics: ${meta.metricsUrl ? `\`${meta.metricsUrl.replace(/:\d+\//, ':<port>/')}\`` : 'n/a (no /metrics endpoint answered)'}`,
    '',
    '## Results',
    '',
    table(state.runs, COLUMNS, { markdown: true }),
    '',
    "errors = autocannon errors (connection errors and timeouts); db threads = peak `Threads_connected` (whole server, includes the harness's own",
    'polling connection); pool open/wait = peak `echo_db_pool_connections` (all API processes, sampled each second);',
    'db q/req = Δ `echo_db_queries_total` (API processes only) ÷ requests; cache hit = Δ hits ÷ Δ (hits + misses) of',
    '`echo_cache_requests_total`; cache err = Δ `echo_cache_errors_total` (failed or slower than CACHE_COMMAND_TIMEOUT_MS, served as',
    'misses); RSS = peak VmRSS per process; server p99 / >5 s = from Δ `echo_http_request_duration_seconds` (request in to response out',
    "inside the API, interpolated in its bucket; the gap to the client's p99 is queueing in the client, the kernel and the event loop).",
  ];
  if (state.cacheComparison.length) {
    lines.push(
      '',
      '## Cache on/off (profile + uploads-page, 50/50)',
      '',
      table(state.cacheComparison, COLUMNS, { markdown: true }),
      '',
    );
    lines.push(
      '"Off" is `CACHE_ENABLED=false`: every cache read misses and nothing is written or sent to Redis. The uncached',
      'own-uploads page is also compared with the bare Fastify + mysql2 baseline (the "vs bare" column).',
      'Every variant runs on freshly started API processes with an empty cache namespace.',
    );
  }
  if (state.baselines.length) {
    lines.push('', '## Bare baselines (same requests, same process count, same machine, same run)', '');
    lines.push(
      '| baseline | for | conns | req/s | p50 ms | p99 ms | errors | non-2xx | RSS MB per process (peak) |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const b of state.baselines) {
      lines.push(
        `| ${b.scenario} | ${b.of} | ${b.connections} | ${fmt(b.rps)} | ${fmt(b.latencyMs.p50)} | ${fmt(b.latencyMs.p99)} | ${b.errors} | ${b.non2xx} | ${fmt(b.peakRssMbPerProcess)} |`,
      );
    }
    lines.push(
      '',
      '"bare redis" = Fastify + ioredis answering each request with the bytes Echo gave for it (stored once before the run): the',
      'floor of serving a cached page. "bare mysql" = Fastify + mysql2 running the same three queries as Echo\'s uncached',
      'own-uploads page (count, page, latest statuses) on one pooled connection. Neither authenticates, validates or logs.',
      'The "vs bare" column of a run is its req/s as a share of the matching baseline\'s.',
    );
  }
  if (meta.idleRssMb)
    lines.push('', `Idle RSS per API process after start (MB): ${meta.idleRssMb.map((v) => fmt(v)).join(', ')}.`);
  const statusLines = [...state.runs, ...state.cacheComparison].map(
    (r) =>
      `- ${r.scenario} c=${r.connections}: ${
        Object.entries(r.statusCodes)
          .map(([c, n]) => `${c}×${n}`)
          .join(', ') || 'none'
      }`,
  );
  lines.push('', '## Status codes', '', ...statusLines);
  if (state.notes.length) lines.push('', '## Notes', '', ...state.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

function writeAll(meta) {
  if (state.written || (!state.runs.length && !state.cacheComparison.length)) return;
  state.written = true;
  const files = writeResults(
    stamp,
    markdown(meta),
    {
      ...meta,
      settings,
      database: db.name,
      runs: state.runs,
      cacheComparison: state.cacheComparison,
      baselines: state.baselines,
      notes: state.notes,
    },
    meta.partial ? null : 'latest.md',
  );
  console.log(
    `\nResults: ${files.md}\n         ${files.json}${meta.partial ? '' : '\n         bench/results/latest.md, latest.json'}`,
  );
}

// --- lifecycle ---

const meta = {
  stamp,
  startedAt: new Date().toISOString(),
  environment: environment(),
  seed: {},
  clusterWorkers: 'n/a',
  loggedIn: 0,
  metricsUrl: null,
  partial: true,
};

const cleanup = onceCleanup(state, flags['keep-logs'], async () => {
  state.instance?.stop();
  await stopAll();
  await state.sampler?.close();
  await state.quietConn?.end().catch(() => undefined);
  if (state.stack) await cleanRedis(state.stack);
  writeAll(meta);
});

async function main() {
  assertBuilt();
  console.log(
    `Echo bench → ${db.name}: ${settings.scenarios.join(', ')} × connections ${settings.connections.join(', ')}, ${settings.duration} s each`,
  );
  state.tempDir = mkdtempSync(join(tmpdir(), 'echo-bench-'));
  state.stack = stackSettings({ databaseUrl: db.url, tempDir: state.tempDir, label: 'bench' });

  // 1. Database and seed.
  await createDatabase(db);
  let counts = await seededCounts(db);
  const wanted = settings.sizes;
  const seeded =
    counts && counts.users === wanted.users && counts.uploads === wanted.uploads && counts.analyses === wanted.analyses;
  if (!seeded || flags.reseed) {
    console.log(
      counts
        ? `Reseeding (found ${counts.users}/${counts.uploads}/${counts.analyses}, want ${wanted.users}/${wanted.uploads}/${wanted.analyses})`
        : 'Seeding',
    );
    const t = Date.now();
    await runNode(
      CLI_MAIN,
      [
        'seed',
        '--reset',
        '--users',
        wanted.users,
        '--uploads',
        wanted.uploads,
        '--analyses',
        wanted.analyses,
        '--password',
        flags.password,
      ].map(String),
      { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'warn' },
    );
    meta.seedSeconds = (Date.now() - t) / 1000;
    counts = await seededCounts(db);
  } else {
    console.log(`Already seeded: ${counts.users} users, ${counts.uploads} uploads, ${counts.analyses} analyses`);
    const removed = await removeHarnessUploads(db);
    if (removed) console.log(`Removed ${removed} uploads left by earlier runs' mixed scenario`);
  }
  meta.seed = counts;
  await runMigrations(state.stack);

  // 2. Processes.
  state.sampler = new Sampler(db.serverUrl);
  await state.sampler.open();
  const threadsIdle = await state.sampler.threadsConnected();
  console.log(`MariaDB Threads_connected before start: ${threadsIdle}`);
  console.log('Starting worker and API…');
  state.worker = await startWorker(state.stack);
  state.api = await startApi(state.stack, { API_WORKERS: settings.apiWorkers, DB_POOL_SIZE: settings.poolSize });
  meta.clusterWorkers = childPids(state.api.proc.pid).length;
  await sleep(3000);
  meta.idleRssMb = childPids(state.api.proc.pid).map((pid) => rssMb(pid));
  console.log(`Idle RSS per API process: ${meta.idleRssMb.map((v) => `${fmt(v)} MB`).join(', ')}`);
  state.metricsUrl = await apiMetricsUrl(state.api, meta.clusterWorkers, state.stack.metricsToken, scrape);
  meta.metricsUrl = state.metricsUrl;
  const probe = await counters(state.metricsUrl, state.stack.metricsToken);
  console.log(
    `API ${state.api.baseUrl} ready (pid ${state.api.proc.pid}, cluster workers: ${meta.clusterWorkers}); worker pid ${state.worker.proc.pid}; ` +
      `metrics: ${state.metricsUrl ?? 'n/a'}${state.metricsUrl && probe.dbQueries === null ? ' (no echo_db_queries_total)' : ''}`,
  );
  if (!state.metricsUrl)
    state.notes.push('No metrics endpoint answered: DB queries per request and cache hit ratio are n/a.');
  else if (probe.dbQueries === null)
    state.notes.push('The metrics endpoint has no echo_db_queries_total: DB queries per request is n/a.');
  if (settings.apiWorkers > 1 && meta.clusterWorkers === 0)
    state.notes.push(`API_WORKERS=${settings.apiWorkers} but the API forked no workers: it ran as a single process.`);

  // 3. Users and tokens.
  const picked = await pickUsers(db.url, { count: settings.tokens, heavyCount: 20 });
  if (!picked.admin) throw new Error('no active admin in the seeded database (reseed with --reseed)');
  const heavyForCursor = picked.heavy.slice(0, 5);
  const toLogin = [...new Map([...picked.users, ...heavyForCursor, picked.admin].map((u) => [u.id, u])).values()];
  const t0 = Date.now();
  const sessions = await loginAll(state.api.baseUrl, toLogin, flags.password, {
    onProgress: (done, total) => {
      if (process.stderr.isTTY) process.stderr.write(`\r  logging in ${done}/${total}`);
    },
  }).catch((err) => {
    throw new Error(`${err.message}\n(seeded with another --password? use --reseed)`);
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const byId = new Map(sessions.map((s) => [s.id, s]));
  meta.loggedIn = sessions.length;
  console.log(
    `Logged in ${sessions.length} users in ${((Date.now() - t0) / 1000).toFixed(1)} s (admin ${picked.admin.username}; heaviest user has ${picked.heavy[0]?.uploads} uploads)`,
  );

  const cursors = [];
  for (const user of heavyForCursor) {
    const c = await deepCursor(db.url, user, 0.9);
    if (c) cursors.push({ ...c, token: byId.get(user.id).token, userId: user.id });
  }
  meta.deepCursors = cursors.map((c) => ({ userId: c.userId, offset: c.offset }));
  const pngCount = quick ? 1009 : 2003;
  const tp = Date.now();
  const pngs = settings.scenarios.includes('mixed') ? await uniquePngs(pngCount, 64) : [];
  if (pngs.length)
    console.log(`Generated ${pngs.length} unique 64×64 PNGs in ${((Date.now() - tp) / 1000).toFixed(1)} s`);

  const scenarios = buildScenarios({
    users: picked.users.map((u) => byId.get(u.id)),
    heavy: picked.heavy,
    admin: byId.get(picked.admin.id),
    cursors,
    pngs: pngs.length ? pngs : await uniquePngs(3, 64),
  });

  // 4. One request of each kind first: a broken endpoint is reported, not benchmarked.
  const runnable = [];
  for (const name of settings.scenarios) {
    const probes =
      name === 'mixed' ? ['uploads-page', 'profile', 'admin-user-uploads', 'cursor-deep', 'upload'] : [name];
    let problem = null;
    for (const p of probes) {
      const check = await checkOnce(state.api.baseUrl, scenarios[p]());
      if (!check.ok) problem = `${p}: HTTP ${check.status} ${check.text}`;
    }
    if (problem) {
      console.log(`  ! skipping ${name}: ${problem}`);
      state.notes.push(`Scenario ${name} skipped: ${problem}`);
    } else runnable.push(name);
  }

  // 5. The matrix.
  for (const name of runnable) {
    for (const connections of settings.connections) {
      console.log(`\n${name} with ${connections} connections for ${settings.duration} s`);
      state.runs.push(await measure(name, scenarios[name], connections));
      await sleep(settings.pause * 1000);
    }
  }

  // 5b. The bare Redis baseline for the cached reads, at the same connection counts.
  const cachedReads = runnable.filter((n) => n === 'uploads-page' || n === 'profile');
  if (!flags['skip-baseline'] && cachedReads.length) {
    console.log('\nBare baseline (Fastify + ioredis): storing what Echo answered for each token and path…');
    const users = picked.users.map((u) => byId.get(u.id));
    await primeBaseline(users, ['/api/uploads?page_size=50', '/api/users/me']);
    const bare = await startBaseline('redis');
    try {
      for (const name of cachedReads) {
        for (const connections of settings.connections) {
          console.log(`\nbare redis for ${name} with ${connections} connections for ${settings.duration} s`);
          state.baselines.push({
            ...(await measureBaseline('bare redis', bare, scenarios[name], connections)),
            of: name,
          });
          await sleep(settings.pause * 1000);
        }
      }
    } finally {
      await bare.stop();
    }
  }

  // 6. Cache on/off on the profile + uploads-page mix.
  if (!flags['skip-cache-off']) {
    const c = settings.cacheOffConnections;
    // Both variants on freshly started API processes with an empty cache namespace, so the
    // comparison is not skewed by what the matrix left behind (heap, cache, uploads).
    const variants = [
      { label: 'read-mix (cache on)', env: {}, log: 'api-cache-on' },
      {
        label: 'read-mix (CACHE_ENABLED=false)',
        env: { CACHE_ENABLED: 'false' },
        log: 'api-cache-off',
        alsoUploadsPage: true,
      },
    ];
    for (const [i, variant] of variants.entries()) {
      console.log(`\n${variant.label}: restarting the API (fresh cache namespace)…`);
      await state.api.stop();
      try {
        state.api = await startApi(
          state.stack,
          {
            API_WORKERS: settings.apiWorkers,
            DB_POOL_SIZE: settings.poolSize,
            CACHE_NAMESPACE: `${state.stack.prefix}_c${i}`,
            ...variant.env,
          },
          variant.log,
        );
      } catch (err) {
        console.log(`  ! ${variant.label}: the API did not start: ${err.message.split('\n')[0]}`);
        state.notes.push(
          `${variant.label}: the API did not become ready (${err.message.split('\n')[0]}); not measured.`,
        );
        continue;
      }
      state.metricsUrl = await apiMetricsUrl(
        state.api,
        childPids(state.api.proc.pid).length,
        state.stack.metricsToken,
        scrape,
      );
      console.log(`${variant.label}, profile + uploads-page 50/50, ${c} connections`);
      state.cacheComparison.push({ ...(await measure('read-mix', scenarios['read-mix'], c)), scenario: variant.label });
      await sleep(settings.pause * 1000);
      if (variant.alsoUploadsPage) {
        console.log(`uploads-page with the cache off, ${c} connections`);
        state.cacheComparison.push({
          ...(await measure('uploads-page (cache off)', scenarios['uploads-page'], c)),
          scenario: 'uploads-page (cache off)',
        });
        await sleep(settings.pause * 1000);
        if (!flags['skip-baseline']) {
          const bare = await startBaseline('mysql');
          try {
            console.log(`bare Fastify + mysql2, the same queries, ${c} connections`);
            state.baselines.push({
              ...(await measureBaseline('bare mysql', bare, scenarios['uploads-page'], c)),
              of: 'uploads-page (cache off)',
            });
          } finally {
            await bare.stop();
          }
        }
      }
    }
  }

  meta.partial = false;
  meta.finishedAt = new Date().toISOString();
  console.log(`\n${table(state.runs, COLUMNS)}`);
  if (state.cacheComparison.length) console.log(`\nCache on/off:\n${table(state.cacheComparison, COLUMNS)}`);
  for (const note of state.notes) console.log(`note: ${note}`);
}

main()
  .catch((err) => {
    state.failed = true;
    process.exitCode = 1;
    console.error(`\nbench failed: ${err.stack ?? err.message}`);
  })
  .finally(() => cleanup());
