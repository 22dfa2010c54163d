import { describe, expect, it } from 'vitest';
import { parseBool } from './to-bool.js';

describe('parseBool', () => {
  it.each(['true', 'TRUE', '1', 'yes', ' Yes '])('%j is true', (v) => expect(parseBool(v)).toBe(true));
  it.each(['false', 'False', '0', 'no', 'NO'])('%j is false', (v) => expect(parseBool(v)).toBe(false));
  it('keeps booleans, and returns anything else unchanged for the validator to reject', () => {
    expect(parseBool(true)).toBe(true);
    expect(parseBool(false)).toBe(false);
    expect(parseBool('1 OR 1=1')).toBe('1 OR 1=1');
    expect(parseBool('')).toBe('');
    expect(parseBool(2)).toBe(2);
  });
});
