/**
 * Adds HEIF transform properties (clap, irot, imir), or an nclx `colr`, to the primary item of a HEIC written by heif-enc.
 *
 * Why by hand: heif-enc 1.15 (Debian 12) does not turn a JPEG's EXIF Orientation into irot/imir,
 * and exiftool cannot write them; phones do write them. The HEVC data stays heif-enc's: this only
 * appends properties to `ipco`, associates them in `ipma` (in the given order, which is the order
 * readers apply them) and shifts the file offsets in `iloc` by the bytes inserted before `mdat`.
 * It understands the boxes heif-enc writes, not every HEIF.
 */

/**
 * `clap`: a clean aperture of width × height keeping the top-left corner of a coded image of
 * `coded` size (the offsets libheif's own encoder writes: −(coded − size)/2 from the centre).
 */
export type HeifTransform =
  | { irot: 0 | 1 | 2 | 3 }
  | { imir: 0 | 1 }
  | { clap: { width: number; height: number; coded: [number, number] } }
  | { nclx: { primaries: number; transfer: number; matrix: number } };

/** `colr` of type nclx (H.273 codes, full range): heif-enc 1.15 writes none for PNG/JPEG input. */
function nclxBox(c: { primaries: number; transfer: number; matrix: number }): Buffer {
  const body = Buffer.alloc(11);
  body.write('nclx', 0, 'latin1');
  body.writeUInt16BE(c.primaries, 4);
  body.writeUInt16BE(c.transfer, 6);
  body.writeUInt16BE(c.matrix, 8);
  body[10] = 0x80;
  return box('colr', body);
}

function clapBox(c: { width: number; height: number; coded: [number, number] }): Buffer {
  const body = Buffer.alloc(32);
  body.writeUInt32BE(c.width, 0);
  body.writeUInt32BE(1, 4);
  body.writeUInt32BE(c.height, 8);
  body.writeUInt32BE(1, 12);
  body.writeInt32BE(-(c.coded[0] - c.width), 16);
  body.writeUInt32BE(2, 20);
  body.writeInt32BE(-(c.coded[1] - c.height), 24);
  body.writeUInt32BE(2, 28);
  return box('clap', body);
}

interface Box {
  type: string;
  start: number;
  size: number;
  /** Where the payload starts (after size/type, and version/flags for full boxes). */
  body: number;
}

function children(buf: Buffer, from: number, to: number): Box[] {
  const out: Box[] = [];
  for (let off = from; off + 8 <= to;) {
    const size = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    if (size < 8 || off + size > to) throw new Error(`heif-boxes: unsupported box ${type} at ${off}`);
    out.push({ type, start: off, size, body: off + 8 + (['meta', 'ipma', 'iloc', 'pitm'].includes(type) ? 4 : 0) });
    off += size;
  }
  return out;
}

const find = (list: Box[], type: string): Box => {
  const b = list.find((x) => x.type === type);
  if (!b) throw new Error(`heif-boxes: no ${type} box`);
  return b;
};

function box(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + payload.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, payload]);
}

function readUInt(buf: Buffer, off: number, bytes: number): number {
  return bytes === 0
    ? 0
    : bytes === 4
      ? buf.readUInt32BE(off)
      : bytes === 8
        ? Number(buf.readBigUInt64BE(off))
        : buf.readUInt16BE(off);
}

function writeUInt(buf: Buffer, off: number, bytes: number, value: number): void {
  if (bytes === 4) buf.writeUInt32BE(value, off);
  else if (bytes === 8) buf.writeBigUInt64BE(BigInt(value), off);
  else if (bytes === 2) buf.writeUInt16BE(value, off);
}

export function withHeifTransforms(heic: Buffer, transforms: HeifTransform[]): Buffer {
  const top = children(heic, 0, heic.length);
  const meta = find(top, 'meta');
  const metaKids = children(heic, meta.body, meta.start + meta.size);
  const pitm = find(metaKids, 'pitm');
  const primary = heic[pitm.start + 8] === 0 ? heic.readUInt16BE(pitm.body) : heic.readUInt32BE(pitm.body);
  const iprp = find(metaKids, 'iprp');
  const iprpKids = children(heic, iprp.body, iprp.start + iprp.size);
  const ipco = find(iprpKids, 'ipco');
  const ipma = find(iprpKids, 'ipma');
  const existing = children(heic, ipco.body, ipco.start + ipco.size).length;

  // New properties, 1-based indices after the existing ones.
  const props = transforms.map((t) =>
    'nclx' in t
      ? nclxBox(t.nclx)
      : 'clap' in t
        ? clapBox(t.clap)
        : 'irot' in t
          ? box('irot', Buffer.from([t.irot & 3]))
          : box('imir', Buffer.from([t.imir & 1])),
  );
  const newIpco = box('ipco', Buffer.concat([heic.subarray(ipco.body, ipco.start + ipco.size), ...props]));

  // ipma: version (0: 16-bit item ids) and flags (1: 16-bit property indices).
  const version = heic[ipma.start + 8];
  const wide = (heic.readUInt32BE(ipma.start + 8) & 1) === 1;
  const idBytes = version < 1 ? 2 : 4;
  const parts: Buffer[] = [heic.subarray(ipma.start + 8, ipma.body + 4)]; // version/flags + entry_count
  let off = ipma.body + 4;
  const entries = heic.readUInt32BE(ipma.body);
  let found = false;
  for (let i = 0; i < entries; i++) {
    const id = readUInt(heic, off, idBytes);
    const count = heic[off + idBytes];
    const assocBytes = count * (wide ? 2 : 1);
    const assoc = heic.subarray(off + idBytes + 1, off + idBytes + 1 + assocBytes);
    if (id !== primary) {
      parts.push(heic.subarray(off, off + idBytes + 1 + assocBytes));
    } else {
      found = true;
      const added = Buffer.alloc(props.length * (wide ? 2 : 1));
      props.forEach((_, k) => {
        const index = existing + 1 + k;
        if (wide) added.writeUInt16BE(0x8000 | index, k * 2);
        else added[k] = 0x80 | index; // essential: a reader that cannot apply it must not show the image
      });
      const idField = Buffer.alloc(idBytes);
      writeUInt(idField, 0, idBytes, id);
      parts.push(idField, Buffer.from([count + props.length]), assoc, added);
    }
    off += idBytes + 1 + assocBytes;
  }
  if (!found) throw new Error('heif-boxes: primary item has no ipma entry');
  const ipmaHead = Buffer.alloc(8);
  const ipmaBody = Buffer.concat(parts);
  ipmaHead.writeUInt32BE(8 + ipmaBody.length);
  ipmaHead.write('ipma', 4, 'latin1');
  const newIpma = Buffer.concat([ipmaHead, ipmaBody]);

  const iprpBody = Buffer.concat(
    iprpKids.map((k) =>
      k.type === 'ipco' ? newIpco : k.type === 'ipma' ? newIpma : heic.subarray(k.start, k.start + k.size),
    ),
  );
  const newIprp = box('iprp', iprpBody);
  const metaBody = Buffer.concat([
    heic.subarray(meta.start + 8, meta.body), // version/flags
    ...metaKids.map((k) => (k.type === 'iprp' ? newIprp : heic.subarray(k.start, k.start + k.size))),
  ]);
  const newMeta = box('meta', metaBody);
  const delta = newMeta.length - meta.size;
  const out = Buffer.concat([heic.subarray(0, meta.start), newMeta, heic.subarray(meta.start + meta.size)]);

  // iloc: shift every file offset that pointed past the old meta box.
  const metaEnd = meta.start + meta.size;
  const newKids = children(out, meta.start + 12, meta.start + newMeta.length);
  const iloc = find(newKids, 'iloc');
  const ilocVersion = out[iloc.start + 8];
  let p = iloc.body;
  const offsetSize = out[p] >> 4;
  const lengthSize = out[p] & 15;
  const baseOffsetSize = out[p + 1] >> 4;
  const indexSize = ilocVersion === 1 || ilocVersion === 2 ? out[p + 1] & 15 : 0;
  p += 2;
  const itemCount = ilocVersion < 2 ? out.readUInt16BE(p) : out.readUInt32BE(p);
  p += ilocVersion < 2 ? 2 : 4;
  for (let i = 0; i < itemCount; i++) {
    p += ilocVersion < 2 ? 2 : 4; // item id
    let method = 0;
    if (ilocVersion === 1 || ilocVersion === 2) {
      method = out.readUInt16BE(p) & 15;
      p += 2;
    }
    p += 2; // data reference index
    const base = readUInt(out, p, baseOffsetSize);
    const fileOffsets = method === 0;
    if (fileOffsets && base >= metaEnd) writeUInt(out, p, baseOffsetSize, base + delta);
    p += baseOffsetSize;
    const extents = out.readUInt16BE(p);
    p += 2;
    for (let e = 0; e < extents; e++) {
      p += indexSize;
      const extentOffset = readUInt(out, p, offsetSize);
      if (fileOffsets && base === 0 && extentOffset >= metaEnd) writeUInt(out, p, offsetSize, extentOffset + delta);
      p += offsetSize + lengthSize;
    }
  }
  return out;
}

/** Makes item `id` the primary image (rewrites `pitm`), e.g. the second image heif-enc wrote. */
export function withPrimaryItem(heic: Buffer, id: number): Buffer {
  const meta = find(children(heic, 0, heic.length), 'meta');
  const pitm = find(children(heic, meta.body, meta.start + meta.size), 'pitm');
  const out = Buffer.from(heic);
  if (out[pitm.start + 8] === 0) out.writeUInt16BE(id, pitm.body);
  else out.writeUInt32BE(id, pitm.body);
  return out;
}

function fullBox(type: string, version: number, flags: number, payload: Buffer): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff));
  return box(type, Buffer.concat([vf, payload]));
}

const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};

/**
 * Turns a multi-image file from `heif-enc -q Q t0.jpg t1.jpg …` (items 1…n, equal-size tiles) into
 * what phones write: a primary `grid` item of rows × columns tiles (row-major), the tiles hidden.
 * Handles heif-enc 1.15's layout only (iloc v0 with 4-byte offsets, iinf v0, no iref).
 */
export function withGrid(tiles: Buffer, rows: number, columns: number, width: number, height: number): Buffer {
  const top = children(tiles, 0, tiles.length);
  const meta = find(top, 'meta');
  const kids = children(tiles, meta.body, meta.start + meta.size);
  const iloc = find(kids, 'iloc');
  const iinf = find(kids, 'iinf');
  const iprp = find(kids, 'iprp');
  if (tiles[iloc.start + 8] !== 0 || tiles[iloc.body] !== 0x44 || tiles[iloc.body + 1] >> 4 !== 4)
    throw new Error('heif-boxes: unexpected iloc layout');
  if (tiles[iinf.start + 8] !== 0 || kids.some((k) => k.type === 'iref'))
    throw new Error('heif-boxes: unexpected iinf/iref');
  const tileIds = Array.from({ length: rows * columns }, (_, i) => i + 1);
  const gridId = tileIds.length + 1;

  // iinf: the tiles hidden (infe flag 1), plus the grid item.
  const infes = children(tiles, iinf.start + 14, iinf.start + iinf.size).map((b) => {
    const copy = Buffer.from(tiles.subarray(b.start, b.start + b.size));
    copy[11] |= 1;
    return copy;
  });
  const gridInfe = fullBox('infe', 2, 0, Buffer.concat([u16(gridId), u16(0), Buffer.from('grid\0', 'latin1')]));
  const newIinf = fullBox('iinf', 0, 0, Buffer.concat([u16(infes.length + 1), ...infes, gridInfe]));

  // iref: the grid's tiles, in order.
  const newIref = fullBox(
    'iref',
    0,
    0,
    box('dimg', Buffer.concat([u16(gridId), u16(tileIds.length), ...tileIds.map(u16)])),
  );

  // ipco + ipma: an ispe of the output size for the grid item.
  const iprpKids = children(tiles, iprp.body, iprp.start + iprp.size);
  const ipco = find(iprpKids, 'ipco');
  const ipma = find(iprpKids, 'ipma');
  const ispeIndex = children(tiles, ipco.body, ipco.start + ipco.size).length + 1;
  const newIpco = box(
    'ipco',
    Buffer.concat([
      tiles.subarray(ipco.body, ipco.start + ipco.size),
      fullBox('ispe', 0, 0, Buffer.concat([u32(width), u32(height)])),
    ]),
  );
  if (tiles[ipma.start + 8] !== 0 || (tiles.readUInt32BE(ipma.start + 8) & 1) !== 0)
    throw new Error('heif-boxes: unexpected ipma layout');
  const entries = tiles.readUInt32BE(ipma.body);
  const newIpma = fullBox(
    'ipma',
    0,
    0,
    Buffer.concat([
      u32(entries + 1),
      tiles.subarray(ipma.body + 4, ipma.start + ipma.size),
      u16(gridId),
      Buffer.from([1, ispeIndex]),
    ]),
  );
  const newIprp = box('iprp', Buffer.concat([newIpco, newIpma]));

  // iloc: one more item (the 8-byte grid descriptor, in an mdat appended at the end; offset set below).
  const ilocItems = tiles.readUInt16BE(iloc.body + 2);
  const gridLoc = Buffer.concat([u16(gridId), u16(0), u32(0), u16(1), u32(0), u32(8)]);
  const newIloc = fullBox(
    'iloc',
    0,
    0,
    Buffer.concat([
      tiles.subarray(iloc.body, iloc.body + 2),
      u16(ilocItems + 1),
      tiles.subarray(iloc.body + 4, iloc.start + iloc.size),
      gridLoc,
    ]),
  );

  const pitm = fullBox('pitm', 0, 0, u16(gridId));
  const metaKids = kids.map((k) =>
    k.type === 'pitm'
      ? pitm
      : k.type === 'iloc'
        ? newIloc
        : k.type === 'iinf'
          ? Buffer.concat([newIinf, newIref])
          : k.type === 'iprp'
            ? newIprp
            : tiles.subarray(k.start, k.start + k.size),
  );
  const newMeta = fullBox('meta', 0, 0, Buffer.concat(metaKids));
  const delta = newMeta.length - meta.size;
  const descriptor = Buffer.concat([Buffer.from([0, 0, rows - 1, columns - 1]), u16(width), u16(height)]);
  const rest = tiles.subarray(meta.start + meta.size);
  const out = Buffer.concat([tiles.subarray(0, meta.start), newMeta, rest, box('mdat', descriptor)]);

  // Shift the tiles' offsets by the growth of meta; point the grid item at its descriptor.
  const ilocAt = out.indexOf('iloc', meta.start, 'latin1') - 4;
  let p = ilocAt + 12 + 4;
  for (let i = 0; i < ilocItems + 1; i++) {
    const id = out.readUInt16BE(p);
    p += 2 + 2; // item id, data reference index
    const base = out.readUInt32BE(p);
    if (base !== 0) out.writeUInt32BE(base + delta, p);
    p += 4;
    const extents = out.readUInt16BE(p);
    p += 2;
    for (let e = 0; e < extents; e++) {
      if (id === gridId) out.writeUInt32BE(out.length - descriptor.length, p);
      else if (base === 0) out.writeUInt32BE(out.readUInt32BE(p) + delta, p);
      p += 8;
    }
  }
  return out;
}
