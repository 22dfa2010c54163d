// Does the worker's memory grow with the size of a data export? Seeds users with N real JPEGs
// (200–500 KB each, files written to local storage and rows inserted directly, each with a
// completed analysis), runs the BUILT API and worker as separate processes, asks for an export
// of each user, and samples the worker's RSS while the archive is built: its idle RSS, its peak
// (VmHWM, reset before each export) and its RSS at each tenth of the progress.
// Usage: npm run build && node bench/export-memory.js [--uploads 500,2000] [--keep-logs]
// (needs the local MariaDB and Redis)
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import sharp from 'sharp';
import { freePort, onceCleanup, runNode, startNode, stop, waitForHttp, waitForLog } from './lib/processes.js';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const SIZES = arg('uploads', '500,2000').split(',').map(Number);
const keepLogs = args.includes('--keep-logs');

const state = { tempDir: mkdtempSync(join(tmpdir(), 'echo-export-bench-')), failed: false };
const storageDir = join(state.tempDir, 'storage');
const DB = `echo_bench_export_${process.pid}`;
const MB = 1024 * 1024;

const memory = (pid) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)[1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
};
const resetPeak = (pid) => writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM := VmRSS (Linux ≥ 4.0)

/** Noise JPEGs (q88) of 510–800 px squares weigh ~200–500 KB. */
const sideOf = (i) => 510 + Math.round((i / 39) * 290);

/**
 * 40 distinct noise JPEGs between ~200 and ~500 KB; upload i is base i % 40 with a JPEG comment
 * (COM segment) naming i right after SOI: a valid, distinct file (uploads are unique per SHA-256).
 */
async function baseImages() {
  const images = [];
  for (let i = 0; i < 40; i++) {
    const side = sideOf(i);
    const pixels = Buffer.alloc(side * side * 3);
    let x = (i + 1) * 2654435761;
    for (let p = 0; p < pixels.length; p++) pixels[p] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    images.push(
      await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
        .jpeg({ quality: 88 })
        .toBuffer(),
    );
  }
  return images;
}

function variant(base, i) {
  const text = Buffer.from(`echo export bench ${i}`);
  const com = Buffer.alloc(4);
  com.writeUInt16BE(0xfffe, 0);
  com.writeUInt16BE(text.length + 2, 2);
  return Buffer.concat([base.subarray(0, 2), com, text, base.subarray(2)]);
}

const result = (i, side) => ({
  format: 'jpeg',
  width: side,
  height: side,
  oriented_width: side,
  oriented_height: side,
  orientation: 1,
  has_alpha: false,
  color_space: 'srgb',
  bits_per_sample: 8,
  dominant_color: '#7f7f7f',
  palette: ['#7f7f7f', '#6e6e6e', '#909090', '#5a5a5a', '#a3a3a3'],
  placeholder: 'YJqGPQw7sFlslqhFafSE+Q6oJ1h2iHB2Rw',
  sharpness: 412.5 + i,
  phash: (0x8f3c00000000 + i).toString(16).padStart(16, '0'),
  exif: { make: 'Echo', model: 'Bench', taken_at: null, gps: null },
  near_duplicates: [],
});

async function seed(db, userId, count, images) {
  const dir = join(storageDir, String(userId));
  mkdirSync(dir, { recursive: true });
  const start = Date.now() - count * 1000;
  let bytes = 0;
  for (let offset = 0; offset < count; offset += 250) {
    const uploads = [];
    const analyses = [];
    const writes = [];
    for (let i = offset; i < Math.min(count, offset + 250); i++) {
      const id = randomUUID();
      const base = images[i % images.length];
      const data = variant(base, i);
      bytes += data.length;
      const side = sideOf(i % images.length);
      writes.push(writeFile(join(dir, id), data));
      const at = new Date(start + i * 1000);
      uploads.push([
        id,
        userId,
        '',
        `IMG_${String(i % 1500).padStart(4, '0')}.jpg`, // repeats: the archive numbers them
        'image/jpeg',
        data.length,
        createHash('sha256').update(data).digest('hex'),
        side,
        side,
        `${userId}/${id}`,
        at,
        at,
      ]);
      analyses.push([randomUUID(), id, userId, 'completed', 100, 1, JSON.stringify(result(i, side)), '5', at, at, at]);
    }
    await Promise.all(writes);
    await db.query(
      'INSERT INTO uploads (id, user_id, title, original_name, content_type, size, sha256, width, height, storage_key, created_at, taken_at) VALUES ?',
      [uploads],
    );
    await db.query(
      'INSERT INTO visual_analysis_results (id, upload_id, user_id, status, progress, attempts, result, analyzer_version, created_at, started_at, completed_at) VALUES ?',
      [analyses],
    );
  }
  return bytes;
}

async function main() {
  const admin = await mysql.createConnection({ uri: 'mysql://root@127.0.0.1:3306' });
  await admin.query(`CREATE DATABASE \`${DB}\``);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    PORT: String(port),
    DATABASE_URL: `mysql://root@127.0.0.1:3306/${DB}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
    CACHE_NAMESPACE: `xb${process.pid}`,
    QUEUE_PREFIX: `xb${process.pid}`,
    STORAGE_DIR: storageDir,
    API_WORKERS: '1',
    WORKER_METRICS_PORT: '0',
  };
  const cleanup = onceCleanup(state, keepLogs, async () => {
    await db?.end().catch(() => undefined);
    await stop(api).catch(() => undefined);
    await stop(worker).catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS \`${DB}\``).catch(() => undefined);
    await admin.end().catch(() => undefined);
  });
  let api;
  let worker;
  let db;
  try {
    await runNode('dist/apps/cli/src/main.js', ['migration:run'], env);
    api = startNode('api', 'dist/apps/api/src/main.js', [], env, join(state.tempDir, 'api.log'));
    worker = startNode('worker', 'dist/apps/worker/src/main.js', [], env, join(state.tempDir, 'worker.log'));
    await waitForHttp(`${base}/health/ready`, { proc: api });
    await waitForLog(worker, /Echo worker started/);

    db = await mysql.createConnection({ uri: env.DATABASE_URL });
    const images = await baseImages();
    const rows = [];
    for (const [run, count] of SIZES.entries()) {
      const name = `export${run}_${count}_${process.pid}`;
      const res = await fetch(`${base}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: name, email: `${name}@example.com`, password: 'correct-horse-42' }),
      });
      if (res.status !== 201) throw new Error(`register ${res.status} ${await res.text()}`);
      const reg = await res.json();
      const auth = { authorization: `Bearer ${reg.access}` };
      const seeded = await seed(db, reg.user.id, count, images);

      await sleep(3000); // the worker settles (GC, the first jobs' code paths loaded)
      const idle = memory(worker.pid);
      resetPeak(worker.pid);
      const t0 = Date.now();
      const created = await (await fetch(`${base}/api/users/me/export`, { method: 'POST', headers: auth })).json();
      const byTenth = new Map();
      let maxRss = 0;
      let done;
      for (;;) {
        const m = memory(worker.pid);
        maxRss = Math.max(maxRss, m.rss);
        const body = await (await fetch(`${base}/api/users/me/export/${created.id}`, { headers: auth })).json();
        const tenth = Math.floor(body.progress / 10) * 10;
        if (!byTenth.has(tenth)) byTenth.set(tenth, +m.rss.toFixed(0));
        if (body.status === 'completed' || body.status === 'failed') {
          done = body;
          break;
        }
        await sleep(100);
      }
      const seconds = (Date.now() - t0) / 1000;
      const after = memory(worker.pid);
      if (done.status !== 'completed') throw new Error(`export failed: ${done.error}`);
      rows.push({
        uploads: count,
        originals_mb: +(seeded / MB).toFixed(0),
        archive_mb: +(done.size / MB).toFixed(1),
        seconds: +seconds.toFixed(1),
        mb_per_s: +(done.size / MB / seconds).toFixed(0),
        idle_rss_mb: +idle.rss.toFixed(0),
        peak_rss_mb: +after.peak.toFixed(0),
        sampled_max_rss_mb: +maxRss.toFixed(0),
        rss_by_progress: [...byTenth.entries()].map(([p, r]) => `${p}%:${r}`).join(' '),
      });
      console.log(JSON.stringify(rows.at(-1)));
    }
    console.table(rows.map(({ rss_by_progress: _, ...r }) => r));
    for (const r of rows) console.log(`${r.uploads} uploads, worker RSS (MB) by progress: ${r.rss_by_progress}`);
    console.log(JSON.stringify(rows));
  } catch (err) {
    state.failed = true;
    throw err;
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
