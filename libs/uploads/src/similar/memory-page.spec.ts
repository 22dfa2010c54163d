import { NotFoundException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { FieldErrorsException } from '@echo/http';
import { memoryPage } from './memory-page.js';

describe('memoryPage', () => {
  const list = [1, 2, 3, 4, 5];

  it('slices pages, the last one short, and page=last', () => {
    expect(memoryPage(list, { mode: 'page', page: 1, size: 2 })).toEqual({ items: [1, 2], count: 5 });
    expect(memoryPage(list, { mode: 'page', page: 3, size: 2 })).toEqual({ items: [5], count: 5 });
    expect(memoryPage(list, { mode: 'page', page: -1, size: 2 })).toEqual({ items: [5], count: 5 });
  });

  it('an empty list is an empty first page; past the end is 404 Invalid page.', () => {
    expect(memoryPage([], { mode: 'page', page: 1, size: 2 })).toEqual({ items: [], count: 0 });
    expect(memoryPage([], { mode: 'page', page: -1, size: 2 })).toEqual({ items: [], count: 0 });
    expect(() => memoryPage([], { mode: 'page', page: 2, size: 2 })).toThrow(new NotFoundException('Invalid page.'));
    expect(() => memoryPage(list, { mode: 'page', page: 4, size: 2 })).toThrow(NotFoundException);
  });

  it('refuses cursor mode with a 400 naming cursor', () => {
    try {
      memoryPage(list, { mode: 'cursor', size: 2, position: null });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(FieldErrorsException);
      expect(Object.keys((err as FieldErrorsException).fields)).toEqual(['cursor']);
    }
  });
});
