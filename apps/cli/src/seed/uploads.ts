import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { cameraKey, labOfHex, orientationOf, searchWords, Upload, UploadWord } from '@echo/uploads';
import { VisualAnalysis, type AnalysisStatus, type StoredResult } from '@echo/visual-analysis';
import { DAY_MS, insertRows, sqlDate } from './insert-rows.js';
import { nearDuplicate, newPhoto, round, type Photo } from './photos.js';
import { pick, shuffle } from './random.js';
import type { Person } from './users.js';

/**
 * Uploads per user: 20 % of users have none; the rest get a share proportional to
 * 1 / (rank + 6)^0.9 in a shuffled order, so about 1 % of users (the heavy ones) own ~30 % of
 * the uploads while a typical user has a handful. Largest-remainder rounding hits `total`.
 */
function uploadCounts(people: Person[], total: number, rand: () => number): Map<number, number> {
  const uploaders = shuffle(
    people.filter(() => rand() >= 0.2),
    rand,
  );
  if (!uploaders.length && people.length) uploaders.push(people[0]);
  const weights = uploaders.map((_, rank) => 1 / (rank + 6) ** 0.9);
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w / sum) * total);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, i) => [x - Math.floor(x), i]).sort((a, b) => b[0] - a[0]);
  for (let k = 0; left > 0; k = (k + 1) % byRemainder.length, left--) counts[byRemainder[k][1]]++;
  return new Map(uploaders.map((p, i) => [p.id, counts[i]]));
}

/**
 * `bigUsers` sizes given to as many active non-admin users (chosen by `rand`, so the same ones
 * for a `--seed`); the rest of `total` spread over the others by uploadCounts. Big users first.
 */
function countsWithBigUsers(
  people: Person[],
  total: number,
  bigUsers: number[],
  rand: () => number,
): { perUser: Map<number, number>; big: { id: number; uploads: number }[] } {
  const candidates = shuffle(
    people.filter((p) => p.active && p.role === 'user'),
    rand,
  );
  if (candidates.length < bigUsers.length)
    throw new Error(`--big-users needs ${bigUsers.length} active non-admin users; the seed has ${candidates.length}`);
  const big = bigUsers.map((uploads, i) => ({ id: candidates[i].id, uploads }));
  const bigIds = new Set(big.map((b) => b.id));
  const rest = uploadCounts(
    people.filter((p) => !bigIds.has(p.id)),
    total - bigUsers.reduce((a, b) => a + b, 0),
    rand,
  );
  return { perUser: new Map([...big.map((b) => [b.id, b.uploads] as const), ...rest]), big };
}

/** Share of a user's uploads that are near-duplicates of another of theirs, in clusters of 2–5. */
const CLUSTERED_SHARE = 0.15;

/**
 * Which of a user's `n` uploads (by index) are copies of one scene: clusters of 2–5 on random
 * indices until ~15 % of them are covered. Index → cluster number.
 */
function duplicateClusters(n: number, rand: () => number): Map<number, number> {
  const target = Math.round(n * CLUSTERED_SHARE);
  const indices = shuffle(
    Array.from({ length: n }, (_, i) => i),
    rand,
  );
  const clusterOf = new Map<number, number>();
  let used = 0;
  for (let cluster = 0; target - used >= 2; cluster++) {
    const size = Math.min(2 + Math.floor(rand() * 4), target - used);
    for (let k = 0; k < size; k++) clusterOf.set(indices[used + k], cluster);
    used += size;
  }
  return clusterOf;
}

const FAILURES = [
  'The image could not be decoded: VipsJpeg: premature end of JPEG image.',
  'The analysis failed after 3 attempts (ENOENT). An admin can retry it.',
  'Image is 12000×9000 pixels, over the 50000000 pixel limit.',
];
const TITLES = [
  'Beach day',
  'Sunset',
  'Receipt',
  'Birthday',
  'Hike',
  'Whiteboard',
  'Cat',
  'Dinner',
  'Concert',
  'Garden',
  'Snow',
  'Road trip',
  'Beach sunset',
  'Wedding',
  'Mountains',
];

type Row<E> = Partial<Record<keyof E & string, unknown>>;

/**
 * `total` uploads spread over `people` (see uploadCounts; `bigUsers` sizes go to chosen users),
 * `analysesWanted` of them with an analysis row: every upload of a big user first (their libraries
 * are searched in the bench, so they look like a live account's: analysed within seconds), the
 * rest uniformly over everyone else's. A completed analysis fills its upload's search columns
 * from its result exactly as the worker does; other uploads have only taken_at (= created_at).
 */
export async function insertUploads(
  ds: DataSource,
  people: Person[],
  total: number,
  analysesWanted: number,
  rand: () => number,
  now: number,
  batch: number,
  bigUsers: number[] = [],
) {
  const { perUser, big } = countsWithBigUsers(people, total, bigUsers, rand);
  const bigIds = new Set(big.map((b) => b.id));
  const bigTotal = bigUsers.reduce((a, b) => a + b, 0);
  let bigAnalysesLeft = Math.min(analysesWanted, bigTotal);
  let analysesLeft = analysesWanted - bigAnalysesLeft;
  let othersLeft = total - bigTotal;
  let uploadRows: Row<Upload>[] = [];
  let analysisRows: Row<VisualAnalysis>[] = [];
  let wordRows: Row<UploadWord>[] = [];
  let uploadsDone = 0;
  let analysesDone = 0;
  let maxPerUser = 0;
  let lastReport = Date.now();

  const flush = async () => {
    // Uploads first (the analyses reference them), both in one transaction.
    await ds.transaction(async (em) => {
      const qr = em.queryRunner!;
      await insertRows(ds, Upload, uploadRows, qr);
      await insertRows(ds, VisualAnalysis, analysisRows, qr);
      for (let i = 0; i < wordRows.length; i += 2000) await insertRows(ds, UploadWord, wordRows.slice(i, i + 2000), qr);
    });
    uploadsDone += uploadRows.length;
    analysesDone += analysisRows.length;
    uploadRows = [];
    analysisRows = [];
    wordRows = [];
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      console.log(`    … ${uploadsDone}/${total} uploads, ${analysesDone} analyses`);
    }
  };

  for (const [userId, n] of perUser) {
    maxPerUser = Math.max(maxPerUser, n);
    const isBig = bigIds.has(userId);
    const clusterOf = duplicateClusters(n, rand);
    // The first copy of each scene seen: the others are its near-duplicates, uploaded within 30 days of it.
    const scenes = new Map<number, { photo: Photo; createdAt: number }>();
    for (let k = 0; k < n; k++) {
      const cluster = clusterOf.get(k);
      const scene = cluster === undefined ? undefined : scenes.get(cluster);
      const createdAt = scene
        ? scene.createdAt + Math.min(30 * DAY_MS, now - scene.createdAt) * rand()
        : now - 365 * DAY_MS * rand();
      const photo = scene ? nearDuplicate(scene.photo, rand) : newPhoto(rand, createdAt);
      if (cluster !== undefined && !scene) scenes.set(cluster, { photo, createdAt });
      const at = new Date(createdAt);
      const [storedW, storedH] = photo.stored;
      const size = Math.max(2048, Math.round(storedW * storedH * photo.kind.bytesPerPixel * (0.5 + rand())));
      const id = randomUUID();
      const title = rand() < 0.6 ? '' : pick(TITLES, rand);
      const originalName = photo.kind.name(rand, at);

      let analysis: Row<VisualAnalysis> | null = null;
      if (isBig) {
        if (bigAnalysesLeft > 0) {
          bigAnalysesLeft--;
          analysis = analysisRow(id, userId, photo, size, createdAt, now, rand);
        }
      } else {
        // Selection sampling: exactly the wanted number of the others' uploads, uniformly spread.
        if (rand() * othersLeft < analysesLeft) {
          analysesLeft--;
          analysis = analysisRow(id, userId, photo, size, createdAt, now, rand);
        }
        othersLeft--;
      }
      const result = analysis?.result ? (JSON.parse(analysis.result as string) as StoredResult) : null;
      const uploadRow: Row<Upload> = {
        id,
        userId,
        title,
        originalName,
        contentType: photo.kind.type,
        size,
        sha256: randomBytes(32).toString('hex'),
        // The intake stores the header's (stored) size; a completed analysis the displayed one.
        width: result ? result.oriented_width : storedW,
        height: result ? result.oriented_height : storedH,
        storageKey: `${userId}/${id}`,
        createdAt: sqlDate(createdAt),
        ...searchColumns(result, createdAt),
      };
      uploadRows.push(uploadRow);
      // The word index `q` searches, as the intake writes it.
      for (const word of searchWords(title, originalName))
        wordRows.push({ uploadId: id, word, userId, createdAt: uploadRow.createdAt, takenAt: uploadRow.takenAt });
      if (analysis) analysisRows.push(analysis);
      if (uploadRows.length >= batch) await flush();
    }
  }
  await flush();
  return { uploads: uploadsDone, analyses: analysesDone, maxPerUser, big };
}

/**
 * The upload's search columns (UploadSearch1764600000000) as the worker's searchAttributes writes
 * them from a completed result; without one, only taken_at = the upload time (as the intake does).
 */
function searchColumns(result: StoredResult | null, createdAt: number): Row<Upload> {
  // Every row names every column: insertRows takes the column list from a batch's first row.
  if (!result)
    return {
      takenAt: sqlDate(createdAt),
      ...Object.fromEntries(
        [
          'cameraMake',
          'cameraModel',
          'hasGps',
          'orientation',
          'format',
          'colorL',
          'colorA',
          'colorB',
          'sharpness',
          'phash',
        ].map((column) => [column, null]),
      ),
    };
  const lab = labOfHex(result.dominant_color);
  const taken = result.exif.taken_at;
  return {
    // The analyzer's wall-clock taken-at: with its offset when the camera wrote one, else read as UTC.
    takenAt: sqlDate(taken ? Date.parse(/[+-]\d\d:\d\d$/.test(taken) ? taken : `${taken}Z`) : createdAt),
    cameraMake: cameraKey(result.exif.make),
    cameraModel: cameraKey(result.exif.model),
    hasGps: result.exif.gps === true ? 1 : 0,
    orientation: orientationOf(result.oriented_width, result.oriented_height),
    format: result.format,
    colorL: lab ? lab[0] : null,
    colorA: lab ? lab[1] : null,
    colorB: lab ? lab[2] : null,
    sharpness: result.sharpness,
    phash: result.phash,
  };
}

function analysisRow(
  uploadId: string,
  userId: number,
  photo: Photo,
  size: number,
  createdAt: number,
  now: number,
  rand: () => number,
): Row<VisualAnalysis> {
  const roll = rand();
  const status: AnalysisStatus = roll < 0.92 ? 'completed' : roll < 0.97 ? 'failed' : 'queued';
  const started = status === 'queued' ? null : Math.min(now, createdAt + 200 + rand() * 3000);
  const completed = started === null ? null : Math.min(now, started + 300 + rand() * 2500);
  const result = status === 'completed' ? JSON.stringify(fakeResult(photo, size, rand)) : null;
  return {
    id: randomUUID(),
    uploadId,
    userId,
    status,
    progress: status === 'completed' ? 100 : status === 'failed' ? 40 : 0,
    attempts: status === 'queued' ? 0 : status === 'failed' ? 1 + Math.floor(rand() * 3) : 1,
    error: status === 'failed' ? pick(FAILURES, rand) : null,
    result,
    phash: status === 'completed' ? photo.phash : null,
    analyzerVersion: '1.0.0',
    createdAt: sqlDate(createdAt),
    startedAt: started === null ? null : sqlDate(started),
    completedAt: completed === null ? null : sqlDate(completed),
  };
}

/** The analyzer's result (AnalysisResult) for `photo` (near_duplicates is computed when read). */
function fakeResult(photo: Photo, size: number, rand: () => number): StoredResult {
  const { kind } = photo;
  return {
    format: kind.format,
    width: photo.stored[0],
    height: photo.stored[1],
    orientation: photo.exifOrientation,
    oriented_width: photo.displayed[0],
    oriented_height: photo.displayed[1],
    color_space: 'srgb',
    has_alpha: kind.format === 'png' && rand() < 0.3,
    bit_depth: kind.format === 'heic' && rand() < 0.2 ? 10 : 8,
    size,
    frames: kind.format === 'gif' ? 2 + Math.floor(rand() * 60) : 1,
    exif: photo.exif,
    dominant_color: photo.palette[0],
    palette: photo.palette,
    brightness: photo.brightness,
    contrast: round(0.2 + rand() * 0.6, 4),
    sharpness: photo.sharpness,
    entropy: round(5 + rand() * 2.9, 4),
    phash: photo.phash,
    placeholder: randomBytes(24).toString('base64'),
    thumbnail: true,
  };
}
