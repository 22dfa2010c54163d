import { describe, expect, it } from 'vitest';
import { prettyTransport } from './log-format.js';

describe('prettyTransport', () => {
  const dev = { env: 'development' as const };

  it('gives a developer at a terminal pino-pretty, loaded by path in its worker thread', () => {
    const transport = prettyTransport(dev, {}, true);
    expect(transport?.target).toMatch(/node_modules\/pino-pretty\/index\.js$/);
    expect(transport?.options).toMatchObject({ colorize: true, singleLine: true });
  });

  it('keeps JSON in production and tests, in CI, and when stdout is a pipe or a file', () => {
    expect(prettyTransport({ env: 'production' }, {}, true)).toBeUndefined();
    expect(prettyTransport({ env: 'test' }, {}, true)).toBeUndefined();
    expect(prettyTransport(dev, { CI: '1' }, true)).toBeUndefined();
    expect(prettyTransport(dev, { CI: 'true' }, true)).toBeUndefined();
    expect(prettyTransport(dev, {}, false)).toBeUndefined();
    // CI=false or empty is not CI.
    expect(prettyTransport(dev, { CI: 'false' }, true)).toBeDefined();
    expect(prettyTransport(dev, { CI: '' }, true)).toBeDefined();
  });

  it('keeps JSON rather than failing when pino-pretty is not installed (a pruned production image)', () => {
    const missing = () => {
      throw Object.assign(new Error("Cannot find module 'pino-pretty'"), { code: 'MODULE_NOT_FOUND' });
    };
    expect(prettyTransport(dev, {}, true, missing)).toBeUndefined();
  });
});
