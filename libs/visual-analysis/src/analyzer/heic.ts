/**
 * HEIC (HEIF with HEVC) decoding for the worker, through libheif-js: libheif + libde265 compiled to
 * WebAssembly, installed from npm with no system library. sharp's prebuilt libvips reads a HEIC's
 * header but has no HEVC decoder.
 *
 * libheif-js is used directly rather than through heic-decode, which wraps it: heic-decode decodes the
 * first top-level image, not the primary one, and always to RGBA.
 *
 * Memory: a decode grows the WebAssembly heap (measured: ~200 MB for 12 MP, ~330 MB for 48 MP), and a
 * wasm heap never shrinks (a fresh module instance does not free the old one either). The decode is
 * synchronous wasm on the event loop, so parallel decodes gain nothing; HEIC_DECODE_SLOTS bounds them
 * per process whatever WORKER_CONCURRENCY is, which bounds the heap to one decode of the largest
 * image UPLOAD_MAX_PIXELS allows.
 */
import { createRequire } from 'node:module';
import { UnrecoverableImageError } from './errors.js';
import { failureReason } from './failure-reason.js';
import { Semaphore } from './semaphore.js';

/** HEIC decodes at once per process (see above). */
export const HEIC_DECODE_SLOTS = 1;
const slots = new Semaphore(HEIC_DECODE_SLOTS);
const stats = { decodes: 0, inFlight: 0, peakInFlight: 0 };

/** Decodes done and the most that ever ran at once in this process (tests and diagnostics). */
export function heicDecodeStats(): { decodes: number; peakInFlight: number } {
  return { decodes: stats.decodes, peakInFlight: stats.peakInFlight };
}

/** The few parts of libheif-js's Emscripten module used here (it ships no typings for its JS API). */
interface HeifObject {
  $$: { ptr: number };
}
interface HeifError {
  code: unknown;
  message: string;
}
interface HeifChannel {
  id: unknown;
  width: number;
  height: number;
  stride: number;
  data: Uint8Array;
}
interface LibHeif {
  ready: Promise<void>;
  heif_error_code: { heif_error_Ok: unknown };
  heif_colorspace: { heif_colorspace_RGB: unknown };
  heif_chroma: { heif_chroma_interleaved_RGB: unknown; heif_chroma_interleaved_RGBA: unknown };
  heif_context_alloc(): HeifObject;
  heif_context_free(ctx: HeifObject): void;
  heif_context_read_from_memory(ctx: HeifObject, data: Uint8Array): HeifError;
  heif_js_context_get_primary_image_handle(ctx: HeifObject): HeifObject | HeifError;
  heif_image_handle_release(handle: HeifObject): void;
  heif_image_handle_get_width(handle: HeifObject): number;
  heif_image_handle_get_height(handle: HeifObject): number;
  heif_image_handle_has_alpha_channel(handle: HeifObject): number;
  heif_js_decode_image2(
    handle: HeifObject,
    colorspace: unknown,
    chroma: unknown,
  ): Promise<{ image: unknown; channels: HeifChannel[] } | HeifError>;
  heif_image_release(image: unknown): void;
  // Raw C functions (pointer arguments): the transformation properties have no JS wrapper.
  _heif_image_handle_get_item_id(handle: number): number;
  _heif_image_handle_get_ispe_width(handle: number): number;
  _heif_image_handle_get_ispe_height(handle: number): number;
  _heif_item_get_transformation_properties(ctx: number, item: number, out: number, max: number): number;
  _heif_item_get_property_type(ctx: number, item: number, property: number): number;
  _heif_item_get_property_transform_rotation_ccw(ctx: number, item: number, property: number): number;
  _heif_item_get_property_transform_mirror(ctx: number, item: number, property: number): number;
  _heif_image_handle_get_luma_bits_per_pixel(handle: number): number;
  _heif_image_handle_get_list_of_metadata_block_IDs(
    handle: number,
    typeFilter: number,
    ids: number,
    max: number,
  ): number;
  _heif_image_handle_get_metadata_size(handle: number, id: number): number;
  /** Returns a heif_error struct through its first argument (the wasm ABI's return pointer). */
  _heif_image_handle_get_metadata(error: number, handle: number, id: number, out: number): void;
  /** A fourcc: 'nclx', 'prof' or 'rICC'; 0 without a colour profile. */
  _heif_image_handle_get_color_profile_type(handle: number): number;
  _heif_image_handle_get_raw_color_profile_size(handle: number): number;
  /** Returns a heif_error through its first argument. */
  _heif_image_handle_get_raw_color_profile(error: number, handle: number, out: number): void;
  /** Returns a heif_error through its first argument; `out` receives a heif_color_profile_nclx* to free. */
  _heif_image_handle_get_nclx_color_profile(error: number, handle: number, out: number): void;
  _heif_nclx_color_profile_free(profile: number): void;
  _malloc(size: number): number;
  _free(ptr: number): void;
  HEAPU8: Uint8Array;
  HEAP32: Int32Array;
  HEAPU32: Uint32Array;
}

let loading: Promise<LibHeif> | undefined;

/** Loads (once) and returns libheif-js. Loaded on first use: only a worker that decodes HEIC pays for it. */
export function loadLibheif(): Promise<LibHeif> {
  loading ??= (async () => {
    const lib = createRequire(import.meta.url)('libheif-js/wasm-bundle') as LibHeif;
    await lib.ready;
    return lib;
  })();
  return loading;
}

/** libheif-js's version, for the worker's start-up log. */
export function libheifVersion(): string {
  return (createRequire(import.meta.url)('libheif-js/package.json') as { version: string }).version;
}

export interface HeicPixels {
  /** Interleaved 8-bit RGB or RGBA, upright (libheif applied irot/imir/clap). */
  data: Buffer;
  channels: 3 | 4;
  /** Displayed size (after the container's transforms). */
  width: number;
  height: number;
  /** Stored size (the `ispe` property, before the transforms). */
  storedWidth: number;
  storedHeight: number;
  /** The container's irot/imir as the equivalent EXIF orientation, 1–8. */
  orientation: number;
  /** Bits per luma sample in the file (8, 10, 12). */
  bitDepth: number;
  /** The primary image's EXIF block from the TIFF header on (what sharp's metadata().exif holds), if any. */
  exif?: Buffer;
  /** The colour space `data` is in: an ICC profile, an nclx colour-primaries code (H.273), or neither (sRGB assumed). */
  colour: HeicColour;
}

/**
 * The container's `colr` property. `primaries` is H.273's ColourPrimaries (1 BT.709/sRGB, 9 BT.2020,
 * 12 Display P3); the pixels libheif returns are still in that space: it converts YCbCr to RGB, not
 * between colour spaces.
 */
export interface HeicColour {
  icc?: Buffer;
  primaries?: number;
}

const fourcc = (s: string): number =>
  ((s.charCodeAt(0) << 24) | (s.charCodeAt(1) << 16) | (s.charCodeAt(2) << 8) | s.charCodeAt(3)) >>> 0;
const IROT = fourcc('irot');
const NCLX = fourcc('nclx');
const PROF = fourcc('prof');
const RICC = fourcc('rICC');
const IMIR = fourcc('imir');
/** libheif's heif_transform_mirror_direction: 0 flips top↔bottom, 1 flips left↔right. */
const MIRROR_TOP_BOTTOM = 0;

function isError(v: unknown): v is HeifError {
  return typeof v === 'object' && v !== null && 'code' in v && 'message' in v && !('$$' in v);
}

/** `what` is said when libheif's own message names no known cause (truncation, a missing codec). */
function heicFailure(what: string, detail: string | undefined): UnrecoverableImageError {
  const known = detail ? failureReason(detail, 'heic') : '';
  const reason = known.startsWith('a damaged') || !known ? what : known;
  return new UnrecoverableImageError(`The image could not be decoded: ${reason}.`, 'undecodable', {
    cause: new Error(`libheif: ${detail ?? 'no detail'}`),
  });
}

/**
 * Decodes the primary image of a HEIC to upright 8-bit pixels. The caller has already checked the
 * header's pixel count; it is checked again here on libheif's own reading before any pixel is decoded.
 */
export async function decodeHeic(input: Buffer, maxPixels: number): Promise<HeicPixels> {
  const lib = await loadLibheif();
  return slots.run(async () => {
    stats.decodes++;
    stats.peakInFlight = Math.max(stats.peakInFlight, ++stats.inFlight);
    const ctx = lib.heif_context_alloc();
    let handle: HeifObject | undefined;
    try {
      const read = lib.heif_context_read_from_memory(ctx, input);
      if (read.code !== lib.heif_error_code.heif_error_Ok)
        throw heicFailure('a damaged or incomplete HEIC file', read.message);
      const primary = lib.heif_js_context_get_primary_image_handle(ctx);
      if (isError(primary)) throw heicFailure('a HEIC file without a readable primary image', primary.message);
      handle = primary;
      const width = lib.heif_image_handle_get_width(handle);
      const height = lib.heif_image_handle_get_height(handle);
      if (!(width > 0 && height > 0)) throw heicFailure('a HEIC file whose primary image has no size', undefined);
      if (width * height > maxPixels) {
        throw new UnrecoverableImageError(
          `Image is ${width}×${height} pixels, over the ${maxPixels} pixel limit.`,
          'too_large',
        );
      }
      const hp = handle.$$.ptr;
      const storedWidth = lib._heif_image_handle_get_ispe_width(hp) || width;
      const storedHeight = lib._heif_image_handle_get_ispe_height(hp) || height;
      // libheif decodes the coded size and crops afterwards: a small clean aperture on a huge image
      // costs the huge image.
      if (storedWidth * storedHeight > maxPixels) {
        throw new UnrecoverableImageError(
          `Image is ${storedWidth}×${storedHeight} pixels, over the ${maxPixels} pixel limit.`,
          'too_large',
        );
      }
      const orientation = containerOrientation(lib, ctx.$$.ptr, lib._heif_image_handle_get_item_id(hp));
      const bitDepth = lib._heif_image_handle_get_luma_bits_per_pixel(hp);
      const exif = readExif(lib, hp);
      const colour = readColour(lib, hp);

      const alpha = Boolean(lib.heif_image_handle_has_alpha_channel(handle));
      const chroma = alpha ? lib.heif_chroma.heif_chroma_interleaved_RGBA : lib.heif_chroma.heif_chroma_interleaved_RGB;
      const decoded = await lib.heif_js_decode_image2(handle, lib.heif_colorspace.heif_colorspace_RGB, chroma);
      if (!decoded || isError(decoded)) {
        throw heicFailure('a HEIC file whose image data is damaged or incomplete', decoded?.message);
      }
      try {
        const channels = alpha ? 4 : 3;
        const plane = decoded.channels[0];
        if (!plane || plane.width !== width || plane.height !== height) {
          throw heicFailure('a HEIC file that decodes to an unexpected size', `${plane?.width}×${plane?.height}`);
        }
        const row = width * channels;
        const data = Buffer.allocUnsafe(row * height);
        // Rows may be padded (stride > row): copy row by row.
        for (let y = 0; y < height; y++)
          data.set(plane.data.subarray(y * plane.stride, y * plane.stride + row), y * row);
        return { data, channels, width, height, storedWidth, storedHeight, orientation, bitDepth, exif, colour };
      } finally {
        lib.heif_image_release(decoded.image);
      }
    } finally {
      if (handle) lib.heif_image_handle_release(handle);
      lib.heif_context_free(ctx);
      stats.inFlight--;
    }
  });
}

/** Longest EXIF block read (real ones are a few KiB to ~64 KiB). */
const MAX_EXIF_BYTES = 1 << 20;

/**
 * The primary image's EXIF block through libheif (sharp's metadata() gives the same for files it can
 * read). libheif's block starts with a 4-byte offset to the TIFF header, skipped here.
 */
function readExif(lib: LibHeif, handle: number): Buffer | undefined {
  const filter = lib._malloc(8);
  const ids = lib._malloc(4 * 4);
  const error = lib._malloc(16);
  let out = 0;
  try {
    lib.HEAPU8.set([0x45, 0x78, 0x69, 0x66, 0], filter); // "Exif\0"
    if (lib._heif_image_handle_get_list_of_metadata_block_IDs(handle, filter, ids, 4) < 1) return undefined;
    const id = lib.HEAPU32[ids >> 2];
    const size = lib._heif_image_handle_get_metadata_size(handle, id);
    if (size < 12 || size > MAX_EXIF_BYTES) return undefined;
    out = lib._malloc(size);
    lib._heif_image_handle_get_metadata(error, handle, id, out);
    if (lib.HEAP32[error >> 2] !== 0) return undefined;
    const raw = Buffer.from(lib.HEAPU8.subarray(out, out + size)); // a copy: the heap may move
    const tiff = 4 + raw.readUInt32BE(0);
    return tiff + 8 <= raw.length ? raw.subarray(tiff) : undefined;
  } finally {
    for (const p of [filter, ids, error, out]) if (p) lib._free(p);
  }
}

/** Longest ICC profile read (real ones are 0.5–4 KiB; some printer profiles reach a few MiB). */
const MAX_ICC_BYTES = 4 << 20;

/** The primary image's colour profile: its ICC bytes, or its nclx primaries (see HeicColour). */
function readColour(lib: LibHeif, handle: number): HeicColour {
  const type = lib._heif_image_handle_get_color_profile_type(handle) >>> 0;
  const error = lib._malloc(16);
  let out = 0;
  try {
    if (type === PROF || type === RICC) {
      const size = lib._heif_image_handle_get_raw_color_profile_size(handle);
      if (size < 132 || size > MAX_ICC_BYTES) return {};
      out = lib._malloc(size);
      lib._heif_image_handle_get_raw_color_profile(error, handle, out);
      if (lib.HEAP32[error >> 2] !== 0) return {};
      return { icc: Buffer.from(lib.HEAPU8.subarray(out, out + size)) }; // a copy: the heap may move
    }
    if (type === NCLX) {
      out = lib._malloc(4);
      lib.HEAPU32[out >> 2] = 0;
      lib._heif_image_handle_get_nclx_color_profile(error, handle, out);
      const nclx = lib.HEAPU32[out >> 2];
      if (lib.HEAP32[error >> 2] !== 0 || !nclx) return {};
      // struct heif_color_profile_nclx { uint8_t version; enum color_primaries; … }: the enum sits at 4 in wasm32.
      const primaries = lib.HEAP32[(nclx >> 2) + 1];
      lib._heif_nclx_color_profile_free(nclx);
      return { primaries };
    }
    return {};
  } finally {
    lib._free(error);
    if (out) lib._free(out);
  }
}

/** The item's irot/imir properties, in the order libheif applies them, as an EXIF orientation. */
function containerOrientation(lib: LibHeif, ctx: number, item: number): number {
  const MAX = 8;
  const out = lib._malloc(4 * MAX);
  const ops: Op[] = [];
  try {
    const n = Math.min(MAX, lib._heif_item_get_transformation_properties(ctx, item, out, MAX));
    for (let i = 0; i < n; i++) {
      const property = lib.HEAPU32[(out >> 2) + i];
      const type = lib._heif_item_get_property_type(ctx, item, property) >>> 0;
      if (type === IROT) {
        const ccw = lib._heif_item_get_property_transform_rotation_ccw(ctx, item, property);
        for (let k = 0; k < ((ccw / 90) & 3); k++) ops.push('ccw');
      } else if (type === IMIR) {
        ops.push(
          lib._heif_item_get_property_transform_mirror(ctx, item, property) === MIRROR_TOP_BOTTOM ? 'flipTB' : 'flipLR',
        );
      }
    }
  } finally {
    lib._free(out);
  }
  return orientationOf(ops);
}

type Op = 'ccw' | 'flipLR' | 'flipTB';
type Grid = number[][];

const apply: Record<Op | 'transpose', (g: Grid) => Grid> = {
  ccw: (g) => g[0].map((_, x) => g.map((row) => row[row.length - 1 - x])),
  flipLR: (g) => g.map((row) => [...row].reverse()),
  flipTB: (g) => [...g].reverse(),
  transpose: (g) => g[0].map((_, x) => g.map((row) => row[x])),
};

/** What EXIF orientation N asks a viewer to do to the stored image, as the same operations. */
const EXIF_OPS: Record<number, Array<Op | 'transpose'>> = {
  1: [],
  2: ['flipLR'],
  3: ['ccw', 'ccw'],
  4: ['flipTB'],
  5: ['transpose'],
  6: ['ccw', 'ccw', 'ccw'],
  7: ['transpose', 'ccw', 'ccw'],
  8: ['ccw'],
};

/**
 * The EXIF orientation equivalent to a sequence of container transforms: both are applied to a
 * small labelled 2×3 grid and compared (eight possible results, so every sequence maps to one).
 */
export function orientationOf(ops: readonly Op[]): number {
  const start: Grid = [
    [1, 2, 3],
    [4, 5, 6],
  ];
  const run = (list: ReadonlyArray<Op | 'transpose'>) => JSON.stringify(list.reduce((g, op) => apply[op](g), start));
  const target = run(ops);
  for (const [o, list] of Object.entries(EXIF_OPS)) if (run(list) === target) return Number(o);
  return 1;
}
