import { describe, expect, it } from 'vitest';
import type { AnalysisResult } from '../analyzer/analyze-image.js';
import { searchAttributes, takenAtOf } from './search-attributes.js';

describe('takenAtOf', () => {
  it.each([
    ['2024-07-14T10:00:00', '2024-07-14T10:00:00.000Z'],
    ['2023-01-05T18:30:00+01:00', '2023-01-05T17:30:00.000Z'],
    ['2023-01-05T18:30:00-05:30', '2023-01-06T00:00:00.000Z'],
  ])('%s → %s (no offset: the wall clock read as UTC)', (value, expected) => {
    expect(takenAtOf(value)?.toISOString()).toBe(expected);
  });

  it.each([undefined, '', 'garbage', '0000-00-00T00:00:00', '1700-01-01T00:00:00'])('%j → null', (value) => {
    expect(takenAtOf(value)).toBeNull();
  });
});

describe('searchAttributes', () => {
  const result = {
    format: 'heic',
    width: 4032,
    height: 3024,
    orientation: 6,
    oriented_width: 3024,
    oriented_height: 4032,
    exif: { make: '  Apple ', model: 'iPhone 15 Pro', taken_at: '2024-07-14T10:00:00' },
    dominant_color: '#336699',
    sharpness: 87.5,
    phash: 'ffee000011223344',
  } as unknown as AnalysisResult;
  const uploadedAt = new Date('2026-01-01T00:00:00Z');

  it('takes the displayed size, lower-cased camera, taken-at, and the dominant colour in CIELAB', () => {
    const attributes = searchAttributes(result, uploadedAt);
    expect(attributes).toMatchObject({
      takenAt: new Date('2024-07-14T10:00:00Z'),
      cameraMake: 'apple',
      cameraModel: 'iphone 15 pro',
      hasGps: false,
      orientation: 'portrait',
      format: 'heic',
      sharpness: 87.5,
      phash: 'ffee000011223344',
      width: 3024,
      height: 4032,
    });
    expect(attributes.colorL).toBeCloseTo(42.0, 0);
  });

  it('without EXIF: the upload time, no camera', () => {
    const attributes = searchAttributes({ ...result, exif: {} }, uploadedAt);
    expect(attributes).toMatchObject({ takenAt: uploadedAt, cameraMake: null, cameraModel: null, hasGps: false });
  });
});
