// The analyzer itself (sharp) is imported from './analyzer/index.js' only where images are decoded.
export { ANALYZER_VERSION } from './analyzer/version.js';
export { UnrecoverableImageError } from './analyzer/errors.js';
export type { AnalysisResult } from './analyzer/analyze-image.js';
export * from './visual-analysis.entity.js';
export * from './visual-analysis.module.js';
export * from './visual-analysis.service.js';
export * from './analysis.response.js';
export { AnalysisRunner } from './analysis-runner.js';
export { AnalysisDispatcher } from './queue/analysis-dispatcher.js';
