import { stopTelemetry } from '@echo/telemetry';

/**
 * Graceful stop for an app process (the API's serve() and the worker): on the first SIGTERM or
 * SIGINT, close the app (in-flight requests or jobs finish, pools and Redis close), send the last
 * spans and error reports (at most 3 s), then exit 0, or 1 if closing failed. Later signals are
 * ignored: in a cluster, Ctrl-C reaches the worker and the primary forwards SIGTERM too. Takes the app's promise so it can be installed before the app boots
 * (the worker's BullMQ consumers take jobs during init).
 */
export function drainOnSignals(app: Promise<{ close(): Promise<unknown> }>): void {
  let closing = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) return;
      closing = true;
      app
        .then((a) => a.close())
        .then(
          () => stopTelemetry().then(() => process.exit(0)),
          (err: Error) => {
            console.error(`shutdown failed: ${err.message}`);
            return stopTelemetry().then(() => process.exit(1));
          },
        );
    });
  }
}
