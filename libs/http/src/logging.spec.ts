import { describe, expect, it } from 'vitest';
import { loggableUrl } from './logging.js';

describe('loggableUrl', () => {
  it('replaces the values of credential query parameters and keeps the rest', () => {
    expect(loggableUrl('/api/media/uploads/abc/file?exp=1764202500&sig=Xq1-_abc')).toBe(
      '/api/media/uploads/abc/file?exp=1764202500&sig=[redacted]',
    );
    expect(loggableUrl('/api/visual-analysis/events?ticket=t0k3n&last_event_id=1-0')).toBe(
      '/api/visual-analysis/events?ticket=[redacted]&last_event_id=1-0',
    );
    expect(loggableUrl('/admin/queues/login?TOKEN=eyJhbGciOi.x.y')).toBe('/admin/queues/login?TOKEN=[redacted]');
    expect(loggableUrl('/api/uploads?page_size=20&signature=kept')).toBe('/api/uploads?page_size=20&signature=kept');
  });

  it('bounds the length', () => {
    const logged = loggableUrl(`/api/uploads?x=${'a'.repeat(10_000)}`);
    expect(logged.length).toBe(2049);
    expect(logged.endsWith('…')).toBe(true);
  });
});
