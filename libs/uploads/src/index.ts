export * from './upload.entity.js';
export * from './upload.response.js';
export * from './upload-hooks.js';
export * from './uploads.module.js';
export * from './uploads.service.js';
export * from './intake/image-type.js';
export * from './media/media-urls.js';
