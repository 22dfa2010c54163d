import { Controller, Headers, Query, Sse, SseSignal, UseGuards, type MessageEvent } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiQuery,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Observable } from 'rxjs';
import { Public } from '@echo/http';
import { CurrentUser, type AuthUser } from '@echo/users';
import { AnalysisEventStreams } from './event-streams.js';
import { StreamAuthGuard } from './stream-auth.guard.js';

/**
 * Characters of events that may wait for a client that stopped reading (beyond the socket's
 * buffers) before Nest drops its connection: ~150 events. The client resumes with Last-Event-ID.
 */
export const MAX_PENDING_EVENT_CHARS = 64 * 1024;

@ApiTags('visual-analysis')
@Public()
@UseGuards(StreamAuthGuard)
@Controller('visual-analysis')
export class AnalysisEventsController {
  constructor(private readonly streams: AnalysisEventStreams) {}

  @Sse('events', { maxPendingDataLength: MAX_PENDING_EVENT_CHARS })
  @ApiOperation({
    summary: 'Live changes of your analyses (Server-Sent Events)',
    description:
      '`event: analysis` with `data` {analysis_id, upload_id, status, progress, attempts, error, summary, at} on every change ' +
      '(queued, processing + progress, completed with a summary, failed with the reason); `event: export` with `data` the ' +
      'data export object (as GET /api/users/me/export/{id}, plus `at`) on each of its changes; `event: resync` when events since ' +
      'Last-Event-ID are no longer kept (reload the list); a `: ping` comment every SSE_HEARTBEAT_SECONDS. Resume with the ' +
      '`Last-Event-ID` header (EventSource sends it on reconnect) or `last_event_id`. Auth: Bearer header, or `ticket` from ' +
      'POST /api/auth/stream-ticket.',
  })
  @ApiBearerAuth()
  @ApiProduces('text/event-stream')
  @ApiQuery({
    name: 'ticket',
    required: false,
    description: 'Single-use ticket from POST /api/auth/stream-ticket (for EventSource)',
  })
  @ApiQuery({
    name: 'last_event_id',
    required: false,
    description: 'Resume after this event id (when the header cannot be sent)',
  })
  @ApiOkResponse({ description: 'text/event-stream' })
  @ApiUnauthorizedResponse({ description: '{"detail": …} — no/invalid token, or a used/expired ticket' })
  @ApiTooManyRequestsResponse({ description: '{"detail": …} — SSE_MAX_CONNECTIONS_PER_USER streams already open' })
  events(
    @CurrentUser() user: AuthUser,
    @Headers('last-event-id') header: string | undefined,
    @Query('last_event_id') query: unknown,
    @SseSignal() signal: AbortSignal,
  ): Promise<Observable<MessageEvent>> {
    const lastEventId = header || (typeof query === 'string' && query ? query : undefined);
    return this.streams.open(user.id, lastEventId, signal);
  }
}
