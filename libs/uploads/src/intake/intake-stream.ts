import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { UnprocessableEntityException, UnsupportedMediaTypeException } from '@nestjs/common';
import { FieldErrorsException } from '@echo/http';
import { sniffImageType, SNIFF_BYTES, type ImageContentType } from './image-type.js';
import { frameWalkFor, StreamingFrameCounter } from './frame-count.js';

/**
 * Sits between the multipart stream and storage: hashes and counts every byte, keeps only the
 * first `headBytes` (for the header check), and fails the stream as soon as the first bytes
 * show it is not an accepted image, or that it has more frames (animated WebP) or pages (TIFF) than
 * `maxFrames` — so a wrong file is never stored whole.
 */
export class IntakeStream extends Transform {
  private readonly hash = createHash('sha256');
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  size = 0;
  contentType?: ImageContentType;
  private frames?: StreamingFrameCounter;

  constructor(
    private readonly headBytes: number,
    private readonly maxFrames: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    const before = this.kept; // until the type is known, every byte so far is kept
    if (this.kept < this.headBytes) {
      const part = chunk.subarray(0, this.headBytes - this.kept);
      this.chunks.push(part);
      this.kept += part.length;
    }
    if (!this.contentType && this.kept >= SNIFF_BYTES) {
      this.contentType = sniffImageType(this.head());
      if (!this.contentType) return done(unsupported());
      const walker = frameWalkFor(this.head());
      if (walker) {
        this.frames = new StreamingFrameCounter(walker, this.maxFrames);
        this.frames.push(this.head().subarray(0, before));
      }
    }
    if (this.frames && !this.frames.result) {
      if (this.frames.push(chunk)?.over) return done(tooManyFrames(this.maxFrames));
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.size === 0) return done(new FieldErrorsException({ file: ['The submitted file is empty.'] }));
    if (!this.contentType) {
      this.contentType = sniffImageType(this.head());
      if (!this.contentType) return done(unsupported());
    }
    done();
  }

  head(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

function tooManyFrames(max: number) {
  return new UnprocessableEntityException(`The image has more than ${max} frames or pages; the limit is ${max}.`);
}

function unsupported() {
  return new UnsupportedMediaTypeException(
    'Unsupported file type: upload a JPEG, PNG, WebP, GIF, AVIF, HEIC/HEIF or TIFF image.',
  );
}
