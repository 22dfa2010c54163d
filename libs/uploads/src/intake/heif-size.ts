/**
 * The size of a HEIF (HEIC, AVIF) image as a viewer shows it, from the container's boxes alone: the
 * primary item's `ispe` (coded size), then its transformative properties in their association order,
 * `clap` (clean aperture: a crop) and `irot` (a quarter-turn swaps width and height). libheif,
 * Safari and Chromium's AVIF decoder apply the same. image-size cannot be used for this: it takes the
 * file's first `ispe`, which may be a grid tile's or a thumbnail's, and ignores crop and rotation
 * (heif-enc writes a 720×477 photo as a 1×1 grid whose tile is 720×478: image-size says 720×478).
 *
 * Every read is bounds-checked against the given bytes; anything unexpected returns undefined and
 * the caller falls back to image-size.
 */

interface Box {
  type: string;
  /** Payload start (after the header; FullBox version/flags are part of the payload). */
  body: number;
  end: number;
}

export interface HeifSize {
  /** Coded size of the primary item (its `ispe`): what decoding costs. */
  storedWidth: number;
  storedHeight: number;
  /** After clap and irot: what a viewer shows. */
  width: number;
  height: number;
}

/** Boxes at most looked at in one container (a phone's ipco holds ~10–60 properties). */
const MAX_BOXES = 4096;

function boxes(buf: Buffer, from: number, to: number): Box[] {
  const out: Box[] = [];
  for (let at = from; at + 8 <= to && out.length < MAX_BOXES;) {
    let size = buf.readUInt32BE(at);
    let header = 8;
    if (size === 1) {
      if (at + 16 > to) break;
      const large = buf.readBigUInt64BE(at + 8);
      if (large > BigInt(to - at)) break;
      size = Number(large);
      header = 16;
    } else if (size === 0) {
      size = to - at; // to the end of the enclosing box (or file)
    }
    if (size < header || at + size > to) break;
    out.push({ type: buf.toString('latin1', at + 4, at + 8), body: at + header, end: at + size });
    at += size;
  }
  return out;
}

const child = (buf: Buffer, parent: Box, type: string, skip = 0) =>
  boxes(buf, parent.body + skip, parent.end).find((b) => b.type === type);

/** The displayed and coded size of the primary image, or undefined when the boxes cannot tell it. */
export function heifSize(bytes: Uint8Array): HeifSize | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    const meta = boxes(buf, 0, buf.length).find((b) => b.type === 'meta');
    if (!meta) return undefined;
    const pitm = child(buf, meta, 'pitm', 4);
    const iprp = child(buf, meta, 'iprp', 4);
    if (!pitm || !iprp) return undefined;
    const primary = buf[pitm.body] === 0 ? buf.readUInt16BE(pitm.body + 4) : buf.readUInt32BE(pitm.body + 4);
    const ipco = child(buf, iprp, 'ipco');
    const ipma = child(buf, iprp, 'ipma');
    if (!ipco || !ipma) return undefined;
    const properties = boxes(buf, ipco.body, ipco.end);
    const associated = associations(buf, ipma, primary);
    if (!associated) return undefined;

    const props = associated.map((index) => properties[index - 1]).filter((p): p is Box => p !== undefined);
    const ispe = props.find((p) => p.type === 'ispe');
    if (!ispe || ispe.body + 12 > ispe.end) return undefined;
    const storedWidth = buf.readUInt32BE(ispe.body + 4);
    const storedHeight = buf.readUInt32BE(ispe.body + 8);
    if (!storedWidth || !storedHeight) return undefined;
    let width = storedWidth;
    let height = storedHeight;
    for (const p of props) {
      if (p.type === 'clap' && p.body + 32 <= p.end) {
        const w = rounded(buf.readUInt32BE(p.body), buf.readUInt32BE(p.body + 4));
        const h = rounded(buf.readUInt32BE(p.body + 8), buf.readUInt32BE(p.body + 12));
        // A crop larger than the image is invalid: ignored, as a reader that cannot apply it would.
        if (w > 0 && h > 0 && w <= width && h <= height) [width, height] = [w, h];
      } else if (p.type === 'irot' && p.body < p.end) {
        if (buf[p.body] & 1) [width, height] = [height, width];
      }
    }
    return { storedWidth, storedHeight, width, height };
  } catch {
    return undefined; // a read past the end of a malformed box
  }
}

/** libheif's rounding of a clean-aperture fraction (half up); 0 for a zero denominator. */
function rounded(numerator: number, denominator: number): number {
  return denominator ? Math.floor(numerator / denominator + 0.5) : 0;
}

/** The 1-based ipco indices associated with `item`, in order; undefined when it has no entry. */
function associations(buf: Buffer, ipma: Box, item: number): number[] | undefined {
  const version = buf[ipma.body];
  const wide = (buf.readUInt32BE(ipma.body) & 1) === 1;
  let at = ipma.body + 4;
  const entries = buf.readUInt32BE(at);
  at += 4;
  for (let i = 0; i < entries && at < ipma.end; i++) {
    const id = version < 1 ? buf.readUInt16BE(at) : buf.readUInt32BE(at);
    at += version < 1 ? 2 : 4;
    const count = buf[at++];
    const list: number[] = [];
    for (let k = 0; k < count; k++) {
      list.push(wide ? buf.readUInt16BE(at) & 0x7fff : buf[at] & 0x7f);
      at += wide ? 2 : 1;
    }
    if (at > ipma.end) return undefined;
    if (id === item) return list;
  }
  return undefined;
}
