import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Upload } from '@echo/uploads';
import { VisualAnalysis, type AnalysisStatus } from '@echo/visual-analysis';
import { DAY_MS, insertRows, sqlDate } from './insert-rows.js';
import { pick, shuffle, weighted } from './random.js';
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

interface Kind {
  type: string;
  format: string;
  weight: number;
  sizes: [number, number][];
  bytesPerPixel: number;
  name: (rand: () => number, at: Date) => string;
}

const stamp = (at: Date) => at.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '_');
const KINDS: Kind[] = [
  {
    type: 'image/jpeg',
    format: 'jpeg',
    weight: 0.68,
    sizes: [
      [4032, 3024],
      [3024, 4032],
      [4000, 3000],
      [1920, 1080],
      [1600, 1200],
      [1080, 1350],
    ],
    bytesPerPixel: 0.3,
    name: (r, at) =>
      r() < 0.5 ? `IMG_${1000 + Math.floor(r() * 9000)}.JPG` : `PXL_${stamp(at)}${Math.floor(r() * 1000)}.jpg`,
  },
  {
    type: 'image/png',
    format: 'png',
    weight: 0.19,
    sizes: [
      [1170, 2532],
      [1920, 1080],
      [2560, 1440],
      [800, 600],
      [512, 512],
    ],
    bytesPerPixel: 1.2,
    name: (_r, at) =>
      `Screenshot ${at.toISOString().slice(0, 10)} at ${at.toISOString().slice(11, 19).replace(/:/g, '.')}.png`,
  },
  {
    type: 'image/webp',
    format: 'webp',
    weight: 0.08,
    sizes: [
      [1080, 1080],
      [1200, 800],
      [1600, 900],
    ],
    bytesPerPixel: 0.12,
    name: (r) => `image${Math.floor(r() * 100000)}.webp`,
  },
  {
    type: 'image/gif',
    format: 'gif',
    weight: 0.02,
    sizes: [
      [480, 270],
      [320, 320],
    ],
    bytesPerPixel: 2,
    name: (r) => `animation-${Math.floor(r() * 1000)}.gif`,
  },
  {
    type: 'image/heic',
    format: 'heif',
    weight: 0.02,
    sizes: [
      [4032, 3024],
      [3024, 4032],
    ],
    bytesPerPixel: 0.15,
    name: (r) => `IMG_${1000 + Math.floor(r() * 9000)}.HEIC`,
  },
  {
    type: 'image/avif',
    format: 'avif',
    weight: 0.01,
    sizes: [[1920, 1080]],
    bytesPerPixel: 0.08,
    name: (r) => `photo-${Math.floor(r() * 10000)}.avif`,
  },
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
];
const CAMERAS: [string, string][] = [
  ['Apple', 'iPhone 15 Pro'],
  ['Google', 'Pixel 8'],
  ['samsung', 'SM-S918B'],
  ['Canon', 'EOS R6'],
  ['SONY', 'ILCE-7M4'],
  ['FUJIFILM', 'X-T5'],
];
const FAILURES = [
  'The image could not be decoded: VipsJpeg: premature end of JPEG image.',
  'The analysis failed after 3 attempts (ENOENT). An admin can retry it.',
  'Image is 12000×9000 pixels, over the 50000000 pixel limit.',
];

/** `total` uploads spread over `people` (see uploadCounts), `analysesWanted` of them with an analysis row. */
export async function insertUploads(
  ds: DataSource,
  people: Person[],
  total: number,
  analysesWanted: number,
  rand: () => number,
  now: number,
  batch: number,
) {
  const perUser = uploadCounts(people, total, rand);
  let uploadRows: Partial<Record<keyof Upload, unknown>>[] = [];
  let analysisRows: Partial<Record<keyof VisualAnalysis, unknown>>[] = [];
  let seen = 0;
  let analysesLeft = analysesWanted;
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
    });
    uploadsDone += uploadRows.length;
    analysesDone += analysisRows.length;
    uploadRows = [];
    analysisRows = [];
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      console.log(`    … ${uploadsDone}/${total} uploads, ${analysesDone} analyses`);
    }
  };

  for (const [userId, n] of perUser) {
    maxPerUser = Math.max(maxPerUser, n);
    for (let k = 0; k < n; k++) {
      const kind = weighted(KINDS, rand);
      const [width, height] = pick(kind.sizes, rand);
      const createdAt = now - 365 * DAY_MS * rand();
      const at = new Date(createdAt);
      const size = Math.max(2048, Math.round(width * height * kind.bytesPerPixel * (0.5 + rand())));
      const id = randomUUID();
      uploadRows.push({
        id,
        userId,
        title: rand() < 0.6 ? '' : pick(TITLES, rand),
        originalName: kind.name(rand, at),
        contentType: kind.type,
        size,
        sha256: randomBytes(32).toString('hex'),
        width,
        height,
        storageKey: `${userId}/${id}`,
        createdAt: sqlDate(createdAt),
      });

      // Selection sampling: exactly `analysesWanted` uploads, uniformly spread.
      if (rand() * (total - seen) < analysesLeft) {
        analysesLeft--;
        analysisRows.push(analysisRow(id, userId, kind, width, height, size, createdAt, now, rand));
      }
      seen++;
      if (uploadRows.length >= batch) await flush();
    }
  }
  await flush();
  return { uploads: uploadsDone, analyses: analysesDone, maxPerUser };
}

function analysisRow(
  uploadId: string,
  userId: number,
  kind: Kind,
  width: number,
  height: number,
  size: number,
  createdAt: number,
  now: number,
  rand: () => number,
): Partial<Record<keyof VisualAnalysis, unknown>> {
  const roll = rand();
  const status: AnalysisStatus = roll < 0.92 ? 'completed' : roll < 0.97 ? 'failed' : 'queued';
  const started = status === 'queued' ? null : Math.min(now, createdAt + 200 + rand() * 3000);
  const completed = started === null ? null : Math.min(now, started + 300 + rand() * 2500);
  const phash = randomBytes(8).toString('hex');
  const result =
    status === 'completed' ? JSON.stringify(fakeResult(kind, width, height, size, phash, createdAt, rand)) : null;
  return {
    id: randomUUID(),
    uploadId,
    userId,
    status,
    progress: status === 'completed' ? 100 : status === 'failed' ? 40 : 0,
    attempts: status === 'queued' ? 0 : status === 'failed' ? 1 + Math.floor(rand() * 3) : 1,
    error: status === 'failed' ? pick(FAILURES, rand) : null,
    result,
    phash: status === 'completed' ? phash : null,
    analyzerVersion: '1.0.0',
    createdAt: sqlDate(createdAt),
    startedAt: started === null ? null : sqlDate(started),
    completedAt: completed === null ? null : sqlDate(completed),
  };
}

/** The analyzer's result keys (AnalysisResult) plus near_duplicates, with plausible values. */
function fakeResult(
  kind: Kind,
  width: number,
  height: number,
  size: number,
  phash: string,
  createdAt: number,
  rand: () => number,
) {
  const camera = kind.format === 'jpeg' || kind.format === 'heif';
  const orientation = camera && rand() < 0.3 ? 6 : 1;
  const swapped = orientation >= 5;
  const palette = Array.from({ length: 5 }, () => `#${randomBytes(3).toString('hex')}`);
  const [make, model] = pick(CAMERAS, rand);
  const exif =
    camera && rand() < 0.8
      ? {
          make,
          model,
          taken_at: new Date(createdAt - rand() * 3600_000).toISOString().slice(0, 19),
          ...(rand() < 0.4 ? { gps: true } : {}),
        }
      : {};
  const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;
  return {
    format: kind.format,
    width,
    height,
    orientation,
    oriented_width: swapped ? height : width,
    oriented_height: swapped ? width : height,
    color_space: 'srgb',
    has_alpha: kind.format === 'png' && rand() < 0.3,
    bit_depth: 8,
    size,
    exif,
    dominant_color: palette[0],
    palette,
    brightness: round(0.2 + rand() * 0.6),
    contrast: round(0.2 + rand() * 0.6),
    sharpness: round(50 + rand() * 2000, 2),
    entropy: round(5 + rand() * 2.9),
    phash,
    placeholder: randomBytes(24).toString('base64'),
    thumbnail: true,
    near_duplicates: [],
  };
}
