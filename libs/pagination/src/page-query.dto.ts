import { ApiHideProperty } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';

/**
 * Base for the query DTO of a paginated route, so the whitelisting ValidationPipe lets the
 * pagination parameters through; the interceptor, not the pipe, gives them DRF meaning.
 */
export class PageQueryDto {
  @ApiHideProperty()
  @IsOptional()
  @IsString()
  page?: string;

  @ApiHideProperty()
  @IsOptional()
  @IsString()
  page_size?: string;

  @ApiHideProperty()
  @IsOptional()
  @IsString()
  cursor?: string;
}
