export * from './analyzer/index.js';
export * from './visual-analysis.entity.js';
export * from './visual-analysis.module.js';
export * from './visual-analysis.service.js';
export * from './analysis.response.js';
export { AnalysisRunner } from './analysis-runner.js';
export { AnalysisDispatcher } from './queue/analysis-dispatcher.js';
