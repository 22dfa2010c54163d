import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { OnApplicationShutdown } from '@nestjs/common';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  assertRange,
  assertSafeKey,
  assertSafePrefix,
  StorageNotFoundError,
  type StorageDriver,
} from './storage.driver.js';

export interface S3StorageOptions {
  bucket: string;
  /** Custom endpoint (MinIO, s3rver, R2 ...); unset for AWS. */
  endpoint?: string;
  region: string;
  /** Both unset: the SDK's default credential chain (env, profile, instance role ...). */
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  /**
   * Checksum behaviour. 'WHEN_REQUIRED' by default: with the SDK's default ('WHEN_SUPPORTED') a
   * streamed body is sent with aws-chunked framing, which s3rver (and some S3-compatible servers)
   * store verbatim, so the object comes back longer than what was written. Real S3 handles either.
   */
  checksums?: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  /** Where streamed puts are spooled before upload (see `put`). Default: os.tmpdir(). */
  spoolDir?: string;
  /** Attempts for one spooled PutObject (the SDK does not retry streaming bodies). Default 3. */
  putAttempts?: number;
  /**
   * Part size of `putStream`'s multipart uploads (at least 5 MiB, S3's minimum). S3 allows 10,000
   * parts, so this caps one object at 10,000 × it: 16 MiB → 160 GiB. Default 16 MiB.
   */
  multipartPartSize?: number;
}

/** Parts of one multipart upload sent at once: memory is about (this + 1) × the part size. */
const MULTIPART_QUEUE_SIZE = 2;

/**
 * S3 (or S3-compatible) bucket. `move` is CopyObject + DeleteObject (not atomic; single-request
 * copy, so objects up to 5 GB). A PutObject is all-or-nothing on the server, so a failed put never
 * leaves a partial object behind.
 */
export class S3StorageDriver implements StorageDriver, OnApplicationShutdown {
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly spoolDir: string;
  private readonly putAttempts: number;
  private readonly partSize: number;

  constructor(options: S3StorageOptions, client?: S3Client) {
    if (!options.bucket) throw new Error('S3StorageDriver: bucket is required');
    this.bucket = options.bucket;
    this.spoolDir = options.spoolDir ?? tmpdir();
    this.putAttempts = Math.max(1, options.putAttempts ?? 3);
    this.partSize = Math.max(5 * 1024 * 1024, options.multipartPartSize ?? 16 * 1024 * 1024);
    const checksums = options.checksums ?? 'WHEN_REQUIRED';
    this.client =
      client ??
      new S3Client({
        region: options.region,
        endpoint: options.endpoint,
        forcePathStyle: options.forcePathStyle,
        credentials:
          options.accessKeyId && options.secretAccessKey
            ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
            : undefined,
        requestChecksumCalculation: checksums,
        responseChecksumValidation: checksums,
      });
  }

  async put(key: string, body: Readable | Buffer, meta?: { contentType?: string }): Promise<{ size: number }> {
    assertSafeKey(key);
    if (Buffer.isBuffer(body)) {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: meta?.contentType,
        }),
      );
      return { size: body.length };
    }

    // A stream of unknown length. PutObject needs a Content-Length, and the multipart helper
    // (@aws-sdk/lib-storage `Upload`) is not installed in this project, so the stream is spooled
    // to a private temp file on local disk (constant memory, whatever the size) and then sent
    // with its exact length. A source error/abort rejects before anything reaches the bucket.
    // Spooling also makes the upload replayable: the SDK never retries a streaming body, so
    // retries are done here with a fresh read of the file.
    const spool = join(this.spoolDir, `echo-s3-put-${randomUUID()}.tmp`);
    try {
      const out = createWriteStream(spool, { flags: 'wx', mode: 0o600 });
      await pipeline(body, out);
      const size = out.bytesWritten;
      for (let attempt = 1; ; attempt++) {
        try {
          await this.client.send(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: createReadStream(spool),
              ContentLength: size,
              ContentType: meta?.contentType,
            }),
          );
          return { size };
        } catch (err) {
          if (attempt >= this.putAttempts || !isTransient(err)) throw err;
          await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
        }
      }
    } finally {
      await rm(spool, { force: true }).catch(() => undefined);
    }
  }

  /**
   * A multipart upload (@aws-sdk/lib-storage `Upload`): the stream is cut into parts held in
   * memory, MULTIPART_QUEUE_SIZE sent at once; each part is a Buffer, so the SDK's own retries
   * cover a failed part. A body shorter than one part becomes a single PutObject. On any error
   * (the source's included) the upload is aborted: S3 keeps no parts and no object.
   */
  async putStream(key: string, body: Readable, meta?: { contentType?: string }): Promise<{ size: number }> {
    assertSafeKey(key);
    // Loaded only when used, like the SDK itself (exports are rare).
    const { Upload } = await import('@aws-sdk/lib-storage');
    let size = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        done(null, chunk);
      },
    });
    // A source error must reach the Upload's reader, which then aborts the multipart upload.
    let sourceError: Error | undefined;
    body.on('error', (err) => {
      sourceError = err;
      counted.destroy(err);
    });
    body.pipe(counted);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: counted, ContentType: meta?.contentType },
      partSize: this.partSize,
      queueSize: MULTIPART_QUEUE_SIZE,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      body.destroy();
      counted.destroy();
      // The cause, rather than a failure of the abort that followed it (an S3 lifecycle rule
      // "AbortIncompleteMultipartUpload" removes the parts of an abort that failed).
      throw sourceError ?? err;
    }
    return { size };
  }

  async move(from: string, to: string): Promise<void> {
    assertSafeKey(from);
    assertSafeKey(to);
    if (from === to) {
      if (!(await this.stat(from))) throw new StorageNotFoundError(from);
      return;
    }
    try {
      await this.client.send(
        new CopyObjectCommand({ Bucket: this.bucket, Key: to, CopySource: copySource(this.bucket, from) }),
      );
    } catch (err) {
      if (isNotFound(err)) throw new StorageNotFoundError(from);
      throw err;
    }
    await this.delete(from);
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    assertSafeKey(key);
    if (range) assertRange(range);
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      // In Node the body is an http.IncomingMessage (a Readable) with SDK helpers mixed in.
      const body = res.Body as Readable;
      return range ? checkedRange(body, range, res.ContentRange, res.ContentLength) : body;
    } catch (err) {
      if (isNotFound(err)) throw new StorageNotFoundError(key);
      throw err;
    }
  }

  async stat(key: string): Promise<{ size: number; modifiedAt: Date } | null> {
    assertSafeKey(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: res.ContentLength ?? 0, modifiedAt: res.LastModified ?? new Date(0) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** DeleteObjects, 1,000 keys per request (S3's limit); a key it could not delete fails the call. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    keys.forEach(assertSafeKey);
    for (let at = 0; at < keys.length; at += 1000) {
      const res = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.slice(at, at + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length)
        throw new Error(`S3 DeleteObjects: ${failed.length} keys not deleted (${failed[0].Code}: ${failed[0].Key})`);
    }
  }

  async *listOlderThan(prefix: string, olderThan: Date): AsyncIterable<string> {
    assertSafePrefix(prefix);
    const cutoff = olderThan.getTime();
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix || undefined, ContinuationToken: token }),
      );
      for (const obj of page.Contents ?? []) {
        if (obj.Key && obj.LastModified && obj.LastModified.getTime() < cutoff) yield obj.Key;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  onApplicationShutdown(): void {
    this.client.destroy();
  }
}

/**
 * Callers send the ranged bytes with a Content-Length they computed, so never hand them more, or
 * other, bytes than asked for. S3 clamps `end` to the last byte (fewer bytes: fine), but some
 * S3-compatible servers get ranges wrong: s3rver treats `bytes=0-0` as `bytes=0-` and returns the
 * whole object. A response starting at the requested offset is cut to the requested length; one
 * starting elsewhere is an error.
 */
function checkedRange(
  body: Readable,
  range: { start: number; end: number },
  contentRange?: string,
  contentLength?: number,
): Readable {
  const match = contentRange ? /^bytes (\d+)-(\d+)\//.exec(contentRange) : null;
  const servedStart = match ? Number(match[1]) : 0; // no Content-Range: the whole object (200)
  if (servedStart !== range.start) {
    body.destroy();
    throw new Error(
      `Storage server ignored Range bytes=${range.start}-${range.end} (served ${contentRange ?? 'the whole object'})`,
    );
  }
  const wanted = range.end - range.start + 1;
  if (contentLength === undefined || contentLength <= wanted) return body;
  return Readable.from(
    (async function* () {
      let left = wanted;
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        if (buf.length >= left) {
          yield buf.subarray(0, left);
          return; // ends the iteration, which destroys the source response
        }
        left -= buf.length;
        yield buf;
      }
    })(),
    { objectMode: false },
  );
}

/** `x-amz-copy-source` must be URL-encoded; keep the '/' separators. */
function copySource(bucket: string, key: string): string {
  return [bucket, ...key.split('/')].map(encodeURIComponent).join('/');
}

/** A missing key: GetObject/CopyObject say NoSuchKey, HeadObject a bodiless 404 ("NotFound"). */
function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!e) return false;
  if (e.name === 'NoSuchKey' || e.Code === 'NoSuchKey' || e.name === 'NotFound') return true;
  return e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket';
}

/** Network errors, throttling and 5xx: worth another attempt. */
function isTransient(err: unknown): boolean {
  const e = err as { $retryable?: unknown; $metadata?: { httpStatusCode?: number }; code?: string } | undefined;
  if (!e) return false;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status === undefined) return typeof e.code === 'string'; // ECONNRESET, ETIMEDOUT ...
  return status >= 500 || status === 429;
}
