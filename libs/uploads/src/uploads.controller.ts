import { Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiPayloadTooLargeResponse,
  ApiProduces,
  ApiTags,
  ApiUnprocessableEntityResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { PageParams, Paginated, type PageRequest, type PageResult } from '@echo/pagination';
import { Auth, CurrentUser, type AuthUser } from '@echo/users';
import { UploadsService } from './uploads.service.js';
import { ownUploadsPageGroup } from './contracts/upload-listings.js';
import { readUploadForm } from './intake/upload-form.js';
import { UploadIntake } from './intake/upload-intake.service.js';
import { sendUploadFile, sendUploadPreview, sendUploadThumbnail } from './media/send-media.js';
import { UploadsQueryDto } from './dto/uploads-query.dto.js';
import { DuplicateUploadResponse, UploadResponse } from './upload.response.js';

@ApiTags('uploads')
@Auth()
@Controller('uploads')
export class UploadsController {
  constructor(
    private readonly uploads: UploadsService,
    private readonly intake: UploadIntake,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post()
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: ['file'],
      properties: { file: { type: 'string', format: 'binary' }, title: { type: 'string', maxLength: 200 } },
    },
  })
  @ApiCreatedResponse({ type: UploadResponse, description: 'New upload' })
  @ApiOkResponse({
    type: DuplicateUploadResponse,
    description: 'The same bytes were uploaded before: the existing upload',
  })
  @ApiPayloadTooLargeResponse({ description: 'Over UPLOAD_MAX_BYTES or the user quota' })
  @ApiUnsupportedMediaTypeResponse({ description: 'Not an accepted image (by its bytes)' })
  @ApiUnprocessableEntityResponse({ description: 'Unparseable header, or over UPLOAD_MAX_PIXELS' })
  async create(
    @CurrentUser() user: AuthUser,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { staged, title } = await readUploadForm(req, this.intake, this.config.uploads.maxBytes);
    const { status, body } = await this.intake.commit(user.id, staged, title);
    reply.status(status);
    return body;
  }

  @Get()
  @Paginated(UploadResponse, { bodyCache: ownUploadsPageGroup })
  list(
    @CurrentUser() user: AuthUser,
    @Query() query: UploadsQueryDto,
    @PageParams() page: PageRequest,
  ): Promise<PageResult<UploadResponse>> {
    return this.uploads.list(user.id, query, page);
  }

  @Get(':id')
  @ApiOkResponse({ type: UploadResponse })
  @ApiNotFoundResponse({ description: "Unknown, or another user's" })
  get(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<UploadResponse> {
    return this.uploads.get(user.id, id);
  }

  /** The original bytes: ETag (the SHA-256) with If-None-Match → 304, and single byte ranges. */
  @Get(':id/file')
  @ApiProduces('image/*')
  @ApiOkResponse({ description: 'The image bytes' })
  async file(
    @CurrentUser() user: AuthUser,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    return sendUploadFile(this.uploads, await this.uploads.findOwn(user.id, id), req, reply, 86400);
  }

  /** The analysis' WebP thumbnail (long edge 256 px); 404 until the analysis made it. */
  @Get(':id/thumbnail')
  @ApiProduces('image/webp')
  async thumbnail(
    @CurrentUser() user: AuthUser,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    return sendUploadThumbnail(this.uploads, await this.uploads.findOwn(user.id, id), req, reply, 86400);
  }

  /**
   * The display rendition (long edge ≤ 2048 px, upright, sRGB): a WebP, or the original when it
   * displays as is; 404 until the analysis made it.
   */
  @Get(':id/preview')
  @ApiProduces('image/webp', 'image/jpeg', 'image/png')
  @ApiOkResponse({
    description:
      'The display rendition: a WebP, or the original bytes with their content type when they display as is (ETag, Range)',
  })
  @ApiNotFoundResponse({ description: "Unknown, another user's, or no analysis has made its preview yet" })
  async preview(
    @CurrentUser() user: AuthUser,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    return sendUploadPreview(this.uploads, await this.uploads.findOwn(user.id, id), req, reply, 86400);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse()
  async remove(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<void> {
    await this.uploads.delete(user.id, id);
  }
}
