#!/usr/bin/env node
// VisualAnalysis throughput: images/s through the whole path (HTTP upload → enqueue → worker →
// row completed) against the analyzer called directly on the same images, in the same run.
// Target: queue ≥ 85 % of the better raw baseline.
//
//   npm run bench:analysis -- [--images 40] [--worker-concurrency 1,2,4]
//   npm run bench:analysis -- --heic      12 MP HEIC next to 12 MP JPEG, analyzer only
//   node bench/analysis.js --help
import { helpAndExit, positiveInt } from './lib/cli.js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { connect, createDatabase, dropDatabase, parseDatabaseUrl } from './lib/db.js';
import { photoJpegs, uploadAll } from './lib/images.js';
import { counters, delta } from './lib/metrics.js';
import { onceCleanup, stopAll } from './lib/processes.js';
import { environment, fmt, table, timestamp, writeResults } from './lib/report.js';
import { Queue } from 'bullmq';
import {
  assertBuilt,
  cleanRedis,
  REDIS_URL,
  ROOT,
  runMigrations,
  stackSettings,
  startApi,
  startWorker,
} from './lib/stack.js';

const HELP = `Echo analysis throughput: queue path vs raw analyzer. Needs a build: npm run bench:analysis builds first.

  --images N                  images (default 40)
  --width W --height H        image size (default 1600×1200 JPEG)
  --worker-concurrency 1,2,…  WORKER_CONCURRENCY values to try, one queue run each (default 2)
  --api-workers N             API_WORKERS for the uploading API (default 1)
  --upload-concurrency N      uploads in flight at once (default 4)
  --target P                  target ratio in percent (default 85)
  --timeout S                 give up waiting for the analyses after S seconds (default 600)
  --heic                      instead: the analyzer on 12 MP HEICs (heif-enc -q 60 of the same JPEGs) next to the
                              JPEGs, images/s and peak RSS (default 8 images of 4032×3024; needs heif-enc)
  --cold                      no warm-up (by default one extra image goes through each new worker before the clock starts)
  --keep-db                   keep the benchmark database afterwards
  --keep-logs                 keep the temp dir (logs, storage)

Env: BENCH_ANALYSIS_DATABASE_URL (default mysql://root@127.0.0.1:3306/echo_bench_analysis; dropped and recreated), BENCH_REDIS_URL.`;

const { values: flags } = parseArgs({
  options: {
    images: { type: 'string', default: '40' },
    width: { type: 'string', default: '1600' },
    height: { type: 'string', default: '1200' },
    'worker-concurrency': { type: 'string', default: '2' },
    'api-workers': { type: 'string', default: '1' },
    'upload-concurrency': { type: 'string', default: '4' },
    target: { type: 'string', default: '85' },
    timeout: { type: 'string', default: '600' },
    cold: { type: 'boolean', default: false },
    heic: { type: 'boolean', default: false },
    'keep-db': { type: 'boolean', default: false },
    'keep-logs': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
helpAndExit(flags, HELP);
const int = positiveInt;
// --heic: a phone's 12 MP (4032×3024) unless sizes are given.
const explicit = (name) => process.argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
const settings = {
  images: int(flags.heic && !explicit('images') ? '8' : flags.images, 'images'),
  width: int(flags.heic && !explicit('width') ? '4032' : flags.width, 'width'),
  height: int(flags.heic && !explicit('height') ? '3024' : flags.height, 'height'),
  workerConcurrency: flags['worker-concurrency'].split(',').map((x) => int(x.trim(), 'worker-concurrency')),
  apiWorkers: int(flags['api-workers'], 'api-workers'),
  uploadConcurrency: int(flags['upload-concurrency'], 'upload-concurrency'),
  target: Number(flags.target) / 100,
  timeoutS: int(flags.timeout, 'timeout'),
};
const MAX_PIXELS = 50_000_000; // the UPLOAD_MAX_PIXELS default the worker uses
const PASSWORD = 'echo-bench-pass-1';
const db = parseDatabaseUrl(
  process.env.BENCH_ANALYSIS_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/echo_bench_analysis',
);
const stamp = timestamp();
const state = { tempDir: null, stack: null, failed: false, dbCreated: false };
const result = {
  stamp,
  startedAt: new Date().toISOString(),
  environment: environment(),
  settings,
  raw: {},
  queue: [],
  partial: true,
};

// --- raw baseline: the built analyzer on in-memory buffers ---

async function rawRun(analyzeImage, images, concurrency) {
  let next = 0;
  const perImage = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < images.length) {
        const image = images[next++];
        const t = performance.now();
        await analyzeImage(image, { maxPixels: MAX_PIXELS });
        perImage.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return {
    concurrency,
    seconds,
    imagesPerSecond: images.length / seconds,
    meanMsPerImage: perImage.reduce((a, b) => a + b, 0) / perImage.length,
  };
}

// --- queue path: upload over HTTP, wait for the rows ---

async function register(baseUrl, label) {
  const username = `${label}_${randomBytes(4).toString('hex')}`;
  const res = await fetch(`${baseUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.com`, password: PASSWORD }),
  });
  if (res.status !== 201) throw new Error(`register failed: HTTP ${res.status} ${await res.text()}`);
  const body = await res.json();
  return { id: body.user.id, token: body.access };
}

async function waitForAnalyses(conn, userId, count) {
  const deadline = Date.now() + settings.timeoutS * 1000;
  let last = '';
  while (Date.now() < deadline) {
    const [rows] = await conn.query(
      'SELECT status, COUNT(*) AS n FROM visual_analysis_results WHERE user_id = ? GROUP BY status',
      [userId],
    );
    const by = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    const finished = (by.completed ?? 0) + (by.failed ?? 0);
    const line = `  analyses: ${by.completed ?? 0} completed, ${by.failed ?? 0} failed, ${by.processing ?? 0} processing, ${by.queued ?? 0} queued of ${count}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(90)}`);
    else if (line !== last && finished % 10 === 0) console.log(line);
    last = line;
    if (finished >= count) {
      if (process.stderr.isTTY) process.stderr.write('\n');
      return by;
    }
    await sleep(50);
  }
  throw new Error(`analyses not finished after ${settings.timeoutS} s (${last.trim()})`);
}

async function queueRun(api, images, warmup, concurrency) {
  const worker = await startWorker(state.stack, { WORKER_CONCURRENCY: concurrency }, `worker-c${concurrency}`);
  const conn = await connect(db.url);
  try {
    if (!flags.cold) {
      // A fresh worker loads sharp and the analyzer on its first job: keep that out of the timing.
      const warm = await register(api.baseUrl, `warmup_c${concurrency}`);
      await uploadAll(api.baseUrl, warm.token, [warmup], settings.uploadConcurrency);
      await waitForAnalyses(conn, warm.id, 1);
    }
    const user = await register(api.baseUrl, `analysis_c${concurrency}`);
    const workerBefore = await counters(worker.metricsUrl, state.stack.metricsToken);
    const t0 = Date.now();
    await uploadAll(api.baseUrl, user.token, images, settings.uploadConcurrency);
    const uploadedS = (Date.now() - t0) / 1000;
    const statuses = await waitForAnalyses(conn, user.id, images.length);
    const polledS = (Date.now() - t0) / 1000;
    const workerAfter = await counters(worker.metricsUrl, state.stack.metricsToken);
    const dq = delta(workerAfter, workerBefore, 'dbQueries');
    const streaming = await runResult(conn, {
      mode: 'streaming',
      concurrency,
      images,
      userId: user.id,
      t0,
      uploadedS,
      statuses,
      polledS,
    });
    streaming.workerDbQueriesPerImage = dq === null ? null : dq / images.length;
    return [streaming, await backlogRun(api, conn, images, concurrency)];
  } finally {
    await conn.end();
    await worker.stop();
  }
}

/**
 * One queue measurement from the analysis rows: the end is the last row's completed_at (set by the
 * worker on this host's clock), not the poll.
 */
async function runResult(conn, { mode, concurrency, images, userId, t0, uploadedS, statuses, polledS }) {
  const [[row]] = await conn.query(
    `SELECT MAX(completed_at) AS last_done,
            AVG(TIMESTAMPDIFF(MICROSECOND, created_at, started_at)) / 1000 AS wait_ms,
            AVG(TIMESTAMPDIFF(MICROSECOND, started_at, completed_at)) / 1000 AS run_ms
       FROM visual_analysis_results WHERE user_id = ?`,
    [userId],
  );
  const seconds = row.last_done ? (new Date(row.last_done).getTime() - t0) / 1000 : polledS;
  return {
    mode,
    workerConcurrency: concurrency,
    seconds,
    imagesPerSecond: images.length / seconds,
    uploadSeconds: uploadedS,
    completed: statuses.completed ?? 0,
    failed: statuses.failed ?? 0,
    // In backlog mode the wait includes the paused time: not a queue latency.
    meanQueueWaitMs: mode === 'backlog' ? null : Number(row.wait_ms),
    meanRunMs: Number(row.run_ms),
    workerDbQueriesPerImage: null,
  };
}

/**
 * The same images already enqueued (queue paused during the uploads), then the queue resumed:
 * enqueue → worker → row completed without the uploads competing for the same cores.
 */
async function backlogRun(api, conn, images, concurrency) {
  const url = new URL(REDIS_URL);
  const queue = new Queue('visual-analysis', {
    prefix: state.stack.prefix,
    connection: { host: url.hostname, port: Number(url.port || 6379) },
  });
  try {
    const user = await register(api.baseUrl, `backlog_c${concurrency}`);
    await queue.pause();
    const u0 = Date.now();
    await uploadAll(api.baseUrl, user.token, images, settings.uploadConcurrency);
    const uploadedS = (Date.now() - u0) / 1000;
    const t0 = Date.now();
    await queue.resume();
    const statuses = await waitForAnalyses(conn, user.id, images.length);
    return await runResult(conn, { mode: 'backlog', concurrency, images, userId: user.id, t0, uploadedS, statuses });
  } finally {
    await queue.resume().catch(() => undefined);
    await queue.close();
  }
}

// --- output ---

function markdown() {
  const env = result.environment;
  const best = result.raw.best;
  const rawRows = [result.raw.sequential, result.raw.concurrent].filter(Boolean);
  const lines = [
    `# Echo analysis throughput ${stamp}${result.partial ? ' (PARTIAL: interrupted or failed)' : ''}`,
    '',
    `- commit ${env.commit ?? '?'}${env.dirty ? ' (working tree modified)' : ''}, Node ${env.node}, ${env.cpus} × ${env.cpuModel}, ${env.memoryGb} GB RAM`,
    `- ${settings.images} JPEGs ${settings.width}×${settings.height} (${fmt(result.imageBytes / settings.images / 1024)} KiB each), API_WORKERS=${settings.apiWorkers}, ` +
      `${settings.uploadConcurrency} uploads in flight, ${flags.cold ? 'cold workers (no warm-up)' : 'each worker warmed up with one image first'}`,
    '',
    '## Raw analyzer (analyzeImage on buffers, this process)',
    '',
    table(
      rawRows,
      [
        { title: 'concurrency', value: (r) => r.concurrency },
        { title: 'seconds', value: (r) => fmt(r.seconds, 2) },
        { title: 'images/s', value: (r) => fmt(r.imagesPerSecond, 2) },
        { title: 'ms/image', value: (r) => fmt(r.meanMsPerImage) },
      ],
      { markdown: true },
    ),
    '',
    '## Queue path (upload → BullMQ → worker → row completed)',
    '',
    table(result.queue, QUEUE_COLUMNS, { markdown: true }),
    '',
    best
      ? `Ratio = queue images/s ÷ best raw (${fmt(best.imagesPerSecond, 2)} images/s at concurrency ${best.concurrency}); target ≥ ${fmt(settings.target * 100)} %.`
      : '',
    'streaming: from the first upload request to the last `completed_at` — the uploads themselves run on the same 2 cores as the worker.',
    'backlog: the same images uploaded with the queue paused, timed from resume to the last `completed_at` — enqueue → worker → row',
    'completed alone. Both include the storage round trip, the thumbnail write, progress updates and the near-duplicate lookup.',
  ];
  return lines.join('\n');
}

const QUEUE_COLUMNS = [
  { title: 'mode', value: (r) => r.mode },
  { title: 'WORKER_CONCURRENCY', value: (r) => r.workerConcurrency },
  { title: 'seconds', value: (r) => fmt(r.seconds, 2) },
  { title: 'images/s', value: (r) => fmt(r.imagesPerSecond, 2) },
  { title: 'ratio', value: (r) => `${fmt(r.ratio * 100)} %` },
  { title: 'target', value: (r) => (r.ratio >= settings.target ? 'met' : 'MISSED') },
  { title: 'uploads s', value: (r) => fmt(r.uploadSeconds, 2) },
  { title: 'completed', value: (r) => r.completed },
  { title: 'failed', value: (r) => r.failed },
  { title: 'mean wait ms', value: (r) => fmt(r.meanQueueWaitMs) },
  { title: 'mean run ms', value: (r) => fmt(r.meanRunMs) },
  { title: 'worker db q/image', value: (r) => fmt(r.workerDbQueriesPerImage, 1) },
];

// --- lifecycle ---

const cleanup = onceCleanup(state, flags['keep-logs'], async () => {
  await stopAll();
  if (state.stack) await cleanRedis(state.stack);
  if (state.dbCreated && !flags['keep-db']) await dropDatabase(db).catch(() => undefined);
  if (flags.heic) {
    if (result.heic?.length) {
      const files = writeResults(
        `analysis-heic-${stamp}`,
        heicMarkdown(),
        result,
        result.partial ? null : 'analysis-heic-latest.md',
      );
      console.log(`\nResults: ${files.md}\n         ${files.json}`);
    }
  } else if (result.raw.best || result.queue.length) {
    const files = writeResults(`analysis-${stamp}`, markdown(), result, result.partial ? null : 'analysis-latest.md');
    console.log(`\nResults: ${files.md}\n         ${files.json}`);
  }
});

// --- --heic: the analyzer on HEIC next to JPEG ---

/** heif-enc (Debian libheif-examples) on each JPEG: HEVC like a phone's, from the same pixels. */
function toHeic(jpegs) {
  const dir = mkdtempSync(join(tmpdir(), 'echo-bench-heic-'));
  try {
    return jpegs.map((jpeg, i) => {
      writeFileSync(join(dir, `${i}.jpg`), jpeg);
      execFileSync('heif-enc', ['-q', '60', join(dir, `${i}.jpg`), '-o', join(dir, `${i}.heic`)], { stdio: 'ignore' });
      return readFileSync(join(dir, `${i}.heic`));
    });
  } catch (err) {
    throw new Error(`heif-enc failed (apt-get install libheif-examples): ${err.message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `fn`, sampling this process's RSS every 20 ms; returns its result and the peak in MB. */
async function withPeakRss(fn) {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    const out = await fn();
    return { ...out, peakRssMb: Math.max(peak, process.memoryUsage().rss) / 1024 / 1024 };
  } finally {
    clearInterval(timer);
  }
}

async function heicComparison(analyzeImage) {
  console.log(`Generating ${settings.images + 1} JPEGs ${settings.width}×${settings.height} and their HEIC encodes…`);
  const t = Date.now();
  const jpegs = await photoJpegs(settings.images + 1, settings.width, settings.height);
  const heics = toHeic(jpegs);
  console.log(`  ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const rows = [];
  // JPEG first: the WebAssembly heap HEIC grows is never returned, so it would inflate the JPEG's RSS.
  for (const [format, [warm, ...images]] of [
    ['jpeg', jpegs],
    ['heic', heics],
  ]) {
    const kib = images.reduce((a, b) => a + b.length, 0) / images.length / 1024;
    await analyzeImage(warm, { maxPixels: MAX_PIXELS });
    for (const concurrency of [1, 2]) {
      const run = await withPeakRss(() => rawRun(analyzeImage, images, concurrency));
      rows.push({ format, kib, ...run });
      console.log(
        `${format} c${concurrency}: ${fmt(run.imagesPerSecond, 2)} images/s (${fmt(run.meanMsPerImage)} ms each), peak RSS ${fmt(run.peakRssMb)} MB`,
      );
    }
  }
  result.heic = rows;
  result.partial = false;
  result.finishedAt = new Date().toISOString();
}

function heicMarkdown() {
  const env = result.environment;
  return [
    `# Echo analysis: 12 MP HEIC next to JPEG ${stamp}${result.partial ? ' (PARTIAL)' : ''}`,
    '',
    `- commit ${env.commit ?? '?'}${env.dirty ? ' (working tree modified)' : ''}, Node ${env.node}, ${env.cpus} × ${env.cpuModel}, ${env.memoryGb} GB RAM`,
    `- ${settings.images} photo-like images ${settings.width}×${settings.height}: JPEG q85 (sharp) and the same JPEG through \`heif-enc -q 60\`;`,
    '  analyzeImage on buffers in this process (decode, ≤ 512 px metrics, pHash, ThumbHash, WebP thumbnail), after one warm-up image',
    '',
    table(
      result.heic ?? [],
      [
        { title: 'format', value: (r) => r.format },
        { title: 'KiB/image', value: (r) => fmt(r.kib) },
        { title: 'concurrency', value: (r) => r.concurrency },
        { title: 'images/s', value: (r) => fmt(r.imagesPerSecond, 2) },
        { title: 'ms/image', value: (r) => fmt(r.meanMsPerImage) },
        { title: 'peak RSS MB', value: (r) => fmt(r.peakRssMb) },
      ],
      { markdown: true },
    ),
    '',
    'HEIC decodes run one at a time per process (libheif-js is synchronous WebAssembly on the event loop), so concurrency 2',
    'overlaps only the sharp half of the work. RSS is the whole process: the wasm heap keeps its high-water mark.',
  ].join('\n');
}

async function main() {
  assertBuilt();
  const { analyzeImage } = await import(join(ROOT, 'dist/libs/visual-analysis/src/analyzer/index.js'));
  if (flags.heic) return heicComparison(analyzeImage);

  console.log(`Generating ${settings.images + 1} JPEGs ${settings.width}×${settings.height}…`);
  const t = Date.now();
  const [warmup, ...images] = await photoJpegs(settings.images + 1, settings.width, settings.height);
  result.imageBytes = images.reduce((a, b) => a + b.length, 0);
  console.log(`  ${((Date.now() - t) / 1000).toFixed(1)} s, ${fmt(result.imageBytes / images.length / 1024)} KiB each`);

  // Raw baseline first, with nothing else running.
  await analyzeImage(warmup, { maxPixels: MAX_PIXELS });
  result.raw.sequential = await rawRun(analyzeImage, images, 1);
  console.log(
    `raw, sequential:     ${fmt(result.raw.sequential.imagesPerSecond, 2)} images/s (${fmt(result.raw.sequential.meanMsPerImage)} ms each)`,
  );
  result.raw.concurrent = await rawRun(analyzeImage, images, 2);
  console.log(
    `raw, concurrency 2:  ${fmt(result.raw.concurrent.imagesPerSecond, 2)} images/s (${fmt(result.raw.concurrent.meanMsPerImage)} ms each)`,
  );
  result.raw.best = [result.raw.sequential, result.raw.concurrent].sort(
    (a, b) => b.imagesPerSecond - a.imagesPerSecond,
  )[0];

  // Queue path: a fresh database, the API, then one worker per concurrency value.
  state.tempDir = mkdtempSync(join(tmpdir(), 'echo-bench-analysis-'));
  state.stack = stackSettings({ databaseUrl: db.url, tempDir: state.tempDir, label: 'bench_an' });
  await createDatabase(db, { drop: true });
  state.dbCreated = true;
  await runMigrations(state.stack);
  const api = await startApi(state.stack, { API_WORKERS: settings.apiWorkers });
  console.log(`API ${api.baseUrl} ready`);
  for (const concurrency of settings.workerConcurrency) {
    console.log(`queue path, WORKER_CONCURRENCY=${concurrency}: uploading ${images.length} images…`);
    for (const run of await queueRun(api, images, warmup, concurrency)) {
      run.ratio = run.imagesPerSecond / result.raw.best.imagesPerSecond;
      result.queue.push(run);
      console.log(
        `  ${run.mode}: ${fmt(run.imagesPerSecond, 2)} images/s (${fmt(run.seconds, 2)} s; uploads took ${fmt(run.uploadSeconds, 2)} s) → ` +
          `${fmt(run.ratio * 100)} % of raw (target ${fmt(settings.target * 100)} %: ${run.ratio >= settings.target ? 'met' : 'MISSED'})`,
      );
    }
  }
  result.partial = false;
  result.finishedAt = new Date().toISOString();
  console.log(`\n${table(result.queue, QUEUE_COLUMNS)}`);
}

main()
  .catch((err) => {
    state.failed = true;
    process.exitCode = 1;
    console.error(`\nbench:analysis failed: ${err.stack ?? err.message}`);
  })
  .finally(() => cleanup());
