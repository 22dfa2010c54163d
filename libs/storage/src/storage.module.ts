import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '@echo/config';
import { LocalStorageDriver } from './local-storage.driver.js';
import { STORAGE, type StorageDriver } from './storage.driver.js';

/** Builds the driver named by `config.storage.driver` (the local root is created here). */
export async function createStorageDriver(config: AppConfig): Promise<StorageDriver> {
  const { driver, dir, s3 } = config.storage;
  if (driver === 's3') {
    if (!s3.bucket) throw new Error('STORAGE_DRIVER=s3 needs S3_BUCKET');
    // Loaded only when used: the AWS SDK costs ~12 MB per process.
    const { S3StorageDriver } = await import('./s3-storage.driver.js');
    return new S3StorageDriver({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: s3.forcePathStyle,
    });
  }
  return new LocalStorageDriver(dir).init();
}

/** Provides `STORAGE` (a StorageDriver) to the whole application. */
@Global()
@Module({})
export class StorageModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: StorageModule,
      global: true,
      providers: [{ provide: STORAGE, useFactory: () => createStorageDriver(config) }],
      exports: [STORAGE],
    };
  }
}
