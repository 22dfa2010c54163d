import { describe, expect, it } from 'vitest';
import { redisStatement } from './redis-statement.js';

describe('redisStatement', () => {
  it('keeps the command and key, never the value', () => {
    expect(redisStatement('set', ['echo::user:1', '{"email":"a@b.c"}', 'PX', 5000])).toBe(
      'SET echo::user:1 [3 other arguments]',
    );
    expect(redisStatement('get', [Buffer.from('echo::page:1')])).toBe('GET echo::page:1');
  });

  it('a script call shows its keys, not its source or arguments', () => {
    const script = "local id = redis.call('XADD', KEYS[1], ...)";
    expect(redisStatement('eval', [script, 1, 'echo:events:7', 1000, '{"status":"completed"}', 60000, ''])).toBe(
      'EVAL echo:events:7 [4 arguments]',
    );
    expect(redisStatement('evalsha', ['d3adb33f', 2, 'bull:q:wait', 'bull:q:meta', 'job data'])).toBe(
      'EVALSHA bull:q:wait bull:q:meta [1 arguments]',
    );
  });

  it('AUTH and HELLO never show their arguments (the password)', () => {
    expect(redisStatement('auth', ['default', 'hunter2'])).toBe('AUTH');
    expect(redisStatement('HELLO', [3, 'AUTH', 'default', 'hunter2'])).toBe('HELLO');
  });

  it('a key built from a URL loses the credentials in its query', () => {
    expect(redisStatement('get', ['cache:/api/media/x?exp=1&sig=abc'])).toBe(
      'GET cache:/api/media/x?exp=1&sig=[redacted]',
    );
  });
});
