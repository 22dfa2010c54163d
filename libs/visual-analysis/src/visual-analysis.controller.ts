import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { InjectThrottlerStorage, type ThrottlerStorage } from '@nestjs/throttler';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { PageParams, Paginated, type PageRequest, type PageResult } from '@echo/pagination';
import { Auth, CurrentUser, ThrottledException, type AuthUser } from '@echo/users';
import { VisualAnalysisService } from './visual-analysis.service.js';
import { AnalysisQueryDto, CreateAnalysisDto } from './dto/analysis.dto.js';
import { AnalysisResponse } from './analysis.response.js';

const REANALYSIS_LIMIT = 20;
const REANALYSIS_WINDOW_MS = 10 * 60_000;

/** The seed's VisualAnalysisResultListCreateView, paginated. */
@ApiTags('visual-analysis')
@Auth()
@Controller('visual-analysis')
export class VisualAnalysisController {
  constructor(
    private readonly analyses: VisualAnalysisService,
    @InjectThrottlerStorage() private readonly throttle: ThrottlerStorage,
  ) {}

  @Get()
  @Paginated(AnalysisResponse)
  list(
    @CurrentUser() user: AuthUser,
    @Query() query: AnalysisQueryDto,
    @PageParams() page: PageRequest,
  ): Promise<PageResult<AnalysisResponse>> {
    return this.analyses.list(user.id, query, page);
  }

  /**
   * Re-analyse an upload: 202 with the queued analysis (or the one already pending). Limited per
   * user (each one costs a worker decode), 429 + Retry-After beyond it. Only a call that creates
   * an analysis counts (so not through the throttler guard, which counts every call): answering
   * with the pending one costs the worker nothing.
   */
  @Post()
  @HttpCode(202)
  @ApiTooManyRequestsResponse({
    description: `More than ${REANALYSIS_LIMIT} re-analyses in ${REANALYSIS_WINDOW_MS / 60_000} minutes`,
  })
  @ApiAcceptedResponse({ type: AnalysisResponse })
  @ApiBadRequestResponse({ description: '{"upload_id": ["…"]}' })
  create(@CurrentUser() user: AuthUser, @Body() dto: CreateAnalysisDto): Promise<AnalysisResponse> {
    return this.analyses.reanalyze(user.id, dto.upload_id, async () => {
      // The throttler's own storage (Redis when configured), so the limit holds across processes.
      const hit = await this.throttle.increment(
        `user:${user.id}`,
        REANALYSIS_WINDOW_MS,
        REANALYSIS_LIMIT,
        REANALYSIS_WINDOW_MS,
        'reanalysis',
      );
      if (hit.isBlocked) throw new ThrottledException(Math.max(1, hit.timeToBlockExpire));
    });
  }

  @Get(':id')
  @ApiOkResponse({ type: AnalysisResponse })
  @ApiNotFoundResponse()
  get(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<AnalysisResponse> {
    return this.analyses.get(user.id, id);
  }
}
