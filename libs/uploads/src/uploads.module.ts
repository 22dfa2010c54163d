import { Module, type DynamicModule } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Upload } from './upload.entity.js';
import { UploadsService } from './uploads.service.js';
import { UploadIntake } from './intake/upload-intake.service.js';
import { UploadHooks } from './upload-hooks.js';
import { UploadsController } from './uploads.controller.js';
import { AdminUploadsController } from './admin-uploads.controller.js';
import { OrphanSweeper } from './orphan-sweeper.js';

/**
 * Image intake, storage and listings. `http` mounts the routes (API); `sweep` runs the orphan
 * sweeper (the worker in production, the API in embedded mode).
 */
@Module({})
export class UploadsModule {
  static register(options: { http: boolean; sweep: boolean }): DynamicModule {
    return {
      module: UploadsModule,
      global: true,
      imports: [TypeOrmModule.forFeature([Upload]), ...(options.sweep ? [ScheduleModule.forRoot()] : [])],
      controllers: options.http ? [UploadsController, AdminUploadsController] : [],
      providers: [UploadsService, UploadIntake, UploadHooks, ...(options.sweep ? [OrphanSweeper] : [])],
      exports: [UploadsService, UploadHooks, TypeOrmModule],
    };
  }
}
