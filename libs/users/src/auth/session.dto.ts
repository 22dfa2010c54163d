import { ApiProperty } from '@nestjs/swagger';

/** The body of the cookie-authenticated routes: an empty JSON object (the credential is the cookie). */
export class SessionBodyDto {}

/** The cookie flow's answer: the access token only; the refresh token is in the HttpOnly cookie. */
export class AccessTokenResponse {
  @ApiProperty({ description: 'Access JWT (Authorization: Bearer …); keep it in memory only' }) access: string;
}
