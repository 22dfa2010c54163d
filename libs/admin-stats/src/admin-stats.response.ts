import { ApiProperty } from '@nestjs/swagger';

export class UserStats {
  @ApiProperty() total: number;
  @ApiProperty() active: number;
  @ApiProperty({ description: 'joined in the last 7 days' }) new_7d: number;
}

export class UploadStats {
  @ApiProperty({ description: 'since 00:00 UTC' }) today: number;
  @ApiProperty({ description: 'in the last 7 days' }) last_7d: number;
  @ApiProperty({ description: "sum of all uploads' sizes" }) bytes_stored: number;
}

export class AnalysisStats {
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'number' },
    example: { queued: 0, processing: 1, completed: 120, failed: 2 },
  })
  by_status: Record<string, number>;
  @ApiProperty({
    description:
      'failed / (completed + failed) of the analyses finished in the last 7 UTC days (today included); null when none',
    nullable: true,
    type: Number,
  })
  failure_rate_7d: number | null;
}

export class QueueStats {
  @ApiProperty({ description: 'analysis jobs waiting, delayed (retry backoff) or running' }) depth: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'object', additionalProperties: { type: 'number' } },
    example: { 'visual-analysis': { waiting: 0, active: 1, completed: 10, failed: 0, delayed: 0 } },
  })
  counts: Record<string, Record<string, number>>;
}

export class DayStats {
  @ApiProperty({ example: '2026-11-26', description: 'UTC day' }) date: string;
  @ApiProperty() uploads: number;
  @ApiProperty() analyses_completed: number;
  @ApiProperty() analyses_failed: number;
}

/** GET /api/admin/stats: the console's overview. */
export class AdminStatsResponse {
  @ApiProperty({ type: UserStats }) users: UserStats;
  @ApiProperty({ type: UploadStats }) uploads: UploadStats;
  @ApiProperty({ type: AnalysisStats }) analyses: AnalysisStats;
  @ApiProperty({ type: QueueStats }) queue: QueueStats;
  @ApiProperty({ type: [DayStats], description: 'the last 30 UTC days, oldest first, today last' }) daily: DayStats[];
  @ApiProperty({ format: 'date-time', description: 'when these numbers were computed (cached up to 15 s)' })
  generated_at: string;
}
