import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '@echo/config';
import { RefreshToken, User } from '@echo/users';
import { Upload } from '@echo/uploads';
import { VisualAnalysis } from '@echo/visual-analysis';
import { deletionParts } from './deletion/deletion.providers.js';
import { storageAuditParts } from './storage-audit/storage-audit.providers.js';
import { exportParts } from './export/export.providers.js';

/**
 * A person's data as a whole: deletion (scheduling, restore, the purge) and the storage audit
 * (and exports). Each part says what it brings per role: 'api' (routes and producers; in
 * embedded mode also the jobs), 'worker' (the consumers), 'cli' (the audit command).
 */
@Module({})
export class AccountDataModule {
  static register(config: AppConfig, role: 'api' | 'worker' | 'cli'): DynamicModule {
    const deletion = deletionParts(config, role);
    const audit = storageAuditParts(config, role);
    const exporting = role === 'cli' ? {} : exportParts(config, role);
    return {
      module: AccountDataModule,
      imports: [TypeOrmModule.forFeature([User, RefreshToken, Upload, VisualAnalysis]), ...(exporting.imports ?? [])],
      controllers: [...(deletion.controllers ?? []), ...(exporting.controllers ?? [])],
      providers: [...(deletion.providers ?? []), ...(audit.providers ?? []), ...(exporting.providers ?? [])],
      exports: [...(audit.exports ?? []), ...(exporting.exports ?? [])],
    };
  }
}
