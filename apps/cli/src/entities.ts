import { RefreshToken, User } from '@echo/users';

/** Every entity, for the migration commands (the apps use autoLoadEntities instead). */
export const entities = [User, RefreshToken];
