import { RefreshToken, User } from '@echo/users';
import { Upload } from '@echo/uploads';

/** Every entity, for the migration commands (the apps use autoLoadEntities instead). */
export const entities = [User, RefreshToken, Upload];
