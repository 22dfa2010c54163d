import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { ZipFile } from 'yazl';

/**
 * One ZIP written as a stream, on yazl: entries go out one after another, each source is piped
 * (backpressure from whoever reads `output` reaches the source), and only the central directory
 * (a few dozen bytes per entry) is kept until the end. yazl switches to ZIP64 by itself where
 * the format needs it: an entry or an offset past 0xfffffffe bytes, or 65,535+ entries (its
 * README, "Regarding ZIP64 Support"; test/account-export.test.ts writes a 4.1 GiB entry).
 *
 * yazl was picked over archiver: one small dependency (buffer-crc32) against archiver's tree
 * (zip-stream, compress-commons, readable-stream, lodash, glob…), `addReadStreamLazy` so a source
 * is opened only when its turn comes, and a per-entry `size` that it checks against the bytes read
 * (a truncated read of an original fails the archive instead of storing a short file).
 */
export class ZipWriter {
  private readonly zip = new ZipFile();
  /** The archive's bytes; read it to the end (a storage put) and the archive is complete. */
  readonly output: Readable;
  private failure?: Error;
  private readonly failed: Promise<never>;
  private rejectFailed!: (err: Error) => void;
  private readonly sources = new Set<Readable>();

  constructor() {
    this.output = this.zip.outputStream as Readable;
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => undefined); // observed through every race below
    this.zip.on('error', (err: Error) => this.abort(err));
  }

  /** A small entry held in memory (profile.json), deflated. */
  addBuffer(path: string, data: Buffer, mtime: Date): void {
    this.throwIfFailed();
    this.zip.addBuffer(data, path, { compress: true, mtime });
  }

  /**
   * Adds `source` as `path`. Resolves once yazl starts reading it, i.e. every entry before it is
   * written: a caller that opens its next source only then keeps at most one source open and
   * waiting (an S3 response, a file handle) while another is being copied.
   */
  async addStream(
    path: string,
    source: Readable,
    options: { compress: boolean; mtime: Date; size?: number },
  ): Promise<void> {
    if (this.failure) {
      source.destroy();
      throw this.failure;
    }
    // yazl pipes lazy sources without listening for their errors: an original whose read fails
    // midway must fail the archive, not crash the process with an unhandled 'error'.
    source.on('error', (err) => this.abort(err));
    this.sources.add(source);
    source.once('close', () => this.sources.delete(source));
    let started!: () => void;
    const turn = new Promise<void>((resolve) => (started = resolve));
    this.zip.addReadStreamLazy(path, options, (cb) => {
      started();
      cb(null, source);
    });
    await Promise.race([turn, this.failed]);
  }

  /** No more entries: resolves once the last byte (the central directory) has been read from `output`. */
  async end(): Promise<void> {
    this.throwIfFailed();
    const done = finished(this.output);
    this.zip.end();
    await Promise.race([done, this.failed]);
  }

  /** Rejects as soon as the archive fails (for racing the consumer's own promise against it). */
  get failedPromise(): Promise<never> {
    return this.failed;
  }

  /** Stops everything: open sources are destroyed, `output` errors with `err` (a storage put then rejects and cleans up). */
  abort(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.rejectFailed(err);
    for (const source of this.sources) source.destroy();
    this.sources.clear();
    // yazl may still write a buffered header after this; a destroyed stream reports it as an error.
    this.output.on('error', () => undefined);
    this.output.destroy(err);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
