import { HttpException, HttpStatus, NotFoundException, StreamableFile } from '@nestjs/common';
import { StorageNotFoundError } from '@echo/storage';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Upload } from '../upload.entity.js';
import type { UploadsService } from '../uploads.service.js';
import { matchesEtag, parseByteRange } from '../intake/byte-range.js';

/**
 * The original bytes: ETag (the SHA-256) with If-None-Match → 304, single byte ranges (206/416).
 * Shared by the authenticated route and the signed media URL (which passes a shorter max-age).
 */
export async function sendUploadFile(
  uploads: UploadsService,
  upload: Upload,
  req: FastifyRequest,
  reply: FastifyReply,
  maxAgeSeconds: number,
): Promise<StreamableFile | undefined> {
  const etag = `"${upload.sha256}"`;
  reply
    .header('etag', etag)
    .header('cache-control', `private, max-age=${maxAgeSeconds}`)
    .header('accept-ranges', 'bytes');
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    reply.status(304);
    return undefined;
  }
  const range = parseByteRange(req.headers.range, upload.size);
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${upload.size}`);
    throw new HttpException('Requested range not satisfiable.', HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE);
  }
  if (range) reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${upload.size}`);
  const stream = await uploads.openFile(upload, range);
  const length = range ? range.end - range.start + 1 : upload.size;
  return new StreamableFile(stream, { type: upload.contentType, length });
}

/**
 * The analysis' WebP thumbnail (long edge 256 px); 404 until an analysis made it. A re-analysis
 * rewrites it, so its ETag comes from the stored object (size + modification time).
 */
export async function sendUploadThumbnail(
  uploads: UploadsService,
  upload: Upload,
  req: FastifyRequest,
  reply: FastifyReply,
  maxAgeSeconds: number,
): Promise<StreamableFile | undefined> {
  const thumb = await uploads.openThumbnail(upload);
  if (!thumb) throw new NotFoundException('No thumbnail yet: the analysis has not completed.');
  const etag = `"t${thumb.size.toString(16)}-${thumb.modifiedAt.getTime().toString(16)}"`;
  reply.header('etag', etag).header('cache-control', `private, max-age=${maxAgeSeconds}`);
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    thumb.stream.destroy();
    reply.status(304);
    return undefined;
  }
  return new StreamableFile(thumb.stream, { type: 'image/webp', length: thumb.size });
}

const NO_PREVIEW = 'No preview yet: the analysis has not completed.';

/**
 * The display rendition (long edge ≤ 2048 px, upright, sRGB); 404 until an analysis made one. When
 * the original displays as is, that is the preview: its bytes, content type and ETag. Otherwise the
 * stored WebP, whose ETag (like the thumbnail's) comes from the object, since a re-analysis
 * rewrites it. Both answer If-None-Match (304) and single byte ranges (206/416).
 */
export async function sendUploadPreview(
  uploads: UploadsService,
  upload: Upload,
  req: FastifyRequest,
  reply: FastifyReply,
  maxAgeSeconds: number,
): Promise<StreamableFile | undefined> {
  if (upload.previewKey && upload.previewKey === upload.storageKey)
    return sendUploadFile(uploads, upload, req, reply, maxAgeSeconds);
  const rendition = await uploads.previewRendition(upload);
  if (!rendition) throw new NotFoundException(NO_PREVIEW);
  const { size } = rendition;
  const etag = `"p${size.toString(16)}-${rendition.modifiedAt.getTime().toString(16)}"`;
  reply
    .header('etag', etag)
    .header('cache-control', `private, max-age=${maxAgeSeconds}`)
    .header('accept-ranges', 'bytes');
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    reply.status(304);
    return undefined;
  }
  const range = parseByteRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${size}`);
    throw new HttpException('Requested range not satisfiable.', HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE);
  }
  let stream;
  try {
    stream = await uploads.openPreview(rendition, range);
  } catch (err) {
    // Removed since the stat (its upload deleted a moment ago): as absent as before an analysis.
    if (err instanceof StorageNotFoundError) throw new NotFoundException(NO_PREVIEW);
    throw err;
  }
  if (range) reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
  return new StreamableFile(stream, { type: 'image/webp', length: range ? range.end - range.start + 1 : size });
}
