import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { CacheService } from '@echo/cache';
import { QueueHealth } from '@echo/queue';
import { Public } from '@echo/http';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly cache: CacheService,
    private readonly queue: QueueHealth,
  ) {}

  /** Liveness: the process answers. Touches nothing else. */
  @Get()
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live() {
    return { status: 'ok' };
  }

  /** Readiness: database, cache and queue backends answer. */
  @Get('ready')
  @ApiOkResponse({ description: 'Terminus report: {status, info, error, details}' })
  @ApiServiceUnavailableResponse({ description: 'Same report with status "error"' })
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    try {
      return await this.health.check([
        () => this.db.pingCheck('database', { timeout: 1500 }),
        () =>
          this.indicators
            .check('cache')
            .attempt(async () => {
              if (!(await this.cache.ping())) throw new Error('cache backend not answering');
              return { backend: this.cache.backend };
            })
            .withTimeout(1500),
        () =>
          this.indicators
            .check('queue')
            .attempt(() => this.queue.check())
            .withTimeout(1500),
      ]);
    } catch (err) {
      // Terminus' own report is the body operators expect here, not a DRF detail.
      if (!(err instanceof ServiceUnavailableException)) throw err;
      reply.status(503);
      return err.getResponse();
    }
  }
}
