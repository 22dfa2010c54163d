import { Audit, type AuditContext } from '@echo/audit-log';
import { Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { PageParams, Paginated, type PageRequest, type PageResult } from '@echo/pagination';
import { Auth } from '@echo/users';
import { VisualAnalysisService } from './visual-analysis.service.js';
import { AdminAnalysisResponse, AnalysisResponse } from './analysis.response.js';
import { AdminAnalysisQueryDto } from './dto/analysis.dto.js';

@ApiTags('admin')
@Auth({ admin: true })
@Controller('admin')
export class AdminAnalysisController {
  constructor(
    private readonly analyses: VisualAnalysisService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Anyone's analyses, newest first: `status` (or `stuck`), `upload_id`, `user_id`. */
  @Get('visual-analysis')
  @Paginated(AdminAnalysisResponse)
  list(
    @Query() query: AdminAnalysisQueryDto,
    @PageParams() page: PageRequest,
  ): Promise<PageResult<AdminAnalysisResponse>> {
    return this.analyses.adminList(query, page, this.config.queue.stuckAfterMs);
  }

  /** Job counts per queue: waiting, active, completed, failed, delayed. */
  @Get('queues')
  @ApiOkResponse({
    schema: {
      type: 'object',
      additionalProperties: { type: 'object', additionalProperties: { type: 'number' } },
      example: { 'visual-analysis': { waiting: 0, active: 1, completed: 10, failed: 0, delayed: 0 } },
    },
  })
  queues(): Promise<Record<string, Record<string, number>>> {
    return this.analyses.queueCounts();
  }

  @Post('visual-analysis/:id/retry')
  @HttpCode(202)
  @ApiOkResponse({ type: AnalysisResponse })
  retry(@Param('id') id: string, @Audit() audit: AuditContext): Promise<AnalysisResponse> {
    return this.analyses.retry(id, audit);
  }
}
