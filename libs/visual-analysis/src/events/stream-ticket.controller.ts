import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { Auth, CurrentUser, type AuthUser } from '@echo/users';
import { StreamTickets } from './stream-tickets.js';

class StreamTicketResponse {
  @ApiProperty({ description: 'Opens GET /api/visual-analysis/events?ticket=… once, within 60 s' }) ticket: string;
}

@ApiTags('auth')
@Auth()
@Controller('auth')
export class StreamTicketController {
  constructor(private readonly tickets: StreamTickets) {}

  /** A ticket for browsers' EventSource, which cannot send the Authorization header. */
  @Post('stream-ticket')
  @HttpCode(200)
  @ApiOkResponse({ type: StreamTicketResponse })
  async issue(@CurrentUser() user: AuthUser): Promise<StreamTicketResponse> {
    return { ticket: await this.tickets.issue(user.id) };
  }
}
