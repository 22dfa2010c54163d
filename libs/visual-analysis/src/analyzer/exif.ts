/**
 * Minimal, defensive EXIF (TIFF/IFD) reader for the buffer sharp returns as `metadata().exif`.
 *
 * No EXIF package is installed, so this reads only what Echo stores:
 *   IFD0 Make (0x010f), Model (0x0110), DateTime (0x0132), ExifIFD pointer (0x8769) →
 *   DateTimeOriginal (0x9003), CreateDate a.k.a. DateTimeDigitized (0x9004), their offsets
 *   OffsetTime (0x9010), OffsetTimeOriginal (0x9011), OffsetTimeDigitized (0x9012); GPS IFD pointer (0x8825).
 *
 * Rules: both byte orders ("II" little-endian, "MM" big-endian); every offset and length is
 * bounds-checked against the buffer; no recursion beyond IFD0 → ExifIFD; garbage never throws,
 * it yields `{}` (or whatever fields were read cleanly before the garbage).
 */

export interface ExifSummary {
  make?: string;
  model?: string;
  /**
   * When the photo was taken, as ISO 8601 `YYYY-MM-DDTHH:MM:SS` (+ `±HH:MM` when an offset is
   * recorded): DateTimeOriginal, else CreateDate (DateTimeDigitized), else DateTime — the order
   * cameras write them in. Each takes its own offset tag, else OffsetTimeOriginal.
   */
  taken_at?: string;
  /** true when a GPS IFD is present (the coordinates themselves are deliberately not read). */
  gps?: true;
}

const TAG_MAKE = 0x010f;
const TAG_MODEL = 0x0110;
const TAG_EXIF_IFD = 0x8769;
const TAG_GPS_IFD = 0x8825;
const TAG_DATETIME = 0x0132;
const TAG_DATETIME_ORIGINAL = 0x9003;
const TAG_DATETIME_DIGITIZED = 0x9004;
const TAG_OFFSET_TIME = 0x9010;
const TAG_OFFSET_TIME_ORIGINAL = 0x9011;
const TAG_OFFSET_TIME_DIGITIZED = 0x9012;

const TYPE_ASCII = 2;
const TYPE_LONG = 4;
const TYPE_IFD = 13;

/** Longest Make/Model we keep (real values are ~10–40 chars). */
const MAX_TEXT = 128;

interface Entry {
  tag: number;
  type: number;
  count: number;
  /** Absolute offset (into the TIFF block) of the 4-byte value/offset field. */
  valueFieldOffset: number;
}

class TiffView {
  constructor(
    private readonly buf: Buffer,
    private readonly le: boolean,
  ) {}

  get length(): number {
    return this.buf.length;
  }

  u16(off: number): number | undefined {
    if (!Number.isInteger(off) || off < 0 || off + 2 > this.buf.length) return undefined;
    return this.le ? this.buf.readUInt16LE(off) : this.buf.readUInt16BE(off);
  }

  u32(off: number): number | undefined {
    if (!Number.isInteger(off) || off < 0 || off + 4 > this.buf.length) return undefined;
    return this.le ? this.buf.readUInt32LE(off) : this.buf.readUInt32BE(off);
  }

  /** Reads the entries of the IFD at `off`; entries that do not fit in the buffer are dropped. */
  entries(off: number): Entry[] {
    const count = this.u16(off);
    if (count === undefined) return [];
    const out: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const e = off + 2 + i * 12;
      if (e + 12 > this.buf.length) break;
      out.push({
        tag: this.u16(e)!,
        type: this.u16(e + 2)!,
        count: this.u32(e + 4)!,
        valueFieldOffset: e + 8,
      });
    }
    return out;
  }

  /** ASCII value (type 2): inline when ≤ 4 bytes, else at the offset in the value field. */
  ascii(entry: Entry, maxLen: number): string | undefined {
    if (entry.type !== TYPE_ASCII || entry.count === 0) return undefined;
    let start: number;
    if (entry.count <= 4) {
      start = entry.valueFieldOffset;
    } else {
      const p = this.u32(entry.valueFieldOffset);
      if (p === undefined) return undefined;
      start = p;
    }
    const len = Math.min(entry.count, maxLen);
    if (start < 0 || start + len > this.buf.length) return undefined;
    let raw = this.buf.toString('latin1', start, start + len);
    const nul = raw.indexOf('\0');
    if (nul >= 0) raw = raw.slice(0, nul);
    // Drop control characters; values are shown to users and stored in the DB.
    // eslint-disable-next-line no-control-regex
    const clean = raw.replace(/[\u0000-\u001f\u007f]/g, '').trim();
    return clean.length > 0 ? clean : undefined;
  }

  /** Offset held by a pointer tag (LONG or IFD type, count 1), validated to land on a readable IFD. */
  ifdPointer(entry: Entry): number | undefined {
    if ((entry.type !== TYPE_LONG && entry.type !== TYPE_IFD) || entry.count < 1) return undefined;
    const p = this.u32(entry.valueFieldOffset);
    if (p === undefined || p < 8) return undefined;
    const count = this.u16(p);
    if (count === undefined || count === 0 || p + 2 + 12 > this.buf.length) return undefined;
    return p;
  }
}

function tiffStart(buf: Buffer): number | undefined {
  // sharp (libvips) returns the APP1 payload: "Exif\0\0" followed by the TIFF header.
  if (buf.length >= 6 && buf.toString('latin1', 0, 6) === 'Exif\0\0') return 6;
  if (buf.length >= 4) {
    const bo = buf.toString('latin1', 0, 2);
    if (bo === 'II' || bo === 'MM') return 0;
  }
  return undefined;
}

function isoFromExifDate(value: string | undefined, offset: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(value);
  if (!m) return undefined;
  const [, ys, mos, ds, hs, mis, ss] = m;
  const y = Number(ys);
  const mo = Number(mos);
  const d = Number(ds);
  const h = Number(hs);
  const mi = Number(mis);
  const s = Number(ss);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d > daysInMonth) return undefined;
  let iso = `${ys}-${mos}-${ds}T${hs}:${mis}:${ss}`;
  const tz = offset ? /^([+-])(\d{2}):(\d{2})$/.exec(offset) : null;
  if (tz && Number(tz[2]) <= 14 && Number(tz[3]) <= 59) iso += `${tz[1]}${tz[2]}:${tz[3]}`;
  return iso;
}

/** Parses sharp's `metadata().exif` buffer. Never throws; returns only the fields that are present and valid. */
export function parseExif(exif: Buffer | Uint8Array | undefined | null): ExifSummary {
  try {
    if (!exif || exif.length < 8) return {};
    const whole = Buffer.isBuffer(exif) ? exif : Buffer.from(exif.buffer, exif.byteOffset, exif.byteLength);
    const start = tiffStart(whole);
    if (start === undefined) return {};
    const buf = whole.subarray(start); // TIFF offsets are relative to the byte-order mark
    if (buf.length < 8) return {};
    const bo = buf.toString('latin1', 0, 2);
    if (bo !== 'II' && bo !== 'MM') return {};
    const view = new TiffView(buf, bo === 'II');
    if (view.u16(2) !== 42) return {};
    const ifd0 = view.u32(4);
    if (ifd0 === undefined || ifd0 < 8) return {};

    const out: ExifSummary = {};
    let exifIfd: number | undefined;
    let dateTime: string | undefined;
    for (const entry of view.entries(ifd0)) {
      switch (entry.tag) {
        case TAG_MAKE: {
          const v = view.ascii(entry, MAX_TEXT);
          if (v) out.make = v;
          break;
        }
        case TAG_MODEL: {
          const v = view.ascii(entry, MAX_TEXT);
          if (v) out.model = v;
          break;
        }
        case TAG_DATETIME:
          dateTime = view.ascii(entry, 32);
          break;
        case TAG_EXIF_IFD:
          exifIfd = view.ifdPointer(entry);
          break;
        case TAG_GPS_IFD:
          if (view.ifdPointer(entry) !== undefined) out.gps = true;
          break;
      }
    }

    const exifTags = new Map<number, string>();
    if (exifIfd !== undefined) {
      for (const entry of view.entries(exifIfd)) {
        if (entry.tag === TAG_DATETIME_ORIGINAL || entry.tag === TAG_DATETIME_DIGITIZED) {
          const v = view.ascii(entry, 32);
          if (v) exifTags.set(entry.tag, v);
        } else if (
          entry.tag === TAG_OFFSET_TIME ||
          entry.tag === TAG_OFFSET_TIME_ORIGINAL ||
          entry.tag === TAG_OFFSET_TIME_DIGITIZED
        ) {
          const v = view.ascii(entry, 16);
          if (v) exifTags.set(entry.tag, v);
        }
      }
    }
    const originalOffset = exifTags.get(TAG_OFFSET_TIME_ORIGINAL);
    const candidates: Array<[string | undefined, string | undefined]> = [
      [exifTags.get(TAG_DATETIME_ORIGINAL), originalOffset],
      [exifTags.get(TAG_DATETIME_DIGITIZED), exifTags.get(TAG_OFFSET_TIME_DIGITIZED) ?? originalOffset],
      [dateTime, exifTags.get(TAG_OFFSET_TIME) ?? originalOffset],
    ];
    for (const [value, offset] of candidates) {
      const takenAt = isoFromExifDate(value, offset);
      if (takenAt) {
        out.taken_at = takenAt;
        break;
      }
    }
    return out;
  } catch {
    return {};
  }
}
