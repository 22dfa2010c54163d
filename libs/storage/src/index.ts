export * from './storage.driver.js';
export * from './local-storage.driver.js';
// The S3 driver is imported from './s3-storage.driver.js' directly (it loads the AWS SDK).
export * from './storage.module.js';
