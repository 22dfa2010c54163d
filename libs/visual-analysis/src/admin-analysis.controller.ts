import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Auth } from '@echo/users';
import { VisualAnalysisService } from './visual-analysis.service.js';
import { AnalysisResponse } from './analysis.response.js';

@ApiTags('admin')
@Auth({ admin: true })
@Controller('admin')
export class AdminAnalysisController {
  constructor(private readonly analyses: VisualAnalysisService) {}

  /** Job counts per queue: waiting, active, completed, failed, delayed. */
  @Get('queues')
  @ApiOkResponse({ schema: { example: { 'visual-analysis': { waiting: 0, active: 1, completed: 10, failed: 0, delayed: 0 } } } })
  queues(): Promise<Record<string, Record<string, number>>> {
    return this.analyses.queueCounts();
  }

  @Post('visual-analysis/:id/retry')
  @HttpCode(202)
  @ApiOkResponse({ type: AnalysisResponse })
  retry(@Param('id') id: string): Promise<AnalysisResponse> {
    return this.analyses.retry(id);
  }
}
