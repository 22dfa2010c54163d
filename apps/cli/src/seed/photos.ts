import convert from 'color-convert';
import { BLURRY_BELOW_SHARPNESS } from '@echo/uploads';
import { DAY_MS } from './insert-rows.js';
import { pick, weighted } from './random.js';

/**
 * What one seeded upload looks like to the analyzer: its format, stored and displayed size, EXIF,
 * dominant colour, sharpness and pHash, drawn so a photo library's searches find realistic shares
 * (uploads.ts turns it into the upload row, the analysis' result and the search columns).
 */
export interface Photo {
  kind: Kind;
  /** The pixel grid as stored (what the intake's header read gives). */
  stored: [number, number];
  /** As a viewer shows it (EXIF/irot orientation applied). */
  displayed: [number, number];
  /** EXIF orientation 1–8. */
  exifOrientation: number;
  exif: { make?: string; model?: string; taken_at?: string; gps?: true };
  palette: string[];
  brightness: number;
  sharpness: number;
  phash: string;
}

export interface Kind {
  type: string;
  /** The analyzer's decoded format for it (AnalysisResult.format). */
  format: string;
  weight: number;
  /** Comes off a camera: may carry EXIF and an EXIF orientation. */
  photo: boolean;
  /** Landscape displayed sizes (w > h); portrait swaps them, square takes the short side. */
  sizes: [number, number][];
  bytesPerPixel: number;
  name: (rand: () => number, at: Date) => string;
  /** The cameras that write this format (default: any). */
  cameras?: (camera: Camera) => boolean;
}

const stamp = (at: Date) => at.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '_');
const digits = (rand: () => number, n: number) => String(Math.floor(rand() * 10 ** n)).padStart(n, '0');

export const KINDS: Kind[] = [
  {
    type: 'image/jpeg',
    format: 'jpeg',
    weight: 0.57,
    photo: true,
    sizes: [
      [4032, 3024],
      [4000, 3000],
      [4080, 3072],
      [1920, 1080],
      [1600, 1200],
      [2048, 1536],
    ],
    bytesPerPixel: 0.3,
    name: (r, at) => (r() < 0.5 ? `IMG_${digits(r, 4)}.JPG` : `PXL_${stamp(at)}${digits(r, 3)}.jpg`),
  },
  {
    // iPhones shoot HEIC by default.
    type: 'image/heic',
    format: 'heic',
    weight: 0.12,
    photo: true,
    sizes: [
      [4032, 3024],
      [5712, 4284],
    ],
    bytesPerPixel: 0.15,
    name: (r) => `IMG_${digits(r, 4)}.HEIC`,
    cameras: (c) => c.make === 'Apple',
  },
  {
    type: 'image/tiff',
    format: 'tiff',
    weight: 0.01,
    photo: true,
    sizes: [
      [6000, 4000],
      [3000, 2000],
    ],
    bytesPerPixel: 3,
    name: (r) => `DSC${digits(r, 5)}.tif`,
    cameras: (c) => c.dedicated,
  },
  {
    type: 'image/png',
    format: 'png',
    weight: 0.18,
    photo: false,
    sizes: [
      [2532, 1170],
      [1920, 1080],
      [2560, 1440],
      [800, 600],
    ],
    bytesPerPixel: 1.2,
    name: (_r, at) =>
      `Screenshot ${at.toISOString().slice(0, 10)} at ${at.toISOString().slice(11, 19).replace(/:/g, '.')}.png`,
  },
  {
    type: 'image/webp',
    format: 'webp',
    weight: 0.07,
    photo: false,
    sizes: [
      [1200, 800],
      [1600, 900],
      [1080, 720],
    ],
    bytesPerPixel: 0.12,
    name: (r) => `image${digits(r, 5)}.webp`,
  },
  {
    type: 'image/gif',
    format: 'gif',
    weight: 0.02,
    photo: false,
    sizes: [
      [480, 270],
      [400, 300],
    ],
    bytesPerPixel: 2,
    name: (r) => `animation-${digits(r, 3)}.gif`,
  },
  {
    type: 'image/avif',
    format: 'avif',
    weight: 0.03,
    photo: false,
    sizes: [[1920, 1080]],
    bytesPerPixel: 0.08,
    name: (r) => `photo-${digits(r, 4)}.avif`,
  },
];

interface Camera {
  /** As the camera writes them into EXIF (the search columns lower-case them). */
  make: string;
  model: string;
  weight: number;
  /** Not a phone. */
  dedicated: boolean;
  /** Writes OffsetTimeOriginal (taken-at with its UTC offset). */
  offset: boolean;
}

const camera = (make: string, model: string, weight: number, dedicated = false): Camera => ({
  make,
  model,
  weight,
  dedicated,
  offset: !dedicated,
});
/** A few phones take most photos; dedicated cameras and odd phones make the long tail. */
const CAMERAS = normalise([
  camera('Apple', 'iPhone 13', 16),
  camera('Apple', 'iPhone 15 Pro', 13),
  camera('samsung', 'SM-S918B', 10),
  camera('Apple', 'iPhone 12', 9),
  camera('Google', 'Pixel 8', 8),
  camera('Apple', 'iPhone 14 Pro Max', 7),
  camera('samsung', 'SM-A536B', 6),
  camera('Google', 'Pixel 7a', 5),
  camera('Xiaomi', '2201123G', 4),
  camera('Apple', 'iPhone SE (2nd generation)', 3),
  camera('OnePlus', 'CPH2449', 3),
  camera('Canon', 'Canon EOS R6', 3, true),
  camera('SONY', 'ILCE-7M4', 3, true),
  camera('FUJIFILM', 'X-T5', 2, true),
  camera('NIKON CORPORATION', 'NIKON Z 6_2', 2, true),
  camera('Panasonic', 'DC-GH5', 1, true),
  camera('DJI', 'FC3582', 1, true),
]);

function normalise<T extends { weight: number }>(items: T[]): T[] {
  const sum = items.reduce((a, b) => a + b.weight, 0);
  return items.map((item) => ({ ...item, weight: item.weight / sum }));
}

/** Photos whose file still carries EXIF (messengers and editors strip the rest). */
const EXIF_SHARE = 0.8;
/** Of those, the ones with a location (phones tag most; dedicated cameras rarely). */
const GPS_SHARE = { phone: 0.75, dedicated: 0.2 };
const ORIENTATIONS = normalise([
  { name: 'landscape', weight: 60 },
  { name: 'portrait', weight: 35 },
  { name: 'square', weight: 5 },
]);
/** Photos by month taken: summer holidays and December stand out. */
const MONTHS = normalise([6, 5, 6, 7, 8, 10, 13, 13, 8, 7, 5, 12].map((weight, month) => ({ month, weight })));
/** Log-normal sharpness: σ of its log, and a median putting ~10 % below the blurry threshold (z₀.₁ = 1.2816). */
const SHARPNESS_SIGMA = 0.9;
const SHARPNESS_MEDIAN = BLURRY_BELOW_SHARPNESS * Math.exp(1.2816 * SHARPNESS_SIGMA);

/** A fresh photo (not a near-duplicate of another) uploaded at `createdAt`. */
export function newPhoto(rand: () => number, createdAt: number): Photo {
  const kind = weighted(KINDS, rand);
  const [w, h] = pick(kind.sizes, rand);
  const orientation = weighted(ORIENTATIONS, rand).name;
  const displayed: [number, number] =
    orientation === 'landscape' ? [w, h] : orientation === 'portrait' ? [h, w] : [h, h];
  // A camera held upright stores the sensor's landscape grid and says "rotate" (6 or 8) in EXIF.
  let exifOrientation = 1;
  let stored = displayed;
  if (kind.photo && orientation === 'portrait' && rand() < 0.7) {
    exifOrientation = rand() < 0.85 ? 6 : 8;
    stored = [displayed[1], displayed[0]];
  } else if (kind.photo && orientation === 'landscape' && rand() < 0.04) exifOrientation = 3;
  const exif: Photo['exif'] = {};
  if (kind.photo && rand() < EXIF_SHARE) {
    const cameras = kind.cameras ? CAMERAS.filter(kind.cameras) : CAMERAS;
    const cam = weightedAmong(cameras, rand);
    exif.make = cam.make;
    exif.model = cam.model;
    exif.taken_at = exifTakenAt(takenBefore(createdAt, rand), cam.offset ? offsetMinutes(rand) : null);
    if (rand() < (cam.dedicated ? GPS_SHARE.dedicated : GPS_SHARE.phone)) exif.gps = true;
  }
  const palette = paletteOf(dominantColour(rand), rand);
  const lightness = convert.hex.hsl(palette[0].slice(1))[2] / 100;
  return {
    kind,
    stored,
    displayed,
    exifOrientation,
    exif,
    palette,
    brightness: round(Math.min(1, Math.max(0, 0.7 * lightness + 0.3 * rand())), 4),
    sharpness: round(SHARPNESS_MEDIAN * Math.exp(SHARPNESS_SIGMA * gaussian(rand)), 2),
    phash: randomHash(rand),
  };
}

/**
 * Another shot of `of` (a burst, a re-save, the same photo uploaded twice): same kind, size,
 * camera and colours, taken seconds later, its pHash `of`'s with 1–3 bits flipped (so any two
 * copies of one scene are within 6 bits).
 */
export function nearDuplicate(of: Photo, rand: () => number): Photo {
  const exif = { ...of.exif };
  if (exif.taken_at) exif.taken_at = shiftTaken(exif.taken_at, 1 + Math.floor(rand() * 20));
  return {
    ...of,
    exif,
    brightness: round(Math.min(1, Math.max(0, of.brightness + (rand() - 0.5) * 0.04)), 4),
    sharpness: round(of.sharpness * (0.8 + 0.4 * rand()), 2),
    phash: flipBits(of.phash, 1 + Math.floor(rand() * 3), rand),
  };
}

function weightedAmong<T extends { weight: number }>(items: T[], rand: () => number): T {
  return weighted(normalise(items), rand);
}

/**
 * When a photo uploaded at `createdAt` was taken: 40 % are backed up within a week of taking; the
 * rest are older photos, up to ~8 years back (most within two), in a month weighted by season.
 */
function takenBefore(createdAt: number, rand: () => number): number {
  if (rand() < 0.4) return Math.floor((createdAt - 60_000 - rand() ** 2 * 7 * DAY_MS) / 1000) * 1000;
  const year = new Date(createdAt).getUTCFullYear();
  for (let attempt = 0; attempt < 4; attempt++) {
    const back = Math.min(8, Math.floor(-Math.log(1 - rand()) * 1.5));
    const { month } = weighted(MONTHS, rand);
    // Daytime mostly: 07:00–22:59.
    const at = Date.UTC(year - back, month, 1 + Math.floor(rand() * 28), 7 + Math.floor(rand() * 16), 0, 0);
    const t = at + Math.floor(rand() * 3600) * 1000;
    if (t < createdAt - 3600_000) return t;
  }
  return Math.floor((createdAt - (30 + rand() * 300) * DAY_MS) / 1000) * 1000;
}

/** A phone's zone offset in minutes (most seeded users are in Europe or the Americas). */
function offsetMinutes(rand: () => number): number {
  return pick([0, 60, 60, 120, 120, -300, -240, -420, 330, 540], rand);
}

/**
 * EXIF DateTimeOriginal as the analyzer reports it: local wall-clock `YYYY-MM-DDTHH:MM:SS`, with
 * `±HH:MM` when the camera wrote OffsetTimeOriginal (without one it is read as UTC, see takenAtOf).
 */
function exifTakenAt(instant: number, offset: number | null): string {
  const local = new Date(instant + (offset ?? 0) * 60_000).toISOString().slice(0, 19);
  if (offset === null) return local;
  const abs = Math.abs(offset);
  return `${local}${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** The same wall-clock string `seconds` later (keeping its offset, if any). */
function shiftTaken(value: string, seconds: number): string {
  const zone = /([+-]\d\d:\d\d)$/.exec(value)?.[1] ?? '';
  const wall = new Date(`${value.slice(0, 19)}Z`).getTime() + seconds * 1000;
  return `${new Date(wall).toISOString().slice(0, 19)}${zone}`;
}

/**
 * A dominant colour as a photo library has them: many greys (overcast, documents, screenshots),
 * browns and skin tones, sky and sea blues, foliage greens, and every other hue.
 */
function dominantColour(rand: () => number): [number, number, number] {
  const between = (a: number, b: number) => a + (b - a) * rand();
  const r = rand();
  if (r < 0.3) return [between(0, 360), between(0, 8), between(8, 92)];
  if (r < 0.5) return [between(15, 45), between(20, 55), between(15, 55)];
  if (r < 0.65) return [between(195, 230), between(30, 80), between(30, 80)];
  if (r < 0.77) return [between(70, 150), between(20, 60), between(20, 50)];
  return [between(0, 360), between(30, 95), between(20, 80)];
}

/** Five distinct `#rrggbb`, the dominant first: two shades of it, two colours of their own. */
function paletteOf([h, s, l]: [number, number, number], rand: () => number): string[] {
  const hex = (hh: number, ss: number, ll: number) =>
    `#${convert.hsl.hex([((hh % 360) + 360) % 360, clamp(ss, 0, 100), clamp(ll, 0, 100)]).toLowerCase()}`;
  const palette = new Set([hex(h, s, l)]);
  for (let attempt = 0; palette.size < 5 && attempt < 20; attempt++) {
    palette.add(
      palette.size < 3
        ? hex(h + (rand() - 0.5) * 30, s + (rand() - 0.5) * 20, l + (rand() - 0.5) * 40)
        : hex(rand() * 360, rand() * 80, 15 + rand() * 70),
    );
  }
  return [...palette];
}

function randomHash(rand: () => number): string {
  const word = () =>
    Math.floor(rand() * 2 ** 32)
      .toString(16)
      .padStart(8, '0');
  return word() + word();
}

function flipBits(hash: string, count: number, rand: () => number): string {
  let bits = BigInt(`0x${hash}`);
  const flipped = new Set<number>();
  while (flipped.size < count) flipped.add(Math.floor(rand() * 64));
  for (const bit of flipped) bits ^= 1n << BigInt(bit);
  return bits.toString(16).padStart(16, '0');
}

/** Standard normal (Box–Muller). */
function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
export const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
