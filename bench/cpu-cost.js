#!/usr/bin/env node
// What one uncached request costs: server CPU, database CPU and statements per request of one
// route, with the cache off, on ONE API process (API_WORKERS=1), read from /proc (utime + stime
// of the API process and of mariadbd) and from MariaDB's Questions counter, over a fixed load.
// Optionally a V8 CPU profile of the API process, summarised by where its self time goes.
//
//   npm run build && node bench/cpu-cost.js --user-id 15 --url '/api/uploads?page=3' [--root DIR] [--profile]
//
// --root: the checkout whose dist/ runs (another build, e.g. a git worktree of an older commit,
// for a before/after in one session). Env: BENCH_DATABASE_URL (default …/echo_bench).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { childPids, freePort, startNode, stop, waitForHttp } from './lib/processes.js';
import { connect } from './lib/db.js';
import { REDIS_URL, ROOT } from './lib/stack.js';

const { values: flags } = parseArgs({
  options: {
    root: { type: 'string', default: ROOT },
    url: { type: 'string', default: '/api/uploads?page=3' },
    'user-id': { type: 'string' },
    password: { type: 'string', default: 'echo-bench-pass-1' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    cache: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
  },
});
const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/echo_bench';
const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString());
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / ticks) * 1000; // utime + stime
};
const mariadbPid = () => Number(execFileSync('pidof', ['mariadbd']).toString().trim().split(' ')[0]);

const db = await connect(databaseUrl);
const [[user]] = await db.query('SELECT username FROM users WHERE id = ?', [Number(flags['user-id'])]);
if (!user) throw new Error(`no user ${flags['user-id']} in ${databaseUrl}`);

const temp = mkdtempSync(join(tmpdir(), 'echo-cpu-'));
const port = await freePort();
const main = join(flags.root, 'dist/apps/api/src/main.js');
// Node takes --cpu-prof on its command line only (not in NODE_OPTIONS): a wrapper script runs main.js.
const script = flags.profile ? join(temp, 'profiled.cjs') : main;
if (flags.profile)
  writeFileSync(
    script,
    `require('node:child_process').spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=${temp}', ${JSON.stringify(main)}], { stdio: 'inherit' })` +
      `.on('exit', (code) => process.exit(code ?? 0)); process.on('SIGTERM', () => {});`,
  );
const api = startNode(
  'api',
  script,
  [],
  {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    ALLOWED_HOSTS: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    CACHE_ENABLED: flags.cache ? 'true' : 'false',
    CACHE_NAMESPACE: `cpu_${port}`,
    QUEUE_PREFIX: `cpu_${port}`,
    STORAGE_DIR: join(temp, 'storage'),
    JWT_SECRET: 'x'.repeat(64),
    API_WORKERS: '1',
    DB_POOL_SIZE: '10',
    JWT_ACCESS_TTL_SECONDS: '86400',
    THROTTLE_AUTH_LIMIT: '1000000',
    MAINTENANCE_EVERY_SECONDS: '86400',
  },
  join(temp, 'api.log'),
);
try {
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/health`, { proc: api });
  const login = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user.username, password: flags.password }),
  });
  const { access } = await login.json();
  const run = (duration) =>
    autocannon({
      url: base + flags.url,
      connections: Number(flags.connections),
      duration,
      headers: { authorization: `Bearer ${access}` },
    });
  await run(3); // warm-up
  const questions = async () => Number((await db.query("SHOW GLOBAL STATUS LIKE 'Questions'"))[0][0].Value);
  // Profiled: the API is the wrapper's child.
  const apiPid = flags.profile ? childPids(api.pid)[0] : api.pid;
  const [apiBefore, dbBefore, qBefore] = [cpuMs(apiPid), cpuMs(mariadbPid()), await questions()];
  const result = await run(Number(flags.duration));
  const [apiAfter, dbAfter, qAfter] = [cpuMs(apiPid), cpuMs(mariadbPid()), await questions()];
  const n = result.requests.total;
  const row = {
    root: flags.root,
    url: flags.url,
    cache: flags.cache ? 'on' : 'off',
    'req/s': Math.round(result.requests.average),
    'non-2xx': result.non2xx,
    errors: result.errors,
    'server CPU ms/req': ((apiAfter - apiBefore) / n).toFixed(3),
    'db CPU ms/req': ((dbAfter - dbBefore) / n).toFixed(3),
    'statements/req': ((qAfter - qBefore - 1) / n).toFixed(2),
  };
  console.log(JSON.stringify(row));
} finally {
  await stop(api);
  await db.end();
}

if (flags.profile) {
  const file = readdirSync(temp).find((f) => f.endsWith('.cpuprofile'));
  if (file) {
    console.log(`profile: ${join(temp, file)}`);
    summarise(JSON.parse(readFileSync(join(temp, file), 'utf8')));
  }
}

/** Self time by where the code lives: Echo, each library, Node's internals, GC, idle. */
function summarise(profile) {
  const self = new Map();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  let total = 0;
  for (const [id, n] of counts) {
    const { url, functionName } = byId.get(id).callFrame;
    let where = url.match(/node_modules\/((@[^/]+\/)?[^/]+)/)?.[1];
    if (!where)
      where = url.includes('/dist/')
        ? 'echo (dist)'
        : url.startsWith('node:')
          ? 'node internals'
          : `(${functionName || 'native'})`;
    if (functionName === '(idle)') continue;
    self.set(where, (self.get(where) ?? 0) + n);
    total += n;
  }
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, 14);
  for (const [where, n] of rows) console.log(`${((100 * n) / total).toFixed(1).padStart(5)} %  ${where}`);
}
