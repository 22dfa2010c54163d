import { NotFoundException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PAGE_SIZE,
  encodeCursor,
  MAX_PAGE_SIZE,
  parsePageRequest,
  type CursorPosition,
} from './page-request.js';

const cursorOf = (raw: unknown) => Buffer.from(JSON.stringify(raw)).toString('base64url');

describe('cursor encode/decode', () => {
  it('round-trips numeric and string ids in both directions', () => {
    const positions: CursorPosition[] = [
      { createdAt: new Date('2026-01-02T03:04:05.678Z'), id: 42, direction: 'n' },
      { createdAt: new Date('2026-01-02T03:04:05.678Z'), id: '0b9d7f3e-uuid', direction: 'p' },
      // A string id that looks like a number stays a string.
      { createdAt: new Date(0), id: '17', direction: 'n' },
      // A position in another ordering keeps its ordering's tag.
      { createdAt: new Date('2021-06-01T12:00:00Z'), id: 'abc', direction: 'n', order: '-taken_at' },
    ];
    for (const position of positions) {
      expect(parsePageRequest({ cursor: encodeCursor(position) })).toEqual({
        mode: 'cursor',
        size: DEFAULT_PAGE_SIZE,
        position,
      });
    }
  });

  it('is opaque base64url', () => {
    expect(encodeCursor({ createdAt: new Date(0), id: 1, direction: 'n' })).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('an empty cursor is the first page', () => {
    expect(parsePageRequest({ cursor: '' })).toEqual({ mode: 'cursor', size: DEFAULT_PAGE_SIZE, position: null });
  });

  it.each([
    ['not base64 JSON', '!!!'],
    ['a wrong direction', cursorOf([0, 1, 'x'])],
    ['a time that is no Date', cursorOf([1e300, 1, 'n'])],
    ['an unsafe integer id', cursorOf([0, 2 ** 60, 'n'])],
    ['an unprefixed string id', cursorOf([0, 'abc', 'n'])],
    ['an over-long id', cursorOf([0, 's' + 'x'.repeat(65), 'n'])],
    ['not an array', cursorOf({ a: 1 })],
    ['an ordering tag that is no name', cursorOf([0, 1, 'n', 'x; DROP'])],
    ['an ordering tag that is not a string', cursorOf([0, 1, 'n', 7])],
    ['extra elements', cursorOf([0, 1, 'n', 'taken_at', 1])],
  ])('refuses %s with 404 Invalid cursor.', (_, raw) => {
    expect(() => parsePageRequest({ cursor: raw })).toThrow(new NotFoundException('Invalid cursor.'));
  });
});

describe('parsePageRequest (DRF PageNumberPagination)', () => {
  it('clamps page_size and falls back to the default for a bad one', () => {
    expect(parsePageRequest({ page_size: '500' })).toEqual({ mode: 'page', page: 1, size: MAX_PAGE_SIZE });
    expect(parsePageRequest({ page_size: 'abc' })).toMatchObject({ size: DEFAULT_PAGE_SIZE });
    expect(parsePageRequest({ page_size: '0' })).toMatchObject({ size: DEFAULT_PAGE_SIZE });
  });

  it('reads page, the first of repeated values, "last" and an empty page', () => {
    expect(parsePageRequest({ page: '3', page_size: '10' })).toEqual({ mode: 'page', page: 3, size: 10 });
    expect(parsePageRequest({ page: ['2', '9'] })).toMatchObject({ page: 2 });
    expect(parsePageRequest({ page: 'last' })).toMatchObject({ page: -1 });
    expect(parsePageRequest({ page: '' })).toMatchObject({ page: 1 });
  });

  it.each(['0', '-1', 'abc', '1.5', '99999999999999999999'])('page=%s is 404 Invalid page.', (page) => {
    expect(() => parsePageRequest({ page })).toThrow(new NotFoundException('Invalid page.'));
  });
});
