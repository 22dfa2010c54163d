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
export { AnalysisEventBus } from './events/event-bus.js';
export {
  toAnalysisEventData,
  type AnalysisEventData,
  type EventType,
  type StoredEvent,
} from './events/analysis-event.js';
export { MAX_PENDING_EVENT_CHARS } from './events/analysis-events.controller.js';
export { SearchBackfill } from './search/search-backfill.js';
export { analysisResultKey } from './analysis-result-key.js';
export { analysisListGroup } from './analysis-lists.js';
