import {
  Controller,
  ForbiddenException,
  Get,
  HttpException,
  HttpStatus,
  Inject,
  NotFoundException,
  Param,
  Query,
  Req,
  Res,
  StreamableFile,
} from '@nestjs/common';
import {
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '@echo/http';
import { STORAGE, StorageNotFoundError, type StorageDriver } from '@echo/storage';
import { parseByteRange } from '@echo/uploads';
import { ExportUrls } from './export-urls.js';
import { ExportsRepository } from './exports.repository.js';

const INVALID = 'Invalid or expired download URL.';
const GONE = 'This export is no longer available.';

/**
 * The `download_url` of a completed export: no Authorization header, so a browser or a download
 * manager can fetch it; the signature (checked before any query) grants this one archive until
 * its expiry, while its owner is active, not scheduled for deletion, and has not ended their
 * sessions since requesting it. Range requests (206) let a broken download resume; If-Range with another ETag gets
 * the whole archive again. The archive of an id never changes once completed, so the ETag is the
 * id and size.
 */
@ApiTags('media')
@Public()
@Controller('media/exports')
export class ExportDownloadController {
  constructor(
    private readonly exports: ExportsRepository,
    private readonly urls: ExportUrls,
    @Inject(STORAGE) private readonly storage: StorageDriver,
  ) {}

  @Get(':id')
  @ApiOperation({ summary: 'Download a data export (the signed download_url of the export object)' })
  @ApiProduces('application/zip')
  @ApiQuery({ name: 'exp', description: 'expiry (unix seconds), as signed' })
  @ApiQuery({ name: 'sig', description: 'signature, as signed' })
  @ApiOkResponse({
    description: 'The ZIP, as an attachment (Range → 206 Partial Content; Accept-Ranges, ETag, If-Range)',
  })
  @ApiForbiddenResponse({ description: `{"detail": "${INVALID}"}` })
  @ApiNotFoundResponse({ description: `{"detail": "${GONE}"}` })
  async download(
    @Param('id') id: string,
    @Query('exp') exp: unknown,
    @Query('sig') sig: unknown,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamableFile> {
    // Repeated query keys arrive as arrays: verify() refuses anything but one string each.
    if (!/^[0-9a-f-]{36}$/.test(id) || !this.urls.verify(id, exp, sig)) throw new ForbiddenException(INVALID);
    const row = await this.exports.findById(id);
    if (!row || row.status !== 'completed' || !row.storageKey || !row.expiresAt) throw new NotFoundException(GONE);
    const expiresAt = new Date(row.expiresAt);
    if (expiresAt.getTime() <= Date.now()) throw new NotFoundException(GONE);
    // The link is revoked with the owner's sessions: deactivated, leaving, or signed out
    // everywhere (or a password change) since the export was requested — token_version moved on.
    const owner = await this.exports.ownerState(row.userId);
    if (
      !owner?.isActive ||
      owner.deleteAfter ||
      (row.tokenVersion !== null && (owner.tokenVersion ?? 0) !== row.tokenVersion)
    )
      throw new NotFoundException(GONE);
    const size = Number(row.size);
    const etag = `"${row.id}-${size.toString(16)}"`;
    reply
      .header('etag', etag)
      .header('accept-ranges', 'bytes')
      .header('last-modified', new Date(row.completedAt ?? row.createdAt).toUTCString())
      // A personal archive: never kept by a shared cache, nor by the browser's.
      .header('cache-control', 'private, no-store')
      .header('content-disposition', `attachment; filename="${downloadName(new Date(row.createdAt))}"`);
    // If-Range names another version (an ETag or a date we do not match): the whole file (RFC 9110 §13.1.5).
    const ifRange = req.headers['if-range'];
    const range = ifRange && ifRange !== etag ? undefined : parseByteRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      reply.header('content-range', `bytes */${size}`);
      throw new HttpException('Requested range not satisfiable.', HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE);
    }
    let stream;
    try {
      stream = await this.storage.get(row.storageKey, range);
    } catch (err) {
      // Expired and swept between the read of the row and this: as gone as after the sweep.
      if (err instanceof StorageNotFoundError) throw new NotFoundException(GONE);
      throw err;
    }
    if (range) reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
    return new StreamableFile(stream, { type: 'application/zip', length: range ? range.end - range.start + 1 : size });
  }
}

/** `echo-export-2025-01-31.zip`: plain ASCII, nothing to escape, nothing of the user's in it. */
export function downloadName(createdAt: Date): string {
  return `echo-export-${createdAt.toISOString().slice(0, 10)}.zip`;
}
