import type { DynamicModule } from '@nestjs/common';

/** What one feature of the lib (export, deletion, storage audit) adds to AccountDataModule. */
export type ModuleParts = Pick<DynamicModule, 'imports' | 'controllers' | 'providers' | 'exports'>;
