import { describe, expect, it } from 'vitest';
import { samplerRatio, sentryWanted, telemetryEnvErrors, tracingWanted } from './telemetry-env.js';

describe('tracingWanted', () => {
  it('is off without an exporter, on with an OTLP endpoint or a named exporter', () => {
    expect(tracingWanted({})).toBe(false);
    expect(tracingWanted({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' })).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingWanted({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' })).toBe(false);
  });

  it('OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true win over an endpoint', () => {
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'TRUE' })).toBe(false);
  });
});

describe('telemetryEnvErrors', () => {
  const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };

  it('accepts the standard variables with valid values', () => {
    expect(
      telemetryEnvErrors({
        ...on,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.1',
        SENTRY_DSN: 'https://abc123@o1.ingest.sentry.io/4501',
      }),
    ).toEqual([]);
  });

  it('names each bad variable', () => {
    const problems = telemetryEnvErrors({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml',
      OTEL_TRACES_SAMPLER: 'sometimes',
      OTEL_TRACES_EXPORTER: 'otlp,jaeger',
    });
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTEL_TRACES_EXPORTER',
      'OTEL_TRACES_SAMPLER',
    ]);
    expect(problems[1]).toContain('(got "http/xml")');
  });

  it('a ratio sampler needs a ratio from 0 to 1', () => {
    const bad = { ...on, OTEL_TRACES_SAMPLER: 'traceidratio' };
    expect(telemetryEnvErrors({ ...bad, OTEL_TRACES_SAMPLER_ARG: '1.5' })).toHaveLength(1);
    expect(telemetryEnvErrors({ ...bad, OTEL_TRACES_SAMPLER_ARG: 'ten percent' })).toHaveLength(1);
    expect(samplerRatio({ OTEL_TRACES_SAMPLER_ARG: '0.25' })).toBe(0.25);
    expect(samplerRatio({})).toBe(1);
  });

  it('does not check OTEL_* while tracing is off (nothing reads them)', () => {
    expect(telemetryEnvErrors({ OTEL_TRACES_SAMPLER: 'sometimes' })).toEqual([]);
  });

  it('a SENTRY_DSN that is not one is refused without echoing it (it carries the key)', () => {
    expect(sentryWanted({ SENTRY_DSN: 'https://k@sentry.example/1' })).toBe(true);
    const [problem] = telemetryEnvErrors({ SENTRY_DSN: 'secret-looking-key' });
    expect(problem).toMatch(/^SENTRY_DSN: /);
    expect(problem).not.toContain('secret-looking-key');
  });
});
