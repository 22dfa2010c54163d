import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Auth, CurrentUser, type AuthUser } from '@echo/users';
import { ExportsService } from './exports.service.js';
import { ExportListResponse, ExportResponse } from './export.response.js';

@ApiTags('users')
@Auth()
@Controller('users/me/export')
export class ExportsController {
  constructor(private readonly exports: ExportsService) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Export all your data as one ZIP',
    description:
      'Starts building an archive of your account: profile.json, uploads.json (every upload with its latest analysis) and ' +
      'every original under its file name in photos/. 202 with the export object; while one is queued or running, 202 ' +
      'with that one (one export at a time); within EXPORT_COOLDOWN_MINUTES (60) of a completed one you can still ' +
      'download, 202 with that one. Follow it with GET /api/users/me/export/{id} or the `export` events of ' +
      'GET /api/visual-analysis/events; once completed, `download_url` is a signed link valid until `expires_at` ' +
      '(EXPORT_TTL_HOURS), when the archive is removed. A newer completed export replaces the older archive.',
  })
  @ApiAcceptedResponse({ type: ExportResponse })
  request(@CurrentUser() user: AuthUser): Promise<ExportResponse> {
    return this.exports.request(user.id);
  }

  @Get()
  @ApiOperation({ summary: 'Your exports still kept (newest first)' })
  @ApiOkResponse({ type: ExportListResponse })
  async list(@CurrentUser() user: AuthUser): Promise<ExportListResponse> {
    return { results: await this.exports.list(user.id) };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One of your exports (status, progress, download_url)' })
  @ApiOkResponse({ type: ExportResponse })
  @ApiNotFoundResponse({ description: 'No such export of yours (expired, or another user’s)' })
  get(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<ExportResponse> {
    return this.exports.get(user.id, id);
  }
}
