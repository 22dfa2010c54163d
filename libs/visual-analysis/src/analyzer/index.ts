export {
  ANALYZER_VERSION,
  ANALYSIS_WORKING_SIZE,
  THUMBNAIL_SIZE,
  THUMBNAIL_QUALITY,
  SHARPNESS_WORKING_SIZE,
  PLACEHOLDER_SIZE,
  UnrecoverableImageError,
  analyzeImage,
  type AnalysisResult,
  type AnalyzeImageOptions,
  type UnrecoverableImageReason,
} from './analyze-image.js';
export { hammingDistance, NEAR_DUPLICATE_MAX_DISTANCE } from './metrics.js';
export { parseExif, type ExifSummary } from './exif.js';
