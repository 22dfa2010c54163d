import { Controller, ForbiddenException, Get, Param, Query, Req, Res } from '@nestjs/common';
import {
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiProduces,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '@echo/http';
import { UploadsService } from '../uploads.service.js';
import { MediaUrls, type MediaVariant } from './media-urls.js';
import { sendUploadFile, sendUploadPreview, sendUploadThumbnail } from './send-media.js';

const INVALID = 'Invalid or expired media URL.';

/**
 * The signed URLs in upload objects (`file_url`, `thumbnail_url`, `preview_url`): no Authorization header, so an
 * `<img src>` works. The signature is checked before anything touches the database; it grants
 * exactly one upload's one variant until `exp`. Cache lifetimes never outlive the URL.
 */
@ApiTags('media')
@Public()
@Controller('media/uploads')
export class MediaController {
  constructor(
    private readonly uploads: UploadsService,
    private readonly media: MediaUrls,
  ) {}

  @Get(':id/file')
  @ApiProduces('image/*')
  @ApiQuery({ name: 'exp', description: 'expiry (unix seconds), as signed' })
  @ApiQuery({ name: 'sig', description: 'signature, as signed' })
  @ApiOkResponse({ description: 'The image bytes (ETag, Range, Cache-Control: private up to the expiry)' })
  @ApiForbiddenResponse({ description: '{"detail": "Invalid or expired media URL."}' })
  @ApiNotFoundResponse({ description: 'The upload is gone' })
  async file(
    @Param('id') id: string,
    @Query('exp') exp: string | undefined,
    @Query('sig') sig: string | undefined,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const maxAge = this.check(id, 'file', exp, sig);
    return sendUploadFile(this.uploads, await this.uploads.findById(id), req, reply, maxAge);
  }

  @Get(':id/thumbnail')
  @ApiProduces('image/webp')
  @ApiQuery({ name: 'exp', description: 'expiry (unix seconds), as signed' })
  @ApiQuery({ name: 'sig', description: 'signature, as signed' })
  @ApiOkResponse({ description: 'The WebP thumbnail' })
  @ApiForbiddenResponse({ description: '{"detail": "Invalid or expired media URL."}' })
  @ApiNotFoundResponse({ description: 'The upload is gone, or it has no thumbnail yet' })
  async thumbnail(
    @Param('id') id: string,
    @Query('exp') exp: string | undefined,
    @Query('sig') sig: string | undefined,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const maxAge = this.check(id, 'thumbnail', exp, sig);
    return sendUploadThumbnail(this.uploads, await this.uploads.findById(id), req, reply, maxAge);
  }

  @Get(':id/preview')
  @ApiProduces('image/webp', 'image/jpeg', 'image/png')
  @ApiQuery({ name: 'exp', description: 'expiry (unix seconds), as signed' })
  @ApiQuery({ name: 'sig', description: 'signature, as signed' })
  @ApiOkResponse({
    description:
      'The display rendition (long edge ≤ 2048 px, upright, sRGB): a WebP, or the original bytes with their content type when they display as is. ETag, Range, Cache-Control: private up to the expiry.',
  })
  @ApiForbiddenResponse({ description: '{"detail": "Invalid or expired media URL."}' })
  @ApiNotFoundResponse({ description: 'The upload is gone, or no analysis has made its preview yet' })
  async preview(
    @Param('id') id: string,
    @Query('exp') exp: string | undefined,
    @Query('sig') sig: string | undefined,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const maxAge = this.check(id, 'preview', exp, sig);
    return sendUploadPreview(this.uploads, await this.uploads.findById(id), req, reply, maxAge);
  }

  /** Seconds the URL has left (the response's max-age), or 403. */
  private check(id: string, variant: MediaVariant, exp: unknown, sig: unknown): number {
    // Repeated query keys arrive as arrays: anything but one string each is refused.
    if (
      typeof exp !== 'string' ||
      typeof sig !== 'string' ||
      !/^[0-9a-f-]{36}$/.test(id) ||
      !this.media.verify(id, variant, exp, sig)
    ) {
      throw new ForbiddenException(INVALID);
    }
    return Math.max(0, Number(exp) - Math.floor(Date.now() / 1000));
  }
}
