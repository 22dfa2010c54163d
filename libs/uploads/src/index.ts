export * from './upload.entity.js';
export * from './upload.response.js';
export * from './upload-hooks.js';
export * from './uploads.module.js';
export * from './uploads.service.js';
export * from './intake/image-type.js';
export { readImageHeader } from './intake/image-header.js';
export { ORPHAN_SWEEP_EVERY_MS } from './orphan-sweeper.js';
