import { ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { housekeepingQuiet, samplerFromEnv } from './sampler.js';

const TRACE = 'a'.repeat(32);
const decide = (env: Record<string, string>, name = 'GET /api/uploads', ctx = ROOT_CONTEXT, traceId = TRACE) =>
  housekeepingQuiet(samplerFromEnv(env)).shouldSample(ctx, traceId, name, SpanKind.SERVER, {}, []).decision;

describe('samplerFromEnv + housekeepingQuiet', () => {
  it('samples every root by default and none with always_off', () => {
    expect(decide({})).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide({ OTEL_TRACES_SAMPLER: 'always_off' })).toBe(SamplingDecision.NOT_RECORD);
  });

  it('a ratio samples about that share of trace ids, and follows a sampled parent', () => {
    const env = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' };
    let sampled = 0;
    for (let i = 0; i < 2000; i++) {
      const id = (i * 2654435761).toString(16).padStart(32, '0').slice(-32);
      if (decide(env, 'GET /', ROOT_CONTEXT, id) === SamplingDecision.RECORD_AND_SAMPLED) sampled++;
    }
    expect(sampled).toBeGreaterThan(100);
    expect(sampled).toBeLessThan(300);
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0'.repeat(31) + 'f',
      spanId: 'b'.repeat(16),
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    expect(decide(env, 'process visual-analysis', parent, 'f'.repeat(32))).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });

  it("BullMQ's polling never starts a trace; the same names under a parent follow it", () => {
    expect(decide({}, 'getNextJob visual-analysis')).toBe(SamplingDecision.NOT_RECORD);
    expect(decide({}, 'moveStalledJobsToWait maintenance')).toBe(SamplingDecision.NOT_RECORD);
    expect(decide({}, 'process visual-analysis')).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: TRACE,
      spanId: 'b'.repeat(16),
      traceFlags: TraceFlags.SAMPLED,
    });
    expect(decide({}, 'getNextJob visual-analysis', parent)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });
});
