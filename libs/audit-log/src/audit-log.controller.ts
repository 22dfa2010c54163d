import { applyDecorators, Controller, Get, Query, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { PageParams, Paginated, type PageRequest, type PageResult } from '@echo/pagination';
import { AuditLogQueryDto } from './audit-log-query.dto.js';
import { AuditEntryResponse } from './audit-entry.response.js';
import { AuditLogService } from './audit-log.service.js';

/**
 * @Auth({ admin: true }) of @echo/users, spelled out: @echo/users imports this library (to write
 * entries), so importing it back would be a cycle evaluated before its decorators exist. The global
 * AuthGuard reads the same metadata key.
 */
const AdminOnly = () =>
  applyDecorators(
    SetMetadata('echo:auth', { admin: true }),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: '{"detail": …} — missing, invalid or expired token, or inactive user' }),
    ApiForbiddenResponse({ description: '{"detail": …} — admin role required' }),
  );

/** Append-only from the API: a list and nothing else (no update, no delete). */
@ApiTags('admin')
@AdminOnly()
@Controller('admin/audit-log')
export class AuditLogController {
  constructor(private readonly log: AuditLogService) {}

  @Get()
  @Paginated(AuditEntryResponse)
  list(@Query() query: AuditLogQueryDto, @PageParams() page: PageRequest): Promise<PageResult<AuditEntryResponse>> {
    return this.log.list(query, page);
  }
}
