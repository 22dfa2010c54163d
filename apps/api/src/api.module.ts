import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { ConfigModule, type AppConfig } from '@echo/config';
import { DatabaseModule } from '@echo/database';
import { CacheModule } from '@echo/cache';
import { QueueModule } from '@echo/queue';
import { HealthModule } from '@echo/health';
import { UsersModule } from '@echo/users';
import { StorageModule } from '@echo/storage';
import { UploadsModule } from '@echo/uploads';
import { VisualAnalysisModule } from '@echo/visual-analysis';
import { AdminStatsModule } from '@echo/admin-stats';
import { AccountDataModule } from '@echo/account-data';
import { AuditLogModule } from '@echo/audit-log';
import { DrfExceptionFilter, createValidationPipe, loggingModule } from '@echo/http';

/** The HTTP app: infrastructure plus the feature modules. No queue consumers here. */
@Module({})
export class ApiModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        loggingModule(config, 'api'),
        DatabaseModule.forRoot(config),
        CacheModule.forRoot(config),
        QueueModule.forRoot(config, 'producer'),
        HealthModule,
        StorageModule.forRoot(config),
        UsersModule.register(config),
        UploadsModule.register({ http: true, sweep: config.embeddedRedis }),
        VisualAnalysisModule.register(config, 'api'),
        AdminStatsModule,
        AccountDataModule.register(config, 'api'),
        AuditLogModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: DrfExceptionFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
    };
  }
}
