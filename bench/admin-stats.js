#!/usr/bin/env node
// GET /api/admin/stats on the bench data set (10k users, 200k uploads, 100k analyses: run
// `npm run cli -- seed` against DATABASE_URL first): the overview's uncached cost (every query,
// one connection) and each query's time and plan. The endpoint itself serves this from the cache
// for 15 s, so this is the worst case an admin sees.
//
//   DATABASE_URL=mysql://root@127.0.0.1:3306/echo_bench node bench/admin-stats.js [--runs 12]
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '12' } } });
const url = process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/echo_bench';
const dist = new URL('../dist/', import.meta.url).pathname;
const { loadConfig } = await import(`${dist}libs/config/src/index.js`);
const { createApiApp } = await import(`${dist}apps/api/src/create-api-app.js`);
const { AdminStatsService, STATS_SQL } = await import(`${dist}libs/admin-stats/src/index.js`);

const config = loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  DATABASE_URL: url,
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  CACHE_NAMESPACE: 'bench_admin_stats',
  QUEUE_PREFIX: 'bench_admin_stats',
  WORKER_METRICS_PORT: '0',
});
const app = await createApiApp(config, { logger: false });
await app.init();
const stats = app.get(AdminStatsService);
const times = [];
let last;
for (let i = 0; i < Number(values.runs); i++) {
  const t = performance.now();
  last = await stats.compute();
  times.push(performance.now() - t);
}
const sorted = times.slice(1).sort((a, b) => a - b);
console.log(
  `${url}: ${last.users.total} users, ${last.analyses.by_status.completed + last.analyses.by_status.failed + last.analyses.by_status.queued + last.analyses.by_status.processing} analyses, ${last.uploads.bytes_stored} bytes stored`,
);
console.log(
  `compute(), uncached: first ${times[0].toFixed(1)} ms; then median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms, max ${sorted.at(-1).toFixed(1)} ms (${sorted.length} runs)`,
);
const { DataSource } = await import(`${new URL('../node_modules/typeorm/index.mjs', import.meta.url).pathname}`);
const ds = app.get(DataSource);
const weekAgo = new Date(Date.now() - 7 * 86_400_000).toISOString().replace('T', ' ').replace('Z', '');
for (const [name, sql] of Object.entries(STATS_SQL)) {
  const params = sql.includes('?') ? [name === 'usersActive' ? 1 : weekAgo] : [];
  const t = performance.now();
  await ds.query(sql, params);
  const ms = performance.now() - t;
  const plan = await ds.query(`EXPLAIN ${sql}`, params);
  console.log(
    `  ${name.padEnd(16)} ${ms.toFixed(1).padStart(7)} ms  ${plan.map((r) => `${r.table} ${r.type} ${r.key} rows≈${r.rows} ${r.Extra ?? ''}`).join(' | ')}`,
  );
}
await app.close();
process.exit(0);
