import { describe, expect, it } from 'vitest';
import { parseAnnouncement } from './redis-event-bus.js';

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('parseAnnouncement', () => {
  it('reads analysis and typed events, with or without the publishing trace', () => {
    expect(parseAnnouncement('1-0 {"a":1}')).toEqual({ id: '1-0', data: '{"a":1}' });
    expect(parseAnnouncement('1-1 export {"b":2}')).toEqual({ id: '1-1', data: '{"b":2}', type: 'export' });
    expect(parseAnnouncement(`1-2 ~${TP} {"a":1}`)).toEqual({ id: '1-2', data: '{"a":1}', trace: TP });
    expect(parseAnnouncement(`1-3 ~${TP} export {"b":2}`)).toEqual({
      id: '1-3',
      data: '{"b":2}',
      type: 'export',
      trace: TP,
    });
  });
});
