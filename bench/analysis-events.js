#!/usr/bin/env node
// Live analysis events: delay from a status change (the event's `at`, taken right after the row
// was written) to a client reading GET /api/visual-analysis/events, across processes: uploads go
// through the API (API_WORKERS processes), the worker app changes the status, and the event
// reaches the stream's API process through Redis.
//
//   npm run bench:events -- [--images 200] [--api-workers 2] [--upload-concurrency 1,4]
//   node bench/analysis-events.js --help
import { helpAndExit, positiveInt } from './lib/cli.js';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createDatabase, dropDatabase, parseDatabaseUrl } from './lib/db.js';
import { photoJpegs, uploadAll } from './lib/images.js';
import { onceCleanup, stopAll } from './lib/processes.js';
import { environment, fmt, table, timestamp, writeResults } from './lib/report.js';
import { assertBuilt, cleanRedis, runMigrations, stackSettings, startApi, startWorker } from './lib/stack.js';

const HELP = `Echo live events: status change → SSE client delay (median, p99). Needs a build (npm run bench:events builds first).

  --images N                   images per run (default 200)
  --width W --height H         image size (default 1024×768 JPEG: a few progress events each)
  --api-workers N              API_WORKERS (default 2: the stream and the uploads land on either process)
  --upload-concurrency 1,4     one run per value: uploads in flight at once (default 1,4)
  --keep-db, --keep-logs

Env: BENCH_EVENTS_DATABASE_URL (default mysql://root@127.0.0.1:3306/echo_bench_events; dropped and recreated), BENCH_REDIS_URL.`;

const { values: flags } = parseArgs({
  options: {
    images: { type: 'string', default: '200' },
    width: { type: 'string', default: '1024' },
    height: { type: 'string', default: '768' },
    'api-workers': { type: 'string', default: '2' },
    'upload-concurrency': { type: 'string', default: '1,4' },
    'keep-db': { type: 'boolean', default: false },
    'keep-logs': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
helpAndExit(flags, HELP);
const int = positiveInt;
const settings = {
  images: int(flags.images, 'images'),
  width: int(flags.width, 'width'),
  height: int(flags.height, 'height'),
  apiWorkers: int(flags['api-workers'], 'api-workers'),
  uploadConcurrency: flags['upload-concurrency'].split(',').map((x) => int(x.trim(), 'upload-concurrency')),
};
const db = parseDatabaseUrl(process.env.BENCH_EVENTS_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/echo_bench_events');
const stamp = timestamp();
const state = { tempDir: null, stack: null, failed: false, dbCreated: false };
const result = {
  stamp,
  startedAt: new Date().toISOString(),
  environment: environment(),
  settings,
  runs: [],
  partial: true,
};

async function register(baseUrl) {
  const username = `events_${randomBytes(4).toString('hex')}`;
  const res = await fetch(`${baseUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.com`, password: 'echo-bench-pass-1' }),
  });
  if (res.status !== 201) throw new Error(`register failed: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()).access;
}

/** A text/event-stream reader: calls onEvent(name, data, id, receivedAtMs) per event. */
function openStream(url, token, onEvent) {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, agent: false },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`stream: HTTP ${res.statusCode}`));
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          const now = Date.now();
          buffer += chunk;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const id = /^id: (.*)$/m.exec(block)?.[1];
            const data = [...block.matchAll(/^data: (.*)$/gm)].map((m) => m[1]).join('\n');
            if (event) onEvent(event, data, id, now);
          }
        });
        resolve({ close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const quantile = (sorted, q) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : null;
function stats(delays) {
  const sorted = [...delays].sort((a, b) => a - b);
  return {
    count: sorted.length,
    median: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? null,
  };
}

async function run(api, images, concurrency) {
  const token = await register(api.baseUrl);
  const delays = { worker: [], queued: [], toRedis: [], fromRedis: [] };
  const done = new Set();
  const stream = await openStream(`${api.baseUrl}/api/visual-analysis/events`, token, (event, data, id, receivedAt) => {
    if (event !== 'analysis') return;
    const e = JSON.parse(data);
    // queued is published by the API process that took the upload; the rest by the worker.
    (e.status === 'queued' ? delays.queued : delays.worker).push(receivedAt - Date.parse(e.at));
    if (e.status !== 'queued') {
      // The id's first part is Redis's clock at XADD: it splits the delay into the publishing
      // process's part (cache bump + publish) and the delivery (Redis → API process → client).
      const storedAt = Number(id.split('-')[0]);
      delays.toRedis.push(storedAt - Date.parse(e.at));
      delays.fromRedis.push(receivedAt - storedAt);
    }
    if (e.status === 'completed' || e.status === 'failed') done.add(e.analysis_id);
  });
  try {
    await uploadAll(api.baseUrl, token, images, concurrency);
    const deadline = Date.now() + 600_000;
    while (done.size < images.length && Date.now() < deadline) await sleep(20);
    if (done.size < images.length)
      throw new Error(`only ${done.size} of ${images.length} analyses finished on the stream`);
  } finally {
    stream.close();
  }
  return {
    uploadConcurrency: concurrency,
    worker: stats(delays.worker),
    queued: stats(delays.queued),
    toRedis: stats(delays.toRedis),
    fromRedis: stats(delays.fromRedis),
  };
}

const COLUMNS = [
  { title: 'uploads in flight', value: (r) => r.uploadConcurrency },
  { title: 'source', value: (r) => r.source, align: 'left' },
  { title: 'events', value: (r) => r.count },
  { title: 'median ms', value: (r) => fmt(r.median) },
  { title: 'p99 ms', value: (r) => fmt(r.p99) },
  { title: 'max ms', value: (r) => fmt(r.max) },
];
const rows = () =>
  result.runs.flatMap((r) => [
    { uploadConcurrency: r.uploadConcurrency, source: 'worker (processing, progress, completed)', ...r.worker },
    { uploadConcurrency: r.uploadConcurrency, source: '  of which: status written → stored in Redis', ...r.toRedis },
    { uploadConcurrency: r.uploadConcurrency, source: '  of which: Redis → client', ...r.fromRedis },
    { uploadConcurrency: r.uploadConcurrency, source: 'API (queued)', ...r.queued },
  ]);

function markdown() {
  const env = result.environment;
  return [
    `# Echo live analysis events ${stamp}${result.partial ? ' (PARTIAL: interrupted or failed)' : ''}`,
    '',
    `- commit ${env.commit ?? '?'}${env.dirty ? ' (working tree modified)' : ''}, Node ${env.node}, ${env.cpus} × ${env.cpuModel}, ${env.memoryGb} GB RAM`,
    `- ${settings.images} JPEGs ${settings.width}×${settings.height} per run, API_WORKERS=${settings.apiWorkers}, one worker (WORKER_CONCURRENCY default), local MariaDB and Redis`,
    `- load average (1 min) at start ${fmt(result.loadBefore, 1)}, at end ${fmt(result.loadAfter, 1)}: other work on the machine shows in the tail`,
    '',
    table(rows(), COLUMNS, { markdown: true }),
    '',
    "Delay = when the client parsed the event − the event's `at` (taken right after the status was written, before the",
    'cache bump and the Redis publish); all processes on this host, one clock. "Stored in Redis" is the event id\'s time',
    "(Redis's clock at XADD). The stream and the uploads share the 2 cores with the worker decoding images, so the run",
    'with 4 uploads in flight shows the delay under CPU contention.',
  ].join('\n');
}

const cleanup = onceCleanup(state, flags['keep-logs'], async () => {
  await stopAll();
  if (state.stack) await cleanRedis(state.stack);
  if (state.dbCreated && !flags['keep-db']) await dropDatabase(db).catch(() => undefined);
  if (result.runs.length) {
    const files = writeResults(`events-${stamp}`, markdown(), result, result.partial ? null : 'events-latest.md');
    console.log(`\nResults: ${files.md}\n         ${files.json}`);
  }
});

async function main() {
  assertBuilt();
  result.loadBefore = loadavg()[0];
  const [warmup, ...images] = await photoJpegs(settings.images + 1, settings.width, settings.height);
  state.tempDir = mkdtempSync(join(tmpdir(), 'echo-bench-events-'));
  state.stack = stackSettings({ databaseUrl: db.url, tempDir: state.tempDir, label: 'bench_ev' });
  await createDatabase(db, { drop: true });
  state.dbCreated = true;
  await runMigrations(state.stack);
  const api = await startApi(state.stack, { API_WORKERS: settings.apiWorkers });
  await startWorker(state.stack);
  console.log(`API ${api.baseUrl} (API_WORKERS=${settings.apiWorkers}) and a worker ready`);
  // The worker loads sharp on its first job: keep that out of the numbers.
  await run(api, [warmup], 1);
  for (const concurrency of settings.uploadConcurrency) {
    console.log(`${settings.images} uploads, ${concurrency} in flight…`);
    result.runs.push(await run(api, images, concurrency));
  }
  result.loadAfter = loadavg()[0];
  result.partial = false;
  result.finishedAt = new Date().toISOString();
  console.log(`\n${table(rows(), COLUMNS)}`);
}

main()
  .catch((err) => {
    state.failed = true;
    process.exitCode = 1;
    console.error(`\nbench:events failed: ${err.stack ?? err.message}`);
  })
  .finally(() => cleanup());
