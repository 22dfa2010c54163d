import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * This process's recent event-loop delay (p90 over the last second, ms). A cache command's
 * deadline is measured on the event loop, so when the process itself is backed up the wait is
 * ours, not Redis's: CacheService adds this to its timeout.
 */
export class LoopLag {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly timer: NodeJS.Timeout;
  private current = 0;

  constructor() {
    this.histogram.enable();
    this.timer = setInterval(() => {
      this.current = this.histogram.count ? this.histogram.percentile(90) / 1e6 : 0;
      this.histogram.reset();
    }, 1000);
    this.timer.unref();
  }

  get ms(): number {
    return this.current;
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}
