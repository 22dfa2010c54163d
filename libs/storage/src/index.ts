export * from './storage.driver.js';
export * from './local-storage.driver.js';
export * from './s3-storage.driver.js';
export * from './storage.module.js';
