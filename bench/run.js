#!/usr/bin/env node
// Echo load harness: seeds `echo_bench`, starts the built API (cluster) and worker, logs in
// seeded users, and runs autocannon scenarios at several connection counts. Results go to
// bench/results/<timestamp>.md/.json and bench/results/latest.md.
//
//   npm run bench -- [--quick] [--connections 100,200] [--duration 60] [--scenarios profile,mixed] …
//   node bench/run.js --help
//
// Besides the matrix (each scenario × each connection count on one API), four phases:
// cold-page3 (page 3 of three lists with CACHE_ENABLED=false against the bare hand-written
// server), cold-users (1,000 first visits with the cache on), cluster (the matrix's
// uploads-page, profile and mixed again with Redis Cluster instead of one Redis server) and
// search (each upload filter's first page uncached on the seed's 2,000- and 20,000-upload users,
// similar photos and duplicate groups).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual, parseArgs } from 'node:util';
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
import { counters, delta, Sampler, scrape, servedRequests, serverLatency } from './lib/metrics.js';
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
import { clusterPhase } from './lib/cluster.js';
import { runVisits } from './lib/cold-users.js';
import {
  DEFAULT_BIG_USERS,
  hasBigUsers,
  pickSearchUsers,
  SEARCH_COLUMNS,
  searchMarkdown,
  searchPhase,
  searchValues,
} from './lib/search.js';
import { deepCursor, loginAll, pickAdmins, pickColdUsers, pickPagedUsers, pickUsers } from './lib/seed-data.js';
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

const SCENARIOS = [
  'uploads-page',
  'profile',
  'admin-user-uploads',
  'cursor-deep',
  'mixed',
  'cold-page3',
  'cold-users',
  'cluster',
  'search',
];
/** Not matrix scenarios: phases with their own API restarts (see main). */
const PHASES = ['cold-page3', 'cold-users', 'cluster', 'search'];
/** What the cluster phase re-measures on Redis Cluster, of the matrix scenarios that ran: the cached reads and uploads (queue). */
const CLUSTER_SCENARIOS = ['uploads-page', 'profile', 'mixed'];
const PAGE3_SCENARIOS = ['own-uploads p3', 'admin-user-uploads p3', 'own-analyses p3'];

const HELP = `Echo load harness (autocannon). Needs a build: npm run bench builds first.

  --quick                     1000 users / 20000 uploads / 10000 analyses, connections 50,100, 5 s
  --users N --uploads N --analyses N   seed sizes (default 10000 / 200000 / 100000)
  --reseed                    reseed even if the database already holds those sizes
  --password P                the seeded users' password (default echo-bench-pass-1)
  --connections 100,200,…     connection counts (default 100,200,500,1000)
  --duration S                seconds per run (default 60)
  --scenarios a,b             subset of ${SCENARIOS.join(', ')}
                              cold-page3: own uploads, an admin's user-uploads and own analyses, page 3 of 50, with
                                CACHE_ENABLED=false, then the bare Fastify + mysql2 server (baseline/server.js) on the
                                same requests, at each --connections
                              cold-users: with the cache on (fresh API, empty cache), --cold-users users each open
                                uploads page 1, page 2, upload one small PNG, open page 1 again; at each --connections
                              cluster: after the matrix, ${CLUSTER_SCENARIOS.join(', ')} (those of them also given) again
                                with the API and worker on a 6-node Redis Cluster (redis-server + redis-cli on private
                                ports, started and stopped by the run), at each --connections, with the ratio to the
                                single-server run (e.g. --scenarios uploads-page,profile,cluster)
                              search: on a fresh API with CACHE_ENABLED=false, for each of the --big-users users, the first
                                page of GET /api/uploads unfiltered and with each filter/ordering (taken range of one summer,
                                camera_make, camera_model, has_gps, orientation, min_width, format, color, blurry, q,
                                ordering=±taken_at) at --search-connections, with p50/p99 ÷ the unfiltered page's; then
                                /api/uploads/:id/similar and /api/uploads/duplicates of the biggest at
                                --search-heavy-connections; each also one request at a time
  --big-users A,B             search: the seed's big libraries (default ${DEFAULT_BIG_USERS.join(',')}, quick a tenth; passed to the seed as
                                --big-users when search runs, reseeding if they are missing)
  --search-connections N      search: connections of the list runs (default 100)
  --search-heavy-connections N  search: connections of similar and duplicates (default 10)
  --search-page-size N        search: page_size of the first pages (default 50)
  --search-single N           search: requests one at a time after each run (default 20)
  --page3-size A-B            page_size of cold-page3, one size or a range cycled per request (default 46-55: ten sizes
                                around 50, so concurrent requests rarely share a cache key — Echo's single flight would
                                merge them; see the report); it rotates through every user whose list has a full page 3
  --cold-users N              distinct users of cold-users (default 1000; quick 200), logged in before it
  --cold-page-size N          page_size of cold-users (default 20: its users need page_size + 1 uploads for a page 2)
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
    'cold-users': { type: 'string' },
    'page3-size': { type: 'string' },
    'cold-page-size': { type: 'string' },
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
    'big-users': { type: 'string' },
    'search-connections': { type: 'string' },
    'search-heavy-connections': { type: 'string' },
    'search-page-size': { type: 'string' },
    'search-single': { type: 'string' },
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

/** `N` or `A-B` → [N] or [A…B]. */
function sizeRange(raw) {
  const m = /^(\d+)(?:-(\d+))?$/.exec(raw.trim());
  const [a, b] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [0, 0];
  if (!a || b < a || b > 200) throw new Error(`--page3-size must be N or A-B within 1…200 (got ${raw})`);
  return Array.from({ length: b - a + 1 }, (_, k) => a + k);
}

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
  page3Sizes: sizeRange(flags['page3-size'] ?? '46-55'),
  coldUsers: int(flags['cold-users'], quick ? 200 : 1000, 'cold-users'),
  coldPageSize: int(flags['cold-page-size'], 20, 'cold-page-size'),
  apiWorkers: int(flags['api-workers'], 2, 'api-workers'),
  poolSize: int(flags['pool-size'], 10, 'pool-size'),
  timeout: int(flags.timeout, 10, 'timeout'),
  pause: int(flags.pause, quick ? 1 : 2, 'pause'),
  warmup: int(flags.warmup, quick ? 2 : 5, 'warmup'),
  acceptEncoding: flags['accept-encoding'] ?? null,
  // --quick seeds a tenth of the uploads: big libraries a tenth as big.
  bigUsers: intList(flags['big-users'], quick ? DEFAULT_BIG_USERS.map((n) => n / 10) : DEFAULT_BIG_USERS, 'big-users'),
  searchConnections: int(flags['search-connections'], 100, 'search-connections'),
  searchHeavyConnections: int(flags['search-heavy-connections'], 10, 'search-heavy-connections'),
  searchPageSize: int(flags['search-page-size'], 50, 'search-page-size'),
  searchSingle: Math.max(1, int(flags['search-single'], 20, 'search-single')),
};
settings.cacheOffConnections = int(flags['cache-off-connections'], settings.connections[0], 'cache-off-connections');
for (const s of settings.scenarios)
  if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}: one of ${SCENARIOS.join(', ')}`);
/** The seed's big libraries, when the search phase needs them (other runs keep the data set they compare with). */
const bigUsers = settings.scenarios.includes('search') ? settings.bigUsers : [];
if (bigUsers.reduce((a, b) => a + b, 0) > settings.sizes.uploads)
  throw new Error(`--big-users ${bigUsers.join(',')} does not fit in ${settings.sizes.uploads} uploads (--uploads)`);

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
  coldPages: [],
  coldUsers: [],
  clusterRuns: [],
  searchRuns: [],
  cluster: null,
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

function buildScenarios({ users, heavy, admin, cursors, pngs, paged }) {
  const nextUser = rotate(users);
  const nextHeavy = rotate(heavy);
  const nextCursor = rotate(cursors);
  // Every (user, page size) pair in turn: user k % N with size ⌊k / N⌋ % S.
  const pairs = (list) => {
    let k = 0;
    return () => {
      const i = k++;
      const size = settings.page3Sizes[Math.floor(i / list.length) % settings.page3Sizes.length];
      return { user: list[i % list.length], query: `page=3&page_size=${size}` };
    };
  };
  const nextOwnUploads = pairs(paged.uploads);
  const nextListedOwner = pairs(paged.uploads);
  const nextOwnAnalyses = pairs(paged.analyses);
  const nextAdmin = rotate(paged.admins);
  let uploadCount = 0;
  const reads = {
    'uploads-page': () => get('/api/uploads?page_size=50', nextUser().token),
    profile: () => get('/api/users/me', nextUser().token),
    'admin-user-uploads': () => get(`/api/admin/users/${nextHeavy().id}/uploads?page_size=50`, admin.token),
    'cursor-deep': () => {
      const c = nextCursor();
      return get(`/api/uploads?page_size=50&cursor=${c.cursor}`, c.token);
    },
    // cold-page3: every user whose list has a full page 3, every admin; distinct users in flight,
    // as far as the data allows (concurrent identical reads share one load in Echo: see the report).
    'own-uploads p3': () => {
      const { user, query } = nextOwnUploads();
      return get(`/api/uploads?${query}`, user.token);
    },
    'admin-user-uploads p3': () => {
      const { user, query } = nextListedOwner();
      return get(`/api/admin/users/${user.id}/uploads?${query}`, nextAdmin().token);
    },
    'own-analyses p3': () => {
      const { user, query } = nextOwnAnalyses();
      return get(`/api/visual-analysis?${query}`, user.token);
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

/**
 * `read()` once the value `of` it stops moving: when a load ends, the server is still answering
 * the requests in flight (up to one per connection), whose statements would otherwise be counted
 * against the next run or missing from this one. At most 15 s.
 */
async function settled(read, of) {
  let last = await read();
  let still = 0;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && still < 2) {
    await sleep(300);
    const now = await read();
    still = of(now) === of(last) ? still + 1 : 0;
    last = now;
  }
  return last;
}

/**
 * One measured run on the current API. `loader(label)`: a load other than autocannon on `scenario`
 * (cold-users), returning the same result fields; `warmScenario`: what the warm-up of fresh
 * processes sends instead of `scenario` (a cold scenario must not warm its own users).
 */
async function measure(name, scenario, connections, { loader, warmScenario } = {}) {
  const { api, worker, sampler } = state;
  if (state.warmApi !== api && settings.warmup > 0) {
    // Fresh processes: JIT, pools and cache fill up before anything is measured.
    await load(api.baseUrl, warmScenario ?? scenario, connections, `warm-up ${name} c=${connections}`, settings.warmup);
    state.warmApi = api;
  }
  await waitForQuiet();
  const before = await settled(
    () => counters(state.metricsUrl, state.stack.metricsToken),
    (c) => c.dbQueries,
  );
  state.samplerRun = sampler.start(
    { primary: api.proc.pid, worker: worker.proc.pid },
    { url: state.metricsUrl, token: state.stack.metricsToken },
  );
  let result;
  try {
    const label = `${name} c=${connections}`;
    result = loader ? await loader(label) : await load(api.baseUrl, scenario, connections, label);
  } finally {
    state.peaks = await state.samplerRun.stop();
    state.samplerRun = null;
  }
  const after = await settled(
    () => counters(state.metricsUrl, state.stack.metricsToken),
    (c) => c.dbQueries,
  );
  const peaks = state.peaks;
  const requests = result.requests.total;
  const dq = delta(after, before, 'dbQueries');
  // Per request the API finished (its own histogram), both counts taken once it went quiet: the
  // client's count leaves out the requests still in flight when the load stopped (up to one per
  // connection), whose statements are counted.
  const served = servedRequests(before, after);
  const perRequest = served || requests;
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
    requestsServed: served,
    dbQueriesPerRequest: dq === null || !perRequest ? null : dq / perRequest,
    cacheHitRatio: hits === null || misses === null || hits + misses === 0 ? null : hits / (hits + misses),
    cacheErrors,
    peakRssMb: { apiPrimary: peaks.primary, apiWorkers: apiWorkerRss, worker: peaks.worker },
    ...(result.steps ? { steps: result.steps } : {}),
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
  const statsPort = await freePort();
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
      STATS_PORT: String(statsPort),
      // The API's secret: the bare server verifies the same tokens and signs the same media URLs.
      JWT_SECRET: state.stack.env.JWT_SECRET,
      ...env,
    },
    join(state.tempDir, `baseline-${mode}.log`),
  );
  await waitForHttp(`http://127.0.0.1:${port}/health`, { proc, timeoutMs: 30_000 });
  return {
    proc,
    baseUrl: `http://127.0.0.1:${port}`,
    statsUrl: `http://127.0.0.1:${statsPort}/`,
    stop: () => stopProc(proc),
  };
}

/** The bare mysql server's {requests, statements} (summed over its processes), or null. */
async function baselineStats(server) {
  try {
    const res = await fetch(server.statsUrl, { signal: AbortSignal.timeout(5000) });
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/** Stores what Echo answers for every (token, path) a scenario sends, for the Redis baseline. */
async function primeBaseline(users, paths) {
  const redis = new Redis(REDIS_URL, { db: 1 });
  try {
    for (const user of users) {
      const auth = `Bearer ${user.token}`;
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

async function measureBaseline(label, server, scenario, connections, { warmup = 0 } = {}) {
  if (warmup > 0) await load(server.baseUrl, scenario, connections, `warm-up ${label} c=${connections}`, warmup);
  await waitForQuiet();
  const statsBefore = await settled(
    () => baselineStats(server),
    (st) => st?.statements,
  );
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
  const statsAfter = await settled(
    () => baselineStats(server),
    (st) => st?.statements,
  );
  const statements = statsBefore && statsAfter ? statsAfter.statements - statsBefore.statements : null;
  const handled = statsBefore && statsAfter ? statsAfter.requests - statsBefore.requests : 0;
  const run = {
    scenario: label,
    connections,
    requests: result.requests.total,
    rps: result.requests.average,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    status5xx: result['5xx'],
    // Counted by the bare server itself, per request it handled (redis mode: none).
    dbQueriesPerRequest: statements === null || !handled ? null : statements / handled,
    peakRssMbPerProcess: peakRss || null,
  };
  console.log(
    `  → ${fmt(run.rps)} req/s, p50 ${fmt(run.latencyMs.p50)} ms, p99 ${fmt(run.latencyMs.p99)} ms, errors ${run.errors}, non-2xx ${run.non2xx}, db q/req ${fmt(run.dbQueriesPerRequest, 2)}`,
  );
  return run;
}

/** Echo's req/s for (scenario, connections) as a share of the baseline's. */
function ratio(run) {
  const base = state.baselines.find((b) => b.of === run.scenario && b.connections === run.connections);
  return base && base.rps ? run.rps / base.rps : null;
}

// --- the cold phases ---

/** Stops the API and starts it again with `env` and an empty cache namespace; false if it did not start. */
async function restartApi(label, env, logName) {
  console.log(`\n${label}: restarting the API (fresh cache namespace)…`);
  await state.api.stop();
  state.restarts = (state.restarts ?? 0) + 1;
  try {
    state.api = await startApi(
      state.stack,
      {
        API_WORKERS: settings.apiWorkers,
        DB_POOL_SIZE: settings.poolSize,
        CACHE_NAMESPACE: `${state.stack.prefix}_r${state.restarts}`,
        ...env,
      },
      logName,
    );
  } catch (err) {
    console.log(`  ! ${label}: the API did not start: ${err.message.split('\n')[0]}`);
    state.notes.push(`${label}: the API did not become ready (${err.message.split('\n')[0]}); not measured.`);
    return false;
  }
  state.metricsUrl = await apiMetricsUrl(
    state.api,
    childPids(state.api.proc.pid).length,
    state.stack.metricsToken,
    scrape,
  );
  return true;
}

/** Where two JSON values first differ (a path), or null when they are equal. */
function firstDifference(a, b, path = '$') {
  if (isDeepStrictEqual(a, b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const found = firstDifference(a[key], b[key], `${path}.${key}`);
      if (found) return found;
    }
  }
  return `${path}: Echo ${JSON.stringify(a)?.slice(0, 120)} vs bare ${JSON.stringify(b)?.slice(0, 120)}`;
}

/** One request of each cold-page scenario to Echo and to the bare server: the same body (origins aside)? */
async function compareBodies(bare, scenarios) {
  const read = async (baseUrl, request) => {
    const res = await fetch(`${baseUrl}${request.path}`, { headers: request.headers });
    const text = (await res.text()).replaceAll(baseUrl, 'http://ORIGIN');
    return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  };
  meta.bodyChecks = [];
  for (const name of PAGE3_SCENARIOS) {
    const request = scenarios[name]();
    const [echo, base] = await Promise.all([read(state.api.baseUrl, request), read(bare.baseUrl, request)]);
    const diff =
      echo.status !== base.status ? `HTTP ${echo.status} vs ${base.status}` : firstDifference(echo.body, base.body);
    const line = diff
      ? `${name} (${request.path}): DIFFERENT — ${diff}`
      : `${name} (${request.path}): same body (HTTP ${echo.status}, count ${echo.body.count}, ${echo.body.results?.length} results)`;
    console.log(`  ${line}`);
    meta.bodyChecks.push(line);
    if (diff) state.notes.push(`The bare server's answer differs from Echo's for ${name}: ${diff}`);
  }
}

async function coldPagePhase(scenarios) {
  if (!(await restartApi('cold pages (CACHE_ENABLED=false)', { CACHE_ENABLED: 'false' }, 'api-cold-pages'))) return;
  for (const name of PAGE3_SCENARIOS) {
    for (const connections of settings.connections) {
      console.log(`\n${name} with the cache off, ${connections} connections for ${settings.duration} s`);
      const label = `${name} (cache off)`;
      state.coldPages.push({ ...(await measure(label, scenarios[name], connections)), scenario: label });
      await sleep(settings.pause * 1000);
    }
  }
  if (flags['skip-baseline']) return;
  const bare = await startBaseline('mysql');
  try {
    console.log("\nBare Fastify + mysql2 (hand-written): comparing its bodies with Echo's");
    await compareBodies(bare, scenarios);
    let warmup = settings.warmup;
    for (const name of PAGE3_SCENARIOS) {
      for (const connections of settings.connections) {
        console.log(`\nbare mysql for ${name}, ${connections} connections for ${settings.duration} s`);
        state.baselines.push({
          ...(await measureBaseline('bare mysql', bare, scenarios[name], connections, { warmup })),
          of: `${name} (cache off)`,
        });
        warmup = 0;
        await sleep(settings.pause * 1000);
      }
    }
  } finally {
    await bare.stop();
  }
}

/** The one-line progress of a run that is not autocannon's. */
function ticker(label) {
  let seconds = 0;
  return ({ counter, total, errors }) => {
    seconds++;
    const line = `  ${label}  ${String(seconds).padStart(3)} s  ${fmt(counter).padStart(6)} req/s  total ${fmt(total)}  errors ${errors}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(110)}`);
    else if (seconds % 5 === 0) console.log(line);
  };
}

async function coldUsersPhase(scenarios, users, pngs) {
  const size = settings.coldPageSize;
  const extraHeaders = settings.acceptEncoding ? { 'accept-encoding': settings.acceptEncoding } : {};
  const page = (n) => (user) => ({
    method: 'GET',
    path: `/api/uploads?${n > 1 ? `page=${n}&` : ''}page_size=${size}`,
    headers: { ...extraHeaders, authorization: `Bearer ${user.token}` },
  });
  const steps = [
    { name: 'page 1', request: page(1) },
    { name: 'page 2', request: page(2) },
    {
      name: 'upload (POST)',
      request: (user, k) => {
        const { body, contentType } = multipartBody(pngs[k], {
          filename: harnessUploadName(k),
          fields: { title: `bench cold ${k}` },
        });
        return {
          method: 'POST',
          path: '/api/uploads',
          headers: { ...extraHeaders, authorization: `Bearer ${user.token}`, 'content-type': contentType },
          body,
        };
      },
    },
    { name: 'page 1 after upload', request: page(1) },
  ];
  for (const connections of settings.connections) {
    if (!(await restartApi(`cold users, ${connections} connections`, {}, `api-cold-users-${connections}`))) continue;
    console.log(`cold-users: ${users.length} users × ${steps.length} requests, ${connections} connections`);
    const run = await measure('cold-users', null, connections, {
      warmScenario: scenarios['uploads-page'],
      loader: async (label) => {
        const result = await runVisits(state.api.baseUrl, users, steps, {
          connections,
          timeoutMs: settings.timeout * 1000,
          onTick: ticker(label),
        });
        if (process.stderr.isTTY) process.stderr.write('\n');
        return result;
      },
    });
    state.coldUsers.push(run);
    for (const st of run.steps)
      console.log(
        `    ${st.step.padEnd(20)} ${st.requests} req, p50 ${fmt(st.p50)} ms, p99 ${fmt(st.p99)} ms, errors ${st.errors}, non-2xx ${st.non2xx}`,
      );
    // Their analyses finish first (the worker shares the CPU), then the uploads go, so the next
    // connection count starts from the same data.
    await waitForQuiet();
    const removed = await removeHarnessUploads(db);
    console.log(`  removed the ${removed} uploads of this run`);
    await sleep(settings.pause * 1000);
  }
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

/** The cluster phase's rows: each Cluster run beside the single-server run it repeats. */
const CLUSTER_COLUMNS = [
  { title: 'scenario', value: (r) => r.of, align: 'left' },
  { title: 'conns', value: (r) => r.connections },
  { title: 'single req/s', value: (r) => fmt(r.single?.rps ?? null) },
  { title: 'cluster req/s', value: (r) => fmt(r.rps) },
  { title: 'ratio', value: (r) => (r.ratio === null ? 'n/a' : fmt(r.ratio, 2)) },
  {
    title: 'single p50/p99 ms',
    value: (r) => (r.single ? `${fmt(r.single.latencyMs.p50)}/${fmt(r.single.latencyMs.p99)}` : 'n/a'),
  },
  { title: 'cluster p50/p99 ms', value: (r) => `${fmt(r.latencyMs.p50)}/${fmt(r.latencyMs.p99)}` },
  { title: 'errors', value: (r) => `${r.errors}${r.timeouts ? ` (${r.timeouts} timeouts)` : ''}` },
  { title: 'non-2xx', value: (r) => r.non2xx },
  { title: '5xx', value: (r) => fmt(r.status5xx) },
  { title: 'cache hit', value: (r) => (r.cacheHitRatio === null ? 'n/a' : `${fmt(r.cacheHitRatio * 100)}%`) },
  { title: 'cache err', value: (r) => fmt(r.cacheErrors) },
  { title: 'db q/req', value: (r) => fmt(r.dbQueriesPerRequest, 2) },
];

/** Per scenario (matrix, cold pages, bare baselines): req/s at the most connections as a share of the fewest. */
function scalingRows() {
  const groups = new Map();
  const baseRuns = state.baselines.map((b) => ({ ...b, scenario: `${b.scenario} (${b.of})` }));
  for (const r of [...state.runs, ...state.clusterRuns, ...state.coldPages, ...state.coldUsers, ...baseRuns]) {
    if (!groups.has(r.scenario)) groups.set(r.scenario, []);
    groups.get(r.scenario).push(r);
  }
  const out = [];
  for (const [scenario, runs] of groups) {
    if (runs.length < 2) continue;
    const sorted = [...runs].sort((a, b) => a.connections - b.connections);
    const low = sorted[0];
    const high = sorted.at(-1);
    if (low.connections === high.connections || !low.rps) continue;
    out.push({ scenario, low, high, ratio: high.rps / low.rps });
  }
  return out;
}

const sizeText = () =>
  settings.page3Sizes.length > 1
    ? `${settings.page3Sizes[0]}–${settings.page3Sizes.at(-1)}, cycled per request`
    : String(settings.page3Sizes[0]);

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
    'db q/req = Δ `echo_db_queries_total` (API processes only) ÷ Δ requests the API answered (its duration histogram); cache hit = Δ hits ÷ Δ (hits + misses) of',
    '`echo_cache_requests_total`; cache err = Δ `echo_cache_errors_total` (failed or slower than CACHE_COMMAND_TIMEOUT_MS, served as',
    'misses); RSS = peak VmRSS per process; server p99 / >5 s = from Δ `echo_http_request_duration_seconds` (request in to response out',
    "inside the API, interpolated in its bucket; the gap to the client's p99 is queueing in the client, the kernel and the event loop).",
  ];
  if (state.clusterRuns.length) {
    lines.push(
      '',
      '## Redis Cluster vs single server',
      '',
      table(state.clusterRuns, CLUSTER_COLUMNS, { markdown: true }),
      '',
      'The same scenarios right after the matrix, with the API and a worker on a Redis Cluster of three primaries and',
      'three replicas (`redis-cli --cluster create`, private ports on this machine, `noeviction`, nothing persisted) through',
      '`REDIS_CLUSTER_NODES` instead of `REDIS_URL`: cache and queue apart by key prefix, BullMQ under `{QUEUE_PREFIX}`,',
      'sharded pub/sub. A fresh API (empty cache namespace) warmed up like the first run of the matrix. ratio = Cluster',
      "req/s ÷ the single server's at the same connections. errors/5xx/cache err are the Cluster run's; its full row is in",
      'the JSON (`clusterRuns`). All six nodes share the machine (and its 2 cores) with the API, the worker, MariaDB and',
      'the load generator: the ratio is what the client-side work of Cluster costs, not what separate machines would give.',
    );
  }
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
      '| baseline | for | conns | req/s | p50 ms | p99 ms | errors | non-2xx | 5xx | db q/req | RSS MB per process (peak) |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const b of state.baselines) {
      lines.push(
        `| ${b.scenario} | ${b.of} | ${b.connections} | ${fmt(b.rps)} | ${fmt(b.latencyMs.p50)} | ${fmt(b.latencyMs.p99)} | ${b.errors} | ${b.non2xx} | ${fmt(b.status5xx)} | ${fmt(b.dbQueriesPerRequest ?? null, 2)} | ${fmt(b.peakRssMbPerProcess)} |`,
      );
    }
    lines.push(
      '',
      '"bare redis" = Fastify + ioredis answering each request with the bytes Echo gave for it (stored once before the run): the',
      'floor of serving a cached page; it neither authenticates nor validates. "bare mysql" = Fastify + mysql2, what a careful',
      "hand-written server does for the same list without a cache on Echo's schema (bench/baseline/server.js): verifies the",
      "access token (remembered until it expires, as Echo does), reads the caller's user row (active, token version, role),",
      "COUNT(*), then the page with each upload's latest analysis (and owner) joined, ids first from the index (3 statements",
      "on one pooled connection), and signs file_url/thumbnail_url like Echo's MediaUrls; the harness checks that it answers",
      'the same bodies as Echo. No logging, no metrics. Its db q/req is counted by the server itself.',
      'The "vs bare" column of a run is its req/s as a share of the matching baseline\'s.',
    );
  }
  if (state.coldPages.length) {
    lines.push(
      '',
      `## Cold pages: page 3 (page_size ${sizeText()}) with CACHE_ENABLED=false, against the bare hand-written server`,
      '',
      table(state.coldPages, COLUMNS, { markdown: true }),
      '',
      `Requests rotate over every active user with a full page 3 (≥ ${Math.max(...settings.page3Sizes) * 3} rows): ${meta.pagedUsers?.uploads ?? '?'} for the upload lists,`,
      `${meta.pagedUsers?.analyses ?? '?'} for analyses; the admin list over ${meta.pagedUsers?.admins ?? '?'} admin token(s), those upload users as the listed owner. A fresh API`,
      '(empty cache namespace, the cache off: every read goes to the database). The "bare mysql" rows of the baselines table',
      "are the same requests against bench/baseline/server.js; \"vs bare\" = Echo's req/s ÷ the bare server's. db q/req: Echo's",
      "statements per request (target ≤ 3); the bare server runs 3. Echo's cache keeps its single flight with the cache off:",
      "concurrent requests for the same key (one user's record, one admin list page) in one process share one load, so when",
      'connections outnumber the distinct users, db q/req drops below the per-request cost and req/s rises with it — read db',
      'q/req before req/s; the bare server has no such sharing.',
    );
  }
  if (state.coldUsers.length) {
    lines.push(
      '',
      `## Cold users (cache on): ${meta.coldUsers ?? '?'} first visits`,
      '',
      table(state.coldUsers, COLUMNS, { markdown: true }),
      '',
      '| conns | step | requests | p50 ms | p99 ms | max ms | errors | non-2xx |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const run of state.coldUsers)
      for (const st of run.steps ?? [])
        lines.push(
          `| ${run.connections} | ${st.step} | ${st.requests} | ${fmt(st.p50)} | ${fmt(st.p99)} | ${fmt(st.max)} | ${st.errors} | ${st.non2xx} |`,
        );
    lines.push(
      '',
      `Each of ${meta.coldUsers ?? '?'} distinct users (more than ${settings.coldPageSize} uploads each, logged in before the run) opens`,
      `GET /api/uploads?page_size=${settings.coldPageSize}, then page 2, POSTs one small unique PNG, then opens page 1 again, in order; \`conns\``,
      'virtual users on their own keep-alive connections take the next user until all have visited once (req/s = requests ÷',
      'wall time). Every connection count runs on a freshly started API with an empty cache namespace, warmed up for',
      `${settings.warmup} s on other users' uploads-page; the uploads' analyses run in the worker meanwhile (their completions`,
      'also move the lists on), and the uploads are deleted after each run. Compare with the cached uploads-page rows above.',
    );
  }
  if (state.searchRuns.length)
    lines.push(
      searchMarkdown(state.searchRuns, {
        table: table(state.searchRuns, SEARCH_COLUMNS, { markdown: true }),
        pageSize: settings.searchPageSize,
        bigUsers: settings.bigUsers,
        single: settings.searchSingle,
        heavyConnections: settings.searchHeavyConnections,
      }),
    );
  const scaling = scalingRows();
  if (scaling.length) {
    lines.push('', '## Connection scaling (req/s at the most connections ÷ at the fewest)', '');
    lines.push('| scenario | conns | req/s | conns | req/s | ratio |', '|---|---|---|---|---|---|');
    for (const r of scaling)
      lines.push(
        `| ${r.scenario} | ${r.low.connections} | ${fmt(r.low.rps)} | ${r.high.connections} | ${fmt(r.high.rps)} | ${fmt(r.ratio * 100)}% |`,
      );
  }
  if (meta.bodyChecks?.length)
    lines.push('', '## Bare server vs Echo: same bodies?', '', ...meta.bodyChecks.map((c) => `- ${c}`));
  if (meta.idleRssMb)
    lines.push('', `Idle RSS per API process after start (MB): ${meta.idleRssMb.map((v) => fmt(v)).join(', ')}.`);
  const statusLines = [
    ...state.runs,
    ...state.clusterRuns,
    ...state.cacheComparison,
    ...state.coldPages,
    ...state.coldUsers,
    ...state.searchRuns,
  ].map(
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
  if (
    state.written ||
    (!state.runs.length &&
      !state.cacheComparison.length &&
      !state.coldPages.length &&
      !state.coldUsers.length &&
      !state.clusterRuns.length &&
      !state.searchRuns.length)
  )
    return;
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
      coldPages: state.coldPages,
      coldUsers: state.coldUsers,
      clusterRuns: state.clusterRuns,
      searchRuns: state.searchRuns,
      scaling: scalingRows().map((r) => ({
        scenario: r.scenario,
        low: { connections: r.low.connections, rps: r.low.rps },
        high: { connections: r.high.connections, rps: r.high.rps },
        ratio: r.ratio,
      })),
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
  await state.cluster?.stop(); // the cluster phase's Redis Cluster, if interrupted mid-phase
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
    counts &&
    counts.users === wanted.users &&
    counts.uploads === wanted.uploads &&
    counts.analyses === wanted.analyses &&
    (await hasBigUsers(db.url, bigUsers));
  if (!seeded || flags.reseed) {
    console.log(
      counts
        ? `Reseeding (found ${counts.users}/${counts.uploads}/${counts.analyses}, want ${wanted.users}/${wanted.uploads}/${wanted.analyses})`
        : 'Seeding',
      bigUsers.length && counts ? `(with big users of ${bigUsers.join(', ')} uploads)` : '',
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
        ...(bigUsers.length ? ['--big-users', bigUsers.join(',')] : []),
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
  const [[{ pool }]] = await state.sampler.conn.query('SELECT @@innodb_buffer_pool_size AS pool');
  meta.innodbBufferPoolMb = Number(pool) / 2 ** 20;
  if (meta.innodbBufferPoolMb < 1024) {
    // Cold reads then measure InnoDB evicting and re-reading pages, and depend on what ran before.
    const note = `innodb_buffer_pool_size is ${fmt(meta.innodbBufferPoolMb)} MB: the full data set (~350 MB with indexes) does not fit, so uncached reads also measure page eviction; \`SET GLOBAL innodb_buffer_pool_size = 2147483648\` (online) before a run you mean to quote.`;
    console.log(`note: ${note}`);
    state.notes.push(note);
  }
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
  const paged = { uploads: [], analyses: [], admins: [picked.admin] };
  if (settings.scenarios.includes('cold-page3')) {
    const minItems = Math.max(...settings.page3Sizes) * 3;
    paged.uploads = await pickPagedUsers(db.url, { table: 'uploads', minItems });
    paged.analyses = await pickPagedUsers(db.url, { table: 'visual_analysis_results', minItems });
    paged.admins = await pickAdmins(db.url);
    if (!paged.uploads.length || !paged.analyses.length)
      throw new Error(
        `cold-page3: no active user has ${minItems} uploads and another ${minItems} analyses (a smaller --page3-size, or seed more)`,
      );
  }
  meta.pagedUsers = {
    uploads: paged.uploads.length,
    analyses: paged.analyses.length,
    admins: paged.admins.length,
  };
  const searchUsers = bigUsers.length ? await pickSearchUsers(db.url, bigUsers) : [];
  const toLogin = [
    ...new Map(
      [
        ...picked.users,
        ...heavyForCursor,
        ...paged.uploads,
        ...paged.analyses,
        ...paged.admins,
        picked.admin,
        ...searchUsers,
      ].map((u) => [u.id, u]),
    ).values(),
  ];
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
    paged: Object.fromEntries(
      Object.entries(paged).map(([list, members]) => [
        list,
        members.length ? members.map((u) => byId.get(u.id)) : picked.users.map((u) => byId.get(u.id)),
      ]),
    ),
  });

  // The cold-users' tokens: logged in now (argon2, a few dozen a second), not during the runs.
  let coldUsers = [];
  let coldPngs = [];
  if (settings.scenarios.includes('cold-users')) {
    const candidates = await pickColdUsers(db.url, {
      count: settings.coldUsers,
      minUploads: settings.coldPageSize,
      exclude: toLogin.map((u) => u.id),
    });
    if (candidates.length < settings.coldUsers)
      state.notes.push(
        `cold-users: only ${candidates.length} active users (not already in use) have more than ${settings.coldPageSize} uploads; ran with those instead of ${settings.coldUsers}.`,
      );
    const tc = Date.now();
    coldUsers = await loginAll(state.api.baseUrl, candidates, flags.password, {
      onProgress: (done, total) => {
        if (process.stderr.isTTY) process.stderr.write(`\r  logging in cold users ${done}/${total}`);
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    coldPngs = await uniquePngs(coldUsers.length, 64);
    meta.coldUsers = coldUsers.length;
    console.log(
      `Logged in ${coldUsers.length} cold users in ${((Date.now() - tc) / 1000).toFixed(1)} s; ${coldPngs.length} unique PNGs for their uploads`,
    );
  }

  // 4. One request of each kind first: a broken endpoint is reported, not benchmarked.
  const runnable = [];
  for (const name of settings.scenarios) {
    const probes =
      name === 'mixed'
        ? ['uploads-page', 'profile', 'admin-user-uploads', 'cursor-deep', 'upload']
        : name === 'cold-page3'
          ? PAGE3_SCENARIOS
          : name === 'cold-users' || name === 'cluster' || name === 'search'
            ? []
            : [name];
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
  for (const name of runnable.filter((n) => !PHASES.includes(n))) {
    for (const connections of settings.connections) {
      console.log(`\n${name} with ${connections} connections for ${settings.duration} s`);
      state.runs.push(await measure(name, scenarios[name], connections));
      await sleep(settings.pause * 1000);
    }
  }

  // 5a. The same reads (and uploads) with Redis Cluster instead of one server, next to the matrix.
  if (runnable.includes('cluster')) {
    const names = CLUSTER_SCENARIOS.filter((n) => runnable.includes(n));
    if (!names.length)
      state.notes.push(
        `cluster: nothing to compare (it re-measures ${CLUSTER_SCENARIOS.join(', ')} of the matrix; give one of them too).`,
      );
    else
      await clusterPhase({
        settings,
        state,
        scenarios,
        measure,
        restartApi,
        startWorker,
        names,
        rows: state.clusterRuns,
      });
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

  // 5c. Cold pages: page 3 of three lists with the cache off, then the bare hand-written server.
  if (runnable.includes('cold-page3')) await coldPagePhase(scenarios);

  // 5d. Cold users: first visits with the cache on, each connection count on a fresh API.
  if (runnable.includes('cold-users') && coldUsers.length) await coldUsersPhase(scenarios, coldUsers, coldPngs);

  // 5e. Search: each filter's first page uncached on the big libraries, similar and duplicates.
  if (runnable.includes('search')) {
    const values = await searchValues(db.url, searchUsers.at(-1));
    meta.searchValues = values;
    console.log(
      `\nsearch: users ${searchUsers.map((u) => `#${u.id} (${u.uploads} uploads)`).join(', ')}; summer ${values.summerYear}, ` +
        `camera ${values.cameraMake} / ${values.cameraModel}, ${values.similarIds.length} clustered uploads for similar`,
    );
    await searchPhase({
      settings,
      state,
      measure,
      restartApi,
      get,
      users: searchUsers.map((u) => byId.get(u.id)),
      values,
      rows: state.searchRuns,
    });
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
  if (state.clusterRuns.length)
    console.log(`\nRedis Cluster vs single server:\n${table(state.clusterRuns, CLUSTER_COLUMNS)}`);
  if (state.cacheComparison.length) console.log(`\nCache on/off:\n${table(state.cacheComparison, COLUMNS)}`);
  if (state.coldPages.length) console.log(`\nCold pages (cache off):\n${table(state.coldPages, COLUMNS)}`);
  if (state.searchRuns.length)
    console.log(`\nSearch, first pages uncached:\n${table(state.searchRuns, SEARCH_COLUMNS)}`);
  if (state.coldUsers.length) {
    console.log(`\nCold users (cache on):\n${table(state.coldUsers, COLUMNS)}`);
    for (const run of state.coldUsers)
      for (const st of run.steps ?? [])
        console.log(
          `  c=${run.connections} ${st.step.padEnd(22)} ${String(st.requests).padStart(5)} req  p50 ${fmt(st.p50)} ms  p99 ${fmt(st.p99)} ms  errors ${st.errors}  non-2xx ${st.non2xx}`,
        );
  }
  if (state.baselines.length)
    console.log(
      `\nBare baselines:\n${table(state.baselines, [
        { title: 'baseline', value: (r) => r.scenario, align: 'left' },
        { title: 'for', value: (r) => r.of, align: 'left' },
        { title: 'conns', value: (r) => r.connections },
        { title: 'req/s', value: (r) => fmt(r.rps) },
        { title: 'p50 ms', value: (r) => fmt(r.latencyMs.p50) },
        { title: 'p99 ms', value: (r) => fmt(r.latencyMs.p99) },
        { title: 'errors', value: (r) => r.errors },
        { title: 'non-2xx', value: (r) => r.non2xx },
        { title: 'db q/req', value: (r) => fmt(r.dbQueriesPerRequest ?? null, 2) },
      ])}`,
    );
  for (const r of scalingRows())
    console.log(
      `scaling ${r.scenario}: ${fmt(r.high.rps)} req/s at ${r.high.connections} = ${fmt(r.ratio * 100)}% of ${fmt(r.low.rps)} at ${r.low.connections}`,
    );
  for (const note of state.notes) console.log(`note: ${note}`);
}

main()
  .catch((err) => {
    state.failed = true;
    process.exitCode = 1;
    console.error(`\nbench failed: ${err.stack ?? err.message}`);
  })
  .finally(() => cleanup());
