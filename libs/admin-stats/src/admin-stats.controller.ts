import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Auth } from '@echo/users';
import { AdminStatsService } from './admin-stats.service.js';
import { AdminStatsResponse } from './admin-stats.response.js';

@ApiTags('admin')
@Auth({ admin: true })
@Controller('admin/stats')
export class AdminStatsController {
  constructor(private readonly stats: AdminStatsService) {}

  /** The console's overview: users, uploads, analyses, queue, and 30 days per day. Cached 15 s. */
  @Get()
  @ApiOkResponse({ type: AdminStatsResponse })
  get(): Promise<AdminStatsResponse> {
    return this.stats.get();
  }
}
