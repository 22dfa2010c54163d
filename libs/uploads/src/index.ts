export * from './upload.entity.js';
export * from './upload.response.js';
export * from './upload-hooks.js';
export * from './uploads.module.js';
export * from './uploads.service.js';
export * from './intake/image-type.js';
export { readImageHeader } from './intake/image-header.js';
export { passTusBodiesThrough } from './tus/tus-body.js';
export * from './media/media-urls.js';
