/**
 * Adds HEIF transform properties (irot, imir) to the primary item of a HEIC written by heif-enc.
 *
 * Why by hand: heif-enc 1.15 (Debian 12) does not turn a JPEG's EXIF Orientation into irot/imir,
 * and exiftool cannot write them; phones do write them. The HEVC data stays heif-enc's: this only
 * appends properties to `ipco`, associates them in `ipma` (in the given order, which is the order
 * readers apply them) and shifts the file offsets in `iloc` by the bytes inserted before `mdat`.
 * It understands the boxes heif-enc writes, not every HEIF.
 */

export type HeifTransform = { irot: 0 | 1 | 2 | 3 } | { imir: 0 | 1 };

interface Box {
  type: string;
  start: number;
  size: number;
  /** Where the payload starts (after size/type, and version/flags for full boxes). */
  body: number;
}

function children(buf: Buffer, from: number, to: number): Box[] {
  const out: Box[] = [];
  for (let off = from; off + 8 <= to; ) {
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
  return bytes === 0 ? 0 : bytes === 4 ? buf.readUInt32BE(off) : bytes === 8 ? Number(buf.readBigUInt64BE(off)) : buf.readUInt16BE(off);
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
  const props = transforms.map((t) => ('irot' in t ? box('irot', Buffer.from([t.irot & 3])) : box('imir', Buffer.from([t.imir & 1]))));
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
    iprpKids.map((k) => (k.type === 'ipco' ? newIpco : k.type === 'ipma' ? newIpma : heic.subarray(k.start, k.start + k.size))),
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
