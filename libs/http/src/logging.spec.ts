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

  it('also redacts the names clients give tokens, keys and passwords, however spelled (issue 26, 3.8)', () => {
    expect(loggableUrl('/api/uploads?access_token=eyJ.a.b&page=2')).toBe('/api/uploads?access_token=[redacted]&page=2');
    expect(loggableUrl('/api/uploads?page=2&jwt=eyJ.a.b#frag')).toBe('/api/uploads?page=2&jwt=[redacted]#frag');
    expect(loggableUrl('/x?Refresh_Token=r&id_token=i&refresh=f&password=p&api_key=k&apikey=k2')).toBe(
      '/x?Refresh_Token=[redacted]&id_token=[redacted]&refresh=[redacted]&password=[redacted]&api_key=[redacted]&apikey=[redacted]',
    );
    expect(loggableUrl('/x?access%5Ftoken=eyJ.a.b&%zz=kept')).toBe('/x?access%5Ftoken=[redacted]&%zz=kept');
    // Only whole names: similar-looking parameters are kept.
    expect(loggableUrl('/x?tokens=1&my_jwt=2&sig2=3&page=4')).toBe('/x?tokens=1&my_jwt=2&sig2=3&page=4');
  });

  it('bounds the length', () => {
    const logged = loggableUrl(`/api/uploads?x=${'a'.repeat(10_000)}`);
    expect(logged.length).toBe(2049);
    expect(logged.endsWith('…')).toBe(true);
  });
});
