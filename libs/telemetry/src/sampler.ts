import { trace, type Attributes, type Context, type Link, type SpanKind } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace-base';
import { samplerRatio } from './telemetry-env.js';

/**
 * OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG as the specification reads them (default
 * parentbased_always_on); values were validated at start (telemetry-env.ts).
 */
export function samplerFromEnv(env: Record<string, string | undefined> = process.env): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(samplerRatio(env) ?? 1);
  switch (env.OTEL_TRACES_SAMPLER?.trim() || 'parentbased_always_on') {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

// BullMQ traces its workers' polling and stalled-job checks as new traces: one every few seconds
// per queue in an idle worker, each with its Redis calls. Not user actions: never recorded.
const HOUSEKEEPING = /^(getNextJob|moveStalledJobsToWait|startStalledCheckTimer) /;

/** `inner`, except that BullMQ's housekeeping never starts a trace. */
export function housekeepingQuiet(inner: Sampler): Sampler {
  return {
    shouldSample(
      context: Context,
      traceId: string,
      name: string,
      kind: SpanKind,
      attributes: Attributes,
      links: Link[],
    ): SamplingResult {
      if (!trace.getSpanContext(context) && HOUSEKEEPING.test(name)) return { decision: SamplingDecision.NOT_RECORD };
      return inner.shouldSample(context, traceId, name, kind, attributes, links);
    },
    toString: () => `HousekeepingQuiet{${inner.toString()}}`,
  };
}
