import { RefreshToken, User } from '@echo/users';
import { Upload, UploadWord } from '@echo/uploads';
import { VisualAnalysis } from '@echo/visual-analysis';
import { DataExport } from '@echo/account-data';

/** Every entity, for the migration commands (the apps use autoLoadEntities instead). */
export const entities = [User, RefreshToken, Upload, UploadWord, VisualAnalysis, DataExport];
