import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '@echo/config';
import { exportParts } from './export/export.providers.js';

/**
 * A person's data as a whole (issue 23): data export (and deletion, the storage audit). Each part
 * says what it brings per role: 'api' (routes and producers; in embedded mode also the jobs),
 * 'worker' (the consumers), 'cli'.
 */
@Module({})
export class AccountDataModule {
  static register(config: AppConfig, role: 'api' | 'worker' | 'cli'): DynamicModule {
    const exporting = role === 'cli' ? {} : exportParts(config, role);
    return {
      module: AccountDataModule,
      imports: [...(exporting.imports ?? [])],
      controllers: [...(exporting.controllers ?? [])],
      providers: [...(exporting.providers ?? [])],
    };
  }
}
