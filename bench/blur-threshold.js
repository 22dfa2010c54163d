#!/usr/bin/env node
// Where BLURRY_BELOW_SHARPNESS (libs/uploads/src/search/blur.ts) comes from: the analyzer's real
// `sharpness` (variance of the Laplacian of the luma at 256 px long edge) on real photos, sharp and
// blurred. Prints the table (photo × variant → sharpness), what the threshold flags and misses with
// its margins, and the same for one candidate metric (the Laplacian on the analyzer's 512 px plane).
//
//   npx nest build && node bench/blur-threshold.js            the committed test/fixtures/photos
//   node bench/blur-threshold.js --dir /some/originals        the same on other files (e.g. full-size sources)
//
// Variants are made at a 2048 px long edge, as a phone photo is looked at; a smaller file is worked
// on at its own size with every blur length scaled by size/2048 (the same blur relative to the
// frame, which is all the analyzer sees after its resize to 256 px). Every variant is JPEG q85
// unless named otherwise. No network; needs the built analyzer (dist/).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { helpAndExit } from './lib/cli.js';
import { fmt, table } from './lib/report.js';
import { ROOT } from './lib/stack.js';

const HELP = `Sharpness of real photos, sharp and blurred, through the built analyzer (npx nest build first).

  --dir DIR      folder of .jpg/.png photos (default test/fixtures/photos)
  --threshold N  threshold to report margins for (default: BLURRY_BELOW_SHARPNESS from dist)
  --help`;

const { values: flags } = parseArgs({
  options: { dir: { type: 'string' }, threshold: { type: 'string' }, help: { type: 'boolean' } },
});
helpAndExit(flags, HELP);

const REFERENCE_EDGE = 2048;
const SIZES = [4000, 2048, 1024];
const GAUSSIAN_SIGMAS = [1, 1.5, 2, 3, 5];
const MOTION_LENGTHS = [9, 15];
const DEFOCUS_RADII = [4, 6];
/** Sensor-like noise: std-dev in 0–255 units, per channel, at the reference size. */
const NOISE_SIGMA = 10;

/**
 * What a person calls the variant. `blurry`: σ ≥ 2 px, motion ≥ 9 px, defocus r ≥ 4 px at 2048 px
 * (all soft at a glance on a phone). `sharp`: the photo as taken, resized, recompressed or noisy.
 * σ 1 and 1.5 are soft only when zoomed in: measured, not used for the threshold.
 */
const KIND = {
  original: 'sharp',
  '4000px': 'sharp',
  '2048px': 'sharp',
  '1024px': 'sharp',
  'jpeg q30': 'sharp',
  [`noise σ${NOISE_SIGMA}`]: 'sharp',
  'gauss σ1': 'between',
  'gauss σ1.5': 'between',
  'gauss σ2': 'blurry',
  'gauss σ3': 'blurry',
  'gauss σ5': 'blurry',
  'motion 9px': 'blurry',
  'motion 15px': 'blurry',
  'defocus r4': 'blurry',
  'defocus r6': 'blurry',
};

const dir = flags.dir ?? join(ROOT, 'test/fixtures/photos');
const dist = join(ROOT, 'dist/libs/visual-analysis/src/analyzer/index.js');
const blurDist = join(ROOT, 'dist/libs/uploads/src/search/blur.js');
if (!existsSync(dist)) throw new Error(`${dist} is missing: run \`npx nest build\` first`);
const { analyzeImage, ANALYSIS_WORKING_SIZE } = await import(dist);
const { lumaPlane, laplacianVariance } = await import(join(ROOT, 'dist/libs/visual-analysis/src/analyzer/metrics.js'));
const threshold = flags.threshold ? Number(flags.threshold) : (await import(blurDist)).BLURRY_BELOW_SHARPNESS;

const jpeg = (image, quality = 85) => image.jpeg({ quality }).toBuffer();

/** Normalised 1-D Gaussian taps for σ < 0.3, which sharp's blur() refuses. */
function gaussianKernel(sigma) {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const taps = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = taps.reduce((a, b) => a + b, 0);
  return taps.map((t) => t / sum);
}

function gaussian(image, sigma) {
  // sharp's default minAmplitude (0.2) cuts the mask to a single tap below σ ≈ 0.55: ask for a full one.
  if (sigma >= 0.3) return image.blur({ sigma, minAmplitude: 0.005, precision: 'float' });
  const taps = gaussianKernel(sigma);
  const n = taps.length;
  const kernel = [];
  for (const a of taps) for (const b of taps) kernel.push(a * b);
  return image.convolve({ width: n, height: n, kernel });
}

/** Horizontal box of a (possibly fractional) length: whole taps 1, the two end taps the remainder. */
function motion(image, length) {
  const half = length / 2;
  const radius = Math.max(1, Math.ceil(half - 0.5));
  const row = Array.from({ length: 2 * radius + 1 }, (_, i) => {
    const d = Math.abs(i - radius);
    return Math.max(0, Math.min(1, half - (d - 0.5)));
  });
  const zeros = row.map(() => 0); // sharp wants a kernel at least 3 rows high
  const kernel = [...zeros, ...row, ...zeros];
  return image.convolve({ width: row.length, height: 3, kernel, scale: row.reduce((a, b) => a + b, 0) });
}

/** Defocus: a uniform disc of radius r, edge pixels weighted by the area they cover (4×4 samples). */
function defocus(image, r) {
  const radius = Math.ceil(r);
  const n = 2 * radius + 1;
  const kernel = [];
  for (let y = -radius; y <= radius; y++) {
    for (let x = -radius; x <= radius; x++) {
      let inside = 0;
      for (let sy = 0; sy < 4; sy++)
        for (let sx = 0; sx < 4; sx++) if ((x - 0.375 + sx / 4) ** 2 + (y - 0.375 + sy / 4) ** 2 <= r * r) inside++;
      kernel.push(inside / 16);
    }
  }
  return image.convolve({ width: n, height: n, kernel, scale: kernel.reduce((a, b) => a + b, 0) });
}

/** Deterministic Gaussian noise (mulberry32 + Box–Muller) added to raw RGB. */
async function noisy(image, sigma) {
  const { data, info } = await image.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let seed = 0x5eed;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) {
    const g = Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
    out[i] = Math.max(0, Math.min(255, Math.round(data[i] + sigma * g)));
  }
  return sharp(out, { raw: { width: info.width, height: info.height, channels: info.channels } });
}

/** The analyzer's own ≤512 px luma plane: same decode, same luma (for the 512 px candidate below). */
async function workingLuma(bytes) {
  const { data, info } = await sharp(bytes)
    .rotate()
    .resize(ANALYSIS_WORKING_SIZE, ANALYSIS_WORKING_SIZE, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return { luma: lumaPlane({ data, width: info.width, height: info.height, channels: info.channels }), ...info };
}

/** Every variant of one photo, as encoded files. */
async function variants(bytes) {
  const meta = await sharp(bytes).rotate().metadata();
  const swapped = (meta.orientation ?? 1) >= 5;
  const longEdge = Math.max(meta.width, meta.height);
  const out = [['original', bytes]];
  for (const size of SIZES) {
    if (size < longEdge) {
      out.push([`${size}px`, await jpeg(sharp(bytes).rotate().resize(size, size, { fit: 'inside' }))]);
    }
  }
  // The reference image every blur starts from: 2048 px, or the file's own size when smaller.
  const edge = Math.min(longEdge, REFERENCE_EDGE);
  const k = edge / REFERENCE_EDGE;
  const reference = await sharp(bytes)
    .rotate()
    .resize(edge, edge, { fit: 'inside' })
    .removeAlpha()
    .toColourspace('srgb')
    .png({ compressionLevel: 0 })
    .toBuffer();
  const base = () => sharp(reference);
  out.push(['jpeg q30', await jpeg(base(), 30)]);
  out.push([`noise σ${NOISE_SIGMA}`, await jpeg(await noisy(base(), NOISE_SIGMA))]);
  for (const s of GAUSSIAN_SIGMAS) out.push([`gauss σ${s}`, await jpeg(gaussian(base(), s * k))]);
  for (const l of MOTION_LENGTHS) out.push([`motion ${l}px`, await jpeg(motion(base(), l * k))]);
  for (const r of DEFOCUS_RADII) out.push([`defocus r${r}`, await jpeg(defocus(base(), r * k))]);
  return { size: swapped ? `${meta.height}×${meta.width}` : `${meta.width}×${meta.height}`, edge, list: out };
}

const files = readdirSync(dir)
  .filter((f) => /\.(jpe?g|png)$/i.test(f))
  .sort();
if (files.length === 0) throw new Error(`no .jpg/.png photos in ${dir}`);

const rows = [];
const columns = Object.keys(KIND);
for (const file of files) {
  const { size, edge, list } = await variants(readFileSync(join(dir, file)));
  const row = { photo: basename(file).replace(/\.\w+$/, ''), size, edge, values: {}, lap512: {} };
  for (const [name, buf] of list) {
    const { result } = await analyzeImage(buf, { maxPixels: 200_000_000 });
    row.values[name] = result.sharpness;
    const plane = await workingLuma(buf);
    row.lap512[name] = laplacianVariance(plane.luma, plane.width, plane.height);
  }
  rows.push(row);
}

const present = columns.filter((c) => rows.some((r) => r.values[c] !== undefined));
/** A photo whose name starts with "blurry-" is blurry as taken: every variant of it is. */
const kindOf = (row, column) =>
  row.photo.startsWith('blurry-') ? (column.startsWith('noise') ? 'between' : 'blurry') : KIND[column];
const points = (key) =>
  rows.flatMap((r) =>
    present
      .filter((c) => r[key][c] !== undefined)
      .map((c) => ({ v: r[key][c], kind: kindOf(r, c), at: `${r.photo} / ${c}` })),
  );

/** The threshold with the fewest errors (sharp below it + blurry at or above it), widest gap on a tie. */
function bestThreshold(key) {
  const pts = points(key).filter((p) => p.kind !== 'between');
  const values = [...new Set(pts.map((p) => p.v))].sort((a, b) => a - b);
  let best;
  for (let i = 0; i < values.length - 1; i++) {
    const t = Math.sqrt(Math.max(values[i], 1e-9) * values[i + 1]); // geometric midpoint: the metrics are ratio-like
    const errors = pts.filter((p) => (p.kind === 'sharp' ? p.v < t : p.v >= t)).length;
    const gap = values[i + 1] / Math.max(values[i], 1e-9);
    if (!best || errors < best.errors || (errors === best.errors && gap > best.gap))
      best = { t, errors, gap, of: pts.length };
  }
  return best;
}

/** What a threshold does: margins, sharp variants it flags, blurry variants it catches per column. */
function atThreshold(key, threshold, digits) {
  const pts = points(key);
  const sharp = pts.filter((p) => p.kind === 'sharp');
  const lowestSharp = sharp.reduce((a, b) => (b.v < a.v ? b : a));
  const caught = pts.filter((p) => p.kind !== 'sharp' && p.v < threshold);
  const highestCaught = caught.length ? caught.reduce((a, b) => (b.v > a.v ? b : a)) : undefined;
  const flagged = sharp.filter((p) => p.v < threshold);
  const perColumn = present
    .filter((c) => KIND[c] !== 'sharp')
    .map((c) => {
      const col = rows.filter((r) => !r.photo.startsWith('blurry-')).map((r) => r[key][c]);
      return `${c} ${col.filter((v) => v < threshold).length}/${col.length}`;
    });
  const really = rows.filter((r) => r.photo.startsWith('blurry-'));
  return [
    `  lowest sharp variant:  ${fmt(lowestSharp.v, digits)} (${lowestSharp.at}) = ×${fmt(lowestSharp.v / threshold, 2)} the threshold`,
    highestCaught
      ? `  highest caught blur:   ${fmt(highestCaught.v, digits)} (${highestCaught.at}) = ×${fmt(highestCaught.v / threshold, 2)} the threshold`
      : '  no blurred variant caught',
    `  sharp variants called blurry: ${flagged.length}/${sharp.length}${flagged.length ? ': ' + flagged.map((p) => p.at).join(', ') : ''}`,
    `  blurred variants caught (of the sharp photos): ${perColumn.join(', ')}`,
    ...really.map((r) => `  ${r.photo} (blurry as taken): ${fmt(r[key].original, digits === 0 ? 1 : digits)}`),
  ].join('\n');
}

const METRICS = [
  { key: 'values', name: "sharpness (the analyzer's: Laplacian variance at 256 px)", digits: 0 },
  { key: 'lap512', name: 'candidate: the same Laplacian variance on the analyzer’s 512 px luma', digits: 0 },
];

console.log(`Photos: ${dir}`);
console.log(
  `Blurs at a ${REFERENCE_EDGE} px long edge (smaller files: their own size, blur scaled by size/${REFERENCE_EDGE}); JPEG q85.`,
);
console.log(
  `blurry = gauss σ ≥ 2, motion ≥ 9 px, defocus r ≥ 4 (at ${REFERENCE_EDGE} px), and "blurry-*" photos; sharp = originals, sizes, q30, noise.`,
);
for (const { key, name, digits } of METRICS) {
  console.log(`\n## ${name}\n`);
  console.log(
    table(rows, [
      { title: 'photo', value: (r) => r.photo, align: 'left' },
      { title: 'size', value: (r) => r.size },
      ...present.map((c) => ({ title: c, value: (r) => fmt(r[key][c], r[key][c] < 10 ? 1 : digits) })),
    ]),
  );
  const best = bestThreshold(key);
  console.log(
    best.errors === 0
      ? `\nsharp and blurry separate: any threshold around ${fmt(best.t, 1)} (gap ×${fmt(best.gap, 2)})`
      : `\nno threshold separates sharp from blurry: the best, ${fmt(best.t, 1)}, still gets ${best.errors} of ${best.of} wrong`,
  );
  if (key === 'values') {
    console.log(`\nBLURRY_BELOW_SHARPNESS = ${threshold}:`);
    console.log(atThreshold(key, threshold, digits));
  } else {
    const lowest = Math.min(
      ...points(key)
        .filter((p) => p.kind === 'sharp')
        .map((p) => p.v),
    );
    console.log(`\nat ${fmt(lowest * 0.9, 1)} (10 % under the lowest sharp variant):`);
    console.log(atThreshold(key, lowest * 0.9, digits));
  }
}
