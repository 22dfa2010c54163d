import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { PageParams, Paginated, type PageRequest, type PageResult } from '@echo/pagination';
import { Auth, CurrentUser, type AuthUser } from '@echo/users';
import { VisualAnalysisService } from './visual-analysis.service.js';
import { AnalysisQueryDto, CreateAnalysisDto } from './dto/analysis.dto.js';
import { AnalysisResponse } from './analysis.response.js';

/** The seed's VisualAnalysisResultListCreateView, paginated. */
@ApiTags('visual-analysis')
@Auth()
@Controller('visual-analysis')
export class VisualAnalysisController {
  constructor(private readonly analyses: VisualAnalysisService) {}

  @Get()
  @Paginated(AnalysisResponse)
  list(@CurrentUser() user: AuthUser, @Query() query: AnalysisQueryDto, @PageParams() page: PageRequest): Promise<PageResult<AnalysisResponse>> {
    return this.analyses.list(user.id, query, page);
  }

  /** Re-analyse an upload: 202 with the queued analysis (or the one already pending). */
  @Post()
  @HttpCode(202)
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
