// Always loaded: nothing here imports an OpenTelemetry SDK or Sentry (see start-telemetry.ts).
export * from './telemetry-env.js';
export * from './start-telemetry.js';
export * from './spans.js';
export * from './report-error.js';
export { queueTelemetry } from './state.js';
