import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { SkipThrottle, Throttle } from '@nestjs/throttler';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { PageParams, Paginated, type PageRequest, type PageResult } from '@echo/pagination';
import { Auth, AuthThrottleGuard, CurrentUser, type AuthUser } from '@echo/users';
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
  constructor(private readonly analyses: VisualAnalysisService) {}

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
   * Re-analyse an upload: 202 with the queued analysis (or the one already pending). Throttled
   * per user (each one costs a worker decode), 429 + Retry-After beyond it.
   */
  @Post()
  @HttpCode(202)
  @UseGuards(AuthThrottleGuard)
  @SkipThrottle({ ip: true })
  @Throttle({
    account: {
      limit: REANALYSIS_LIMIT,
      ttl: REANALYSIS_WINDOW_MS,
      getTracker: (req) => `user:${(req as { user: AuthUser }).user.id}`,
    },
  })
  @ApiTooManyRequestsResponse({
    description: `More than ${REANALYSIS_LIMIT} re-analyses in ${REANALYSIS_WINDOW_MS / 60_000} minutes`,
  })
  @ApiAcceptedResponse({ type: AnalysisResponse })
  @ApiBadRequestResponse({ description: '{"upload_id": ["…"]}' })
  create(@CurrentUser() user: AuthUser, @Body() dto: CreateAnalysisDto): Promise<AnalysisResponse> {
    return this.analyses.reanalyze(user.id, dto.upload_id);
  }

  @Get(':id')
  @ApiOkResponse({ type: AnalysisResponse })
  @ApiNotFoundResponse()
  get(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<AnalysisResponse> {
    return this.analyses.get(user.id, id);
  }
}
