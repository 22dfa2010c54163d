import { describe, expect, it } from 'vitest';
import { animatedWebp, multiPageTiff } from '../../../../test/support/frame-bombs.js';
import { countFrames, frameWalkFor, StreamingFrameCounter } from './frame-count.js';

/** The same count over a stream, in chunks of `size` bytes. */
function streamed(bytes: Buffer, max: number, size: number) {
  const counter = new StreamingFrameCounter(frameWalkFor(bytes.subarray(0, 16))!, max);
  for (let i = 0; i < bytes.length && !counter.result; i += size) counter.push(bytes.subarray(i, i + size));
  return counter.result ?? counter.end();
}

describe('frame count', () => {
  describe.each([
    ['whole buffer', (b: Buffer, max: number) => countFrames(b, max)!],
    ['stream, 1-byte chunks', (b: Buffer, max: number) => streamed(b, max, 1)],
    ['stream, 7-byte chunks', (b: Buffer, max: number) => streamed(b, max, 7)],
    ['stream, 64 KiB chunks', (b: Buffer, max: number) => streamed(b, max, 65536)],
  ])('%s', (_, count) => {
    it('counts the frames of an animated WebP', () => {
      expect(count(animatedWebp(1), 10)).toEqual({ frames: 1, over: false, complete: true });
      expect(count(animatedWebp(10), 10)).toEqual({ frames: 10, over: false, complete: true });
      expect(count(animatedWebp(11), 10)).toMatchObject({ frames: 11, over: true });
    });

    it('counts the pages of a TIFF in both byte orders', () => {
      for (const bigEndian of [false, true]) {
        expect(count(multiPageTiff(1, { bigEndian }), 10)).toEqual({ frames: 1, over: false, complete: true });
        expect(count(multiPageTiff(10, { bigEndian }), 10)).toEqual({ frames: 10, over: false, complete: true });
        expect(count(multiPageTiff(11, { bigEndian }), 10)).toMatchObject({ frames: 11, over: true });
      }
    });

    it('stops at the limit, whatever follows', () => {
      expect(count(animatedWebp(100_000), 1000)).toMatchObject({ frames: 1001, over: true });
      expect(count(multiPageTiff(100_000), 1000)).toMatchObject({ frames: 1001, over: true });
    });

    it('ends on an IFD loop without exceeding the limit', () => {
      expect(count(multiPageTiff(5, { loopTo: 0 }), 10)).toEqual({ frames: 5, over: false, complete: false });
      expect(count(multiPageTiff(5, { loopTo: 4 }), 10)).toEqual({ frames: 5, over: false, complete: false });
    });

    it('ends on truncated data, with the count so far', () => {
      const webp = animatedWebp(10);
      expect(count(webp.subarray(0, webp.length - 20), 100)).toEqual({ frames: 10, over: false, complete: false });
      expect(count(webp.subarray(0, 12 + 32 + 48 * 3 + 4), 100)).toEqual({ frames: 3, over: false, complete: false });
      const tiff = multiPageTiff(10);
      expect(count(tiff.subarray(0, tiff.length - 2), 100)).toEqual({ frames: 10, over: false, complete: false });
      expect(count(tiff.subarray(0, 11), 100)).toEqual({ frames: 1, over: false, complete: false });
      expect(count(tiff.subarray(0, 6), 100)).toEqual({ frames: 1, over: false, complete: false });
    });

    it('stops at the limit: 400,000 frames or pages are refused after max + 1', () => {
      expect(count(animatedWebp(400_000), 1000)).toMatchObject({ frames: 1001, over: true });
      expect(count(multiPageTiff(200_000), 1000)).toMatchObject({ frames: 1001, over: true });
    });
  });

  it('counts a TIFF whose IFDs point backwards over a whole buffer; a stream stops, incomplete', () => {
    const tiff = multiPageTiff(20, { reversed: true });
    expect(countFrames(tiff, 10)).toMatchObject({ frames: 11, over: true });
    expect(countFrames(tiff, 100)).toEqual({ frames: 20, over: false, complete: true });
    expect(streamed(tiff, 10, 16)).toEqual({ frames: 2, over: false, complete: false });
  });

  it('counts a BigTIFF', () => {
    // Header: 'II', 43, offset size 8, 0, first IFD at 16; IFD: 8-byte count 0, next 0.
    const big = Buffer.alloc(32);
    big.write('II+\0', 0, 'latin1');
    big.writeUInt16LE(8, 4);
    big.writeBigUInt64LE(16n, 8);
    expect(countFrames(big, 10)).toEqual({ frames: 1, over: false, complete: true });
    big.writeBigUInt64LE(16n, 24); // next IFD: itself
    expect(countFrames(big, 10)).toEqual({ frames: 1, over: false, complete: false });
  });

  it('has nothing to count in other formats', () => {
    expect(frameWalkFor(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBeUndefined();
    expect(countFrames(Buffer.from('GIF89a'), 10)).toBeUndefined();
  });
});
