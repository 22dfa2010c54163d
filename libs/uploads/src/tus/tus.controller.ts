import { Controller, Delete, Head, Options, Patch, Post, Req, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiConflictResponse,
  ApiConsumes,
  ApiCreatedResponse,
  ApiGoneResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiPayloadTooLargeResponse,
  ApiResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnprocessableEntityResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '@echo/http';
import { Auth, CurrentUser, type AuthUser } from '@echo/users';
import { DuplicateUploadResponse, UploadResponse } from '../upload.response.js';
import { TusUploads } from './tus-uploads.service.js';

const RESUMABLE = ApiHeader({ name: 'Tus-Resumable', required: true, description: '1.0.0' });
const ID = ApiParam({ name: 'id', description: "The upload URL's last segment, as the creation's Location gave it" });

/**
 * /api/uploads/tus[/<id>]: the tus 1.0 protocol, served by @tus/server on the raw Node request
 * (Fastify does not read the body: see the no-op parser in createApiApp). The global AuthGuard has
 * run before; every method lands in the same hand-over, the decorators only document it.
 */
@ApiTags('uploads')
@Auth()
@Controller('uploads/tus')
export class TusController {
  constructor(private readonly tus: TusUploads) {}

  @Options()
  @Public()
  @ApiOperation({ summary: 'tus discovery: Tus-Version, Tus-Extension, Tus-Max-Size (no auth: CORS preflight)' })
  @ApiNoContentResponse({
    description:
      'Tus-Version: 1.0.0, Tus-Extension: creation,creation-with-upload,creation-defer-length,termination,expiration, Tus-Max-Size: UPLOAD_MAX_BYTES',
  })
  discover(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(req, reply);
  }

  @Post()
  @RESUMABLE
  @ApiOperation({ summary: 'Create a resumable upload (tus creation; a body makes it creation-with-upload)' })
  @ApiHeader({
    name: 'Upload-Length',
    required: false,
    description: 'Total bytes (or Upload-Defer-Length: 1); over UPLOAD_MAX_BYTES or the quota → 413',
  })
  @ApiHeader({
    name: 'Upload-Metadata',
    required: false,
    description: 'filename, filetype, title (base64 values); only hints',
  })
  @ApiCreatedResponse({ description: 'Location: /api/uploads/tus/<id>; Upload-Expires (TUS_EXPIRY)' })
  @ApiPayloadTooLargeResponse({ description: 'Upload-Length over UPLOAD_MAX_BYTES or the user quota' })
  @ApiTooManyRequestsResponse({ description: 'Too many unfinished uploads (TUS_MAX_PENDING_PER_USER)' })
  create(@CurrentUser() user: AuthUser, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(req, reply, user);
  }

  @Head(':id')
  @RESUMABLE
  @ID
  @ApiOperation({ summary: "The upload's offset (where to resume)" })
  @ApiOkResponse({ description: 'Upload-Offset, Upload-Length, Upload-Metadata; Cache-Control: no-store' })
  @ApiNotFoundResponse({ description: "Unknown, finished, or another user's" })
  @ApiGoneResponse({ description: 'Expired (TUS_EXPIRY after creation)' })
  offset(@CurrentUser() user: AuthUser, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(req, reply, user);
  }

  @Patch(':id')
  @RESUMABLE
  @ID
  @ApiHeader({ name: 'Upload-Offset', required: true, description: "Must equal the server's offset" })
  @ApiConsumes('application/offset+octet-stream')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiOperation({
    summary: 'Append bytes; the request that completes the file answers with the upload object (as POST /api/uploads)',
  })
  @ApiNoContentResponse({ description: 'Bytes stored; Upload-Offset is the new offset' })
  @ApiCreatedResponse({ type: UploadResponse, description: 'The last bytes: the new upload' })
  @ApiOkResponse({
    type: DuplicateUploadResponse,
    description: 'The last bytes, but the same file was uploaded before: the existing upload',
  })
  @ApiConflictResponse({ description: "Upload-Offset does not match the server's" })
  @ApiResponse({ status: 423, description: 'Another request holds this upload; retry' })
  @ApiNotFoundResponse({ description: "Unknown, finished, or another user's" })
  @ApiGoneResponse({ description: 'Expired' })
  @ApiPayloadTooLargeResponse({ description: 'More bytes than Upload-Length / UPLOAD_MAX_BYTES, or the quota' })
  @ApiUnsupportedMediaTypeResponse({ description: 'Not an accepted image (by its bytes); nothing is kept' })
  @ApiUnprocessableEntityResponse({ description: 'Unparseable header, or over UPLOAD_MAX_PIXELS; nothing is kept' })
  append(@CurrentUser() user: AuthUser, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(req, reply, user);
  }

  @Delete(':id')
  @RESUMABLE
  @ID
  @ApiOperation({ summary: 'Abandon an unfinished upload (tus termination)' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: "Unknown, finished, or another user's" })
  terminate(@CurrentUser() user: AuthUser, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(req, reply, user);
  }

  private async serve(req: FastifyRequest, reply: FastifyReply, user?: AuthUser): Promise<void> {
    // Headers the onRequest hooks set (X-Request-Id, helmet's, CORS) would be lost with Fastify's reply.
    for (const [name, value] of Object.entries(reply.getHeaders()))
      if (value !== undefined) reply.raw.setHeader(name, value);
    reply.hijack();
    await this.tus.handle(req.raw, reply.raw, user);
  }
}
