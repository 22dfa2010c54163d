import { startTelemetry } from '@echo/telemetry';

// First, before the app or a driver is imported: tracing (when configured) instruments modules as
// they load. Hence the dynamic import: run-worker.ts and all it imports load after this.
await startTelemetry('echo-worker');
await import('./run-worker.js');
