// Does the API's memory grow with the size of an uploaded file? Uploads 1 MB and 20 MB images
// (several times each, 4 at once) to a built API process and compares its peak RSS (VmHWM).
// Usage: npm run build && node bench/upload-memory.js   (needs the local MariaDB and Redis)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import sharp from 'sharp';

const PORT = 3900 + Math.floor(Math.random() * 90);
const DB = `echo_bench_mem_${process.pid}`;
const base = `http://127.0.0.1:${PORT}`;
const storage = mkdtempSync(join(tmpdir(), 'echo-mem-'));

const rss = (pid) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)[1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
};
const resetPeak = (pid) => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM (Linux ≥ 4.0)
  } catch {
    // not permitted: the peak then includes start-up
  }
};

async function image(bytes, seed) {
  // Incompressible pixels, so the PNG is about `bytes` long.
  const side = Math.ceil(Math.sqrt(bytes / 3));
  const pixels = Buffer.alloc(side * side * 3);
  let x = seed * 2654435761;
  for (let i = 0; i < pixels.length; i++) pixels[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
}

async function main() {
  const admin = await mysql.createConnection({ uri: 'mysql://root@127.0.0.1:3306' });
  await admin.query(`CREATE DATABASE \`${DB}\``);
  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    PORT: String(PORT),
    DATABASE_URL: `mysql://root@127.0.0.1:3306/${DB}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
    CACHE_NAMESPACE: `mem${process.pid}`,
    QUEUE_PREFIX: `mem${process.pid}`,
    STORAGE_DIR: storage,
    UPLOAD_MAX_BYTES: String(21 * 1024 * 1024),
    UPLOAD_MAX_PIXELS: '100000000',
    API_WORKERS: '1',
  };
  const migrate = spawn(process.execPath, ['dist/apps/cli/src/main.js', 'migration:run'], { env, stdio: 'inherit' });
  await new Promise((r) => migrate.on('exit', r));
  const api = spawn(process.execPath, ['dist/apps/api/src/main.js'], { env, stdio: 'inherit' });
  try {
    for (let i = 0; i < 100; i++) {
      if ((await fetch(`${base}/health`).catch(() => null))?.ok) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const reg = await (
      await fetch(`${base}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'mem', email: 'mem@example.com', password: 'correct-horse-42' }),
      })
    ).json();
    const auth = { authorization: `Bearer ${reg.access}` };
    const results = [];
    let seed = 1;
    for (const mb of [1, 20]) {
      const files = await Promise.all(Array.from({ length: 4 }, () => image(mb * 1024 * 1024 * 0.97, seed++)));
      await new Promise((r) => setTimeout(r, 500));
      resetPeak(api.pid);
      const before = rss(api.pid);
      const t = Date.now();
      for (let round = 0; round < 2; round++) {
        await Promise.all(
          files.map(async (file, i) => {
            const form = new FormData();
            form.append('file', new Blob([file], { type: 'image/png' }), `f${round}-${i}.png`);
            const res = await fetch(`${base}/api/uploads`, { method: 'POST', headers: auth, body: form });
            if (res.status !== 201 && res.status !== 200) throw new Error(`upload ${res.status} ${await res.text()}`);
          }),
        );
      }
      const after = rss(api.pid);
      results.push({
        file_mb: +(files[0].length / 1048576).toFixed(1),
        uploads: 8,
        concurrent: 4,
        seconds: (Date.now() - t) / 1000,
        rss_before_mb: +before.rss.toFixed(1),
        peak_rss_mb: +after.peak.toFixed(1),
      });
    }
    console.table(results);
    console.log(JSON.stringify(results));
  } finally {
    api.kill('SIGTERM');
    await new Promise((r) => api.on('exit', r));
    await admin.query(`DROP DATABASE \`${DB}\``);
    await admin.end();
    rmSync(storage, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
