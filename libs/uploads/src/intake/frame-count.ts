/**
 * Counts the frames of an animated WebP (its ANMF chunks) and the pages of a TIFF (its IFD chain)
 * without decoding anything, stopping once the count passes a limit. libvips' WebP loader walks
 * frames in time quadratic in their number (even for metadata()), and its TIFF loader in linear
 * time, so a file of thousands of 1×1 frames must be refused before any decoder sees it.
 *
 * Written here because no maintained library counts frames with a bound: image-size reads only the
 * first header, and sharp's `metadata().pages` is the very walk that is slow.
 *
 * One walker per container, written as a generator of small reads (offset, length), so the same
 * code runs over a whole buffer (the analyzer) and over a stream as it arrives (intake). Every
 * step moves forward or is checked against the offsets already seen, so the walk is linear and ends
 * on truncated data and on IFD loops; it keeps at most `max + 1` offsets.
 */

export interface FrameCount {
  /** Frames or pages counted, at most `max + 1` (the walk stops there). A still image counts 1. */
  frames: number;
  /** More than `max`: refuse the file. */
  over: boolean;
  /**
   * The whole chain was walked. False when the data ended (or is invalid, or loops) before it did:
   * the decoder will judge that file; the count so far is still a lower bound.
   */
  complete: boolean;
}

interface Read {
  offset: number;
  length: number;
}
/** Yields the reads it needs; is sent back the bytes, or undefined when they are past the end. */
type Walk = Generator<Read, FrameCount, Uint8Array | undefined>;
/** A walker keeps its running count in `tally`, so a walk abandoned midway still tells it. */
type Walker = (max: number, tally: { frames: number }) => Walk;

/** Which walker a file needs, from its first bytes (≥ 16 of them); undefined: not a multi-frame container we count. */
export function frameWalkFor(head: Uint8Array): Walker | undefined {
  const ascii = (a: number, b: number) => Buffer.from(head.subarray(a, b)).toString('latin1');
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return webpFrames;
  if (head.length >= 4 && /^(II\*\0|MM\0\*|II\+\0|MM\0\+)$/.test(ascii(0, 4))) return tiffPages;
  return undefined;
}

/** Counts over a whole file in memory. Undefined when the format has no frames to count. */
export function countFrames(bytes: Uint8Array, max: number): FrameCount | undefined {
  const walker = frameWalkFor(bytes.subarray(0, 16));
  if (!walker) return undefined;
  const walk = walker(max, { frames: 0 });
  let step = walk.next(undefined);
  while (!step.done) {
    const { offset, length } = step.value;
    step = walk.next(offset + length <= bytes.length ? bytes.subarray(offset, offset + length) : undefined);
  }
  return step.value;
}

/**
 * Counts over a stream: `push` every chunk in order, then `end()`. Reads the walker asks for are
 * collected as the bytes pass; nothing else is kept. A read behind what has already passed (a TIFF
 * whose next IFD sits earlier in the file) cannot be served: the count then stops, incomplete, and
 * the analyzer's count over the whole file decides.
 */
export class StreamingFrameCounter {
  private readonly walk: Walk;
  private need?: Read;
  private got: Buffer[] = [];
  private have = 0;
  private position = 0;
  private done?: FrameCount;
  private readonly tally = { frames: 0 };

  constructor(walker: Walker, max: number) {
    this.walk = walker(max, this.tally);
    this.advance(this.walk.next(undefined));
  }

  /** The result once the walk has ended (early when over the limit). */
  get result(): FrameCount | undefined {
    return this.done;
  }

  /** Feeds the next chunk; returns the result once the walk has ended. */
  push(chunk: Buffer): FrameCount | undefined {
    const start = this.position;
    const end = start + chunk.length;
    this.position = end;
    while (this.need && !this.done) {
      const at = this.need.offset + this.have;
      if (at < start)
        this.stop(); // behind us: see the class comment
      else if (at >= end) break;
      else {
        const take = Math.min(this.need.length - this.have, end - at);
        this.got.push(chunk.subarray(at - start, at - start + take));
        this.have += take;
        if (this.have < this.need.length) break;
        const bytes = Buffer.concat(this.got);
        this.got = [];
        this.have = 0;
        this.advance(this.walk.next(bytes));
      }
    }
    return this.done;
  }

  end(): FrameCount {
    while (this.need && !this.done) this.advance(this.walk.next(undefined));
    return this.done!;
  }

  private advance(step: IteratorResult<Read, FrameCount>): void {
    if (step.done) {
      this.done = step.value;
      this.need = undefined;
    } else this.need = step.value;
  }

  private stop(): void {
    this.walk.return({ frames: 0, over: false, complete: false });
    this.done = { frames: Math.max(this.tally.frames, 1), over: false, complete: false };
    this.need = undefined;
  }
}

/** RIFF: 'RIFF' size 'WEBP', then chunks (fourcc, LE size, data padded to even). Frames are ANMF chunks. */
function* webpFrames(max: number, tally: { frames: number }): Walk {
  const header = yield { offset: 0, length: 12 };
  if (!header) return { frames: 1, over: false, complete: false };
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const end = 8 + view.getUint32(4, true);
  let frames = 0;
  let offset = 12;
  let complete = true;
  while (offset + 8 <= end) {
    const chunk = yield { offset, length: 8 };
    if (!chunk) {
      complete = false;
      break;
    }
    const fourcc = Buffer.from(chunk.subarray(0, 4)).toString('latin1');
    const size = new DataView(chunk.buffer, chunk.byteOffset, 8).getUint32(4, true);
    if (fourcc === 'ANMF' && (tally.frames = ++frames) > max) return { frames, over: true, complete: false };
    offset += 8 + size + (size & 1); // always moves forward by ≥ 8: linear in the file's size
  }
  // The last chunk's data must be there too (the count does not read it).
  if (complete && !(yield { offset: end - 1, length: 1 })) complete = false;
  return { frames: Math.max(frames, 1), over: false, complete };
}

/** TIFF (classic and BigTIFF, either byte order): a header pointing at the first IFD, each IFD at the next. */
function* tiffPages(max: number, tally: { frames: number }): Walk {
  const header = yield { offset: 0, length: 8 };
  const incomplete = (frames: number): FrameCount => ({ frames: Math.max(frames, 1), over: false, complete: false });
  if (!header) return incomplete(0);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const le = header[0] === 0x49;
  const big = view.getUint16(2, le) === 43;
  // Classic: 2-byte entry count, 12-byte entries, 4-byte offsets. BigTIFF: 8, 20, 8.
  const [countSize, entrySize, offsetSize] = big ? [8, 20, 8] : [2, 12, 4];
  const readOffset = (bytes: Uint8Array, at: number): number => {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (!big) return v.getUint32(at, le);
    const n = v.getBigUint64(at, le);
    return n > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(n);
  };
  const first = big ? yield { offset: 8, length: 8 } : header.subarray(4, 8);
  if (!first) return incomplete(0);
  let offset = readOffset(first, 0);
  const seen = new Set<number>();
  let frames = 0;
  while (offset !== 0) {
    if (offset < 0 || seen.has(offset)) return incomplete(frames); // invalid, or a loop
    seen.add(offset);
    if ((tally.frames = ++frames) > max) return { frames, over: true, complete: false };
    const count = yield { offset, length: countSize };
    if (!count) return incomplete(frames);
    const entries = big ? readOffset(count, 0) : new DataView(count.buffer, count.byteOffset, 2).getUint16(0, le);
    if (entries < 0) return incomplete(frames);
    const next = yield { offset: offset + countSize + entries * entrySize, length: offsetSize };
    if (!next) return incomplete(frames);
    offset = readOffset(next, 0);
  }
  return { frames: Math.max(frames, 1), over: false, complete: true };
}
