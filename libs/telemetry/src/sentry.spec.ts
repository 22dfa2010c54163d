import { describe, expect, it } from 'vitest';
import { scrub } from './sentry.js';

describe('scrub (Sentry beforeSend)', () => {
  it('drops credentials, cookies and bodies; redacts secrets in the URL and query', () => {
    const event = scrub({
      type: undefined,
      request: {
        url: 'http://api/api/media/uploads/x/file?exp=1&sig=s1gnature',
        query_string: 'exp=1&sig=s1gnature',
        headers: { Authorization: 'Bearer eyJ.a.b', cookie: 'refresh=r', 'user-agent': 'curl' },
        cookies: { refresh: 'r' },
        data: '{"password":"hunter2"}',
      },
    });
    expect(event.request).toEqual({
      url: 'http://api/api/media/uploads/x/file?exp=1&sig=[redacted]',
      query_string: 'exp=1&sig=[redacted]',
      headers: { 'user-agent': 'curl' },
    });
    expect(JSON.stringify(event)).not.toMatch(/s1gnature|eyJ|hunter2/);
  });

  it('an event without a request passes unchanged', () => {
    const event = { type: undefined, message: 'boom' } as const;
    expect(scrub(event)).toBe(event);
  });
});
