import { ApiProperty } from '@nestjs/swagger';

export class AuditEntryResponse {
  @ApiProperty({ type: 'integer' }) id: number;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ type: 'integer', nullable: true, description: 'null: the CLI or an unauthenticated sign-in' })
  actor_id: number | null;
  @ApiProperty() actor_username: string;
  @ApiProperty({ example: 'user.update' }) action: string;
  @ApiProperty({ example: 'user' }) target_type: string;
  @ApiProperty() target_id: string;
  @ApiProperty({ description: "The target's name when the entry was written (kept after its deletion)" })
  target_label: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'array', items: {}, minItems: 2, maxItems: 2 },
    example: { is_active: [true, false] },
  })
  changes: Record<string, [unknown, unknown]>;
  @ApiProperty({ type: 'string', nullable: true }) request_id: string | null;
  @ApiProperty({ type: 'string', nullable: true }) ip: string | null;
}
