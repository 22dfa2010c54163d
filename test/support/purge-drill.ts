import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import sharp from 'sharp';
import { Redis } from 'ioredis';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { DataSource } from 'typeorm';
import { expect } from 'vitest';
import { STORAGE, type StorageDriver } from '@echo/storage';
import type { TestStack } from './app.js';
import { multipart, noisePng, solidPng } from './images.js';
import { postUpload } from './uploads.js';
import { REDIS_URL } from './services.js';
import { SseReader } from './sse.js';
import type { Session } from './users.js';
import { waitFor } from './wait.js';

/** A large PNG (no shrink-on-load): long enough in the analyzer to be caught `processing`. */
export function bigPng(seed: number): Promise<Buffer> {
  const [w, h] = [5000, 4000];
  const colour = (seed * 123457).toString(16).slice(-6).padStart(6, '0');
  const svg = `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg"><defs><radialGradient id="g"><stop offset="0" stop-color="#${colour}"/><stop offset="1" stop-color="#102030"/></radialGradient></defs><rect width="100%" height="100%" fill="url(#g)"/></svg>`;
  return sharp(Buffer.from(svg)).png({ compressionLevel: 1 }).toBuffer();
}

/** What the victim had, to look for afterwards. */
export interface VictimData {
  user: Session;
  uploadIds: string[];
  analysisIds: string[];
  exportIds: string[];
  tusLocation: string;
  stream: SseReader;
}

const analysisStatus = async (db: DataSource, id: string) =>
  (await db.query('SELECT status FROM visual_analysis_results WHERE id = ?', [id]))[0]?.status as string | undefined;

/**
 * Gives `user` data in every state: an analysis completed, one failed, one processing (a large
 * image the worker is busy with; WORKER_CONCURRENCY=1), two queued behind it, an unfinished tus
 * upload, an export in progress (the export route when it exists, else a row and an archive
 * object as the export job writes them), an open event stream, a stream ticket and cached pages.
 */
export async function giveDataInEveryState(stack: TestStack, base: string, user: Session): Promise<VictimData> {
  const { api } = stack;
  const db = api.get(DataSource);
  const up = async (data: Buffer, name: string) =>
    postUpload(api, user, multipart([{ name: 'file', filename: name, data }]));
  const stream = await SseReader.open(`${base}/api/visual-analysis/events`, user.auth);
  expect(stream.status).toBe(200);

  const done = await up(await solidPng(64, 48, '#336699'), 'done.png');
  await waitFor(async () => (await analysisStatus(db, done.analysis.id)) === 'completed', 30_000, 'completed');
  const jpeg = await sharp(await noisePng(400, 300))
    .jpeg({ quality: 90 })
    .toBuffer();
  const broken = await up(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), 'broken.jpg');
  await waitFor(async () => (await analysisStatus(db, broken.analysis.id)) === 'failed', 30_000, 'failed');
  const busy = await up(await bigPng(user.id), 'big.png');
  const queued = [await up(await solidPng(32, 32, '#aa0000'), 'q1.png'), await up(await noisePng(40, 40), 'q2.png')];
  await waitFor(async () => (await analysisStatus(db, busy.analysis.id)) === 'processing', 30_000, 'processing');
  for (const q of queued) expect(await analysisStatus(db, q.analysis.id)).toBe('queued');

  // An unfinished resumable upload: created, half its bytes sent.
  const tusBody = await solidPng(80, 60, '#00aa00');
  const created = await send(base, 'POST', '/api/uploads/tus', {
    ...user.auth,
    'tus-resumable': '1.0.0',
    'upload-length': String(tusBody.length),
    'upload-metadata': `filename ${Buffer.from('half.png').toString('base64')}`,
  });
  expect(created.status).toBe(201);
  const patched = await send(
    base,
    'PATCH',
    created.headers.location!,
    {
      ...user.auth,
      'tus-resumable': '1.0.0',
      'upload-offset': '0',
      'content-type': 'application/offset+octet-stream',
    },
    tusBody.subarray(0, tusBody.length >> 1),
  );
  expect(patched.status).toBe(204);

  const exportIds = [await startExport(stack, user)];
  const ticket = await api.inject({ method: 'POST', url: '/api/auth/stream-ticket', headers: user.auth });
  expect(ticket.statusCode).toBe(200);
  for (const url of ['/api/uploads', '/api/visual-analysis', '/api/users/me', `/api/uploads/${done.id}`])
    expect((await api.inject({ method: 'GET', url, headers: user.auth })).statusCode).toBe(200);

  const uploadIds = [done.id, broken.id, busy.id, ...queued.map((q) => q.id)];
  const analysisIds = (await db.query(`SELECT id FROM visual_analysis_results WHERE user_id = ?`, [user.id])).map(
    (r: { id: string }) => r.id,
  );
  return { user, uploadIds, analysisIds, exportIds, tusLocation: created.headers.location!, stream };
}

/** An export in progress: through the API when the export routes exist, else as the export job leaves one. */
async function startExport(stack: TestStack, user: Session): Promise<string> {
  const res = await stack.api.inject({ method: 'POST', url: '/api/users/me/export', headers: user.auth });
  if (res.statusCode === 202) return res.json().id as string;
  expect(res.statusCode).toBe(404);
  const id = randomUUID();
  const key = `exports/${user.id}/${id}.zip`;
  await stack.api
    .get(DataSource)
    .query(
      "INSERT INTO exports (id, user_id, status, progress, storage_key, created_at, started_at) VALUES (?, ?, 'running', 40, ?, ?, ?)",
      [id, user.id, key, new Date(), new Date()],
    );
  await stack.api.get<StorageDriver>(STORAGE).put(key, Buffer.from('PK partial archive'));
  return id;
}

/** Every key under the test's Redis prefix (cache, queue, events, tus, throttles). */
export async function redisKeys(prefix: string, url = REDIS_URL): Promise<string[]> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const keys: string[] = [];
    for (const db of [0, 1, 2]) {
      await redis.select(db);
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
    }
    return keys;
  } finally {
    redis.disconnect();
  }
}

/** Whether a key names the victim: their id as a key segment, their username, one of their upload/analysis/export ids. */
export function namesVictim(
  key: string,
  victim: Pick<VictimData, 'uploadIds' | 'analysisIds' | 'exportIds'> & { id: number; username: string },
): boolean {
  if (key.split(/[:/{}]/).includes(String(victim.id))) return true;
  if (key.includes(victim.username)) return true;
  return [...victim.uploadIds, ...victim.analysisIds, ...victim.exportIds].some((id) => key.includes(id));
}

/** Every file below a directory, as paths relative to it ('' when it does not exist). */
export async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** Whether a storage path or key names the victim: a segment equal to their id, or one of their upload/export ids. */
export function pathNamesVictim(
  path: string,
  victim: { id: number; uploadIds: string[]; exportIds: string[] },
): boolean {
  if (path.split('/').includes(String(victim.id))) return true;
  return [...victim.uploadIds, ...victim.exportIds].some((id) => path.includes(id));
}

/** Every key of an S3 bucket (paged). */
export async function bucketKeys(client: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** One HTTP request to the listening API (tus needs a real socket). */
export function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, base), { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers as Record<string, string>,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
