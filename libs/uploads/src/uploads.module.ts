import { Module, type DynamicModule } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Upload } from './upload.entity.js';
import { UploadWord } from './search/upload-word.entity.js';
import { UploadsService } from './uploads.service.js';
import { UploadIntake } from './intake/upload-intake.service.js';
import { UploadsRepository } from './uploads.repository.js';
import { UploadEvents } from './contracts/upload-events.js';
import { UploadListings } from './contracts/upload-listings.js';
import { UploadsController } from './uploads.controller.js';
import { AdminUploadsController } from './admin-uploads.controller.js';
import { OrphanSweeper } from './orphan-sweeper.js';
import { TusController } from './tus/tus.controller.js';
import { TusUploads } from './tus/tus-uploads.service.js';
import { TusStaging } from './tus/tus-staging.js';
import { createTusSlots, TusSlots } from './tus/tus-slots.js';
import { MediaUrls } from './media/media-urls.js';
import { MediaController } from './media/media.controller.js';
import { SimilarController } from './similar/similar.controller.js';
import { AdminSimilarController } from './similar/admin-similar.controller.js';
import { SimilarRepository } from './similar/similar.repository.js';
import { SimilarUploads } from './similar/similar.service.js';
import { DuplicateGroups } from './similar/duplicate-groups.service.js';
import { UploadBodies } from './similar/upload-bodies.js';
import { NearDuplicates } from './similar/near-duplicates.js';

/**
 * Image intake (multipart and tus), storage and listings. `http` mounts the routes (API); `sweep`
 * runs the orphan sweeper, which also expires tus uploads (the worker's maintenance job in
 * production, the API in embedded mode). Other modules join an upload's life through contracts/:
 * UploadEvents (in its transaction), UploadListings (its cached listings) and an optional
 * ANALYSIS_SUMMARY_READER provider (the `analysis` field of upload objects).
 */
@Module({})
export class UploadsModule {
  static register(options: { http: boolean; sweep: boolean }): DynamicModule {
    return {
      module: UploadsModule,
      global: true,
      imports: [TypeOrmModule.forFeature([Upload, UploadWord]), ...(options.sweep ? [ScheduleModule.forRoot()] : [])],
      // TusController before UploadsController: its static `tus` segment must not meet `:id` routes first.
      // SimilarController after UploadsController on purpose: its static `duplicates` still wins over `:id` (Fastify's router).
      controllers: options.http
        ? [
            TusController,
            UploadsController,
            SimilarController,
            AdminUploadsController,
            AdminSimilarController,
            MediaController,
          ]
        : [],
      providers: [
        UploadsService,
        UploadIntake,
        UploadsRepository,
        UploadEvents,
        UploadListings,
        MediaUrls,
        SimilarRepository,
        NearDuplicates,
        { provide: TusSlots, inject: [APP_CONFIG], useFactory: createTusSlots },
        {
          provide: TusStaging,
          inject: [APP_CONFIG, TusSlots],
          useFactory: (config: AppConfig, slots: TusSlots) =>
            new TusStaging(config.uploads.tus.dir, config.uploads.tus.expiryMs, (id) => slots.release(id)),
        },
        ...(options.http ? [TusUploads, SimilarUploads, DuplicateGroups, UploadBodies] : []),
        ...(options.sweep ? [OrphanSweeper] : []),
      ],
      exports: [
        UploadsService,
        UploadsRepository,
        UploadEvents,
        UploadListings,
        MediaUrls,
        NearDuplicates,
        TypeOrmModule,
      ],
    };
  }
}
