export * from './app-config.js';
export * from './config.module.js';
export * from './api-workers.js';
export * from './to-bool.js';
