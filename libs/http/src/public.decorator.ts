import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'echo:public';

/** Opens a route (or controller) to unauthenticated callers; everything else needs a token. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** Closes one route of a @Public() controller again (it needs a token). */
export const NotPublic = () => SetMetadata(IS_PUBLIC, false);
