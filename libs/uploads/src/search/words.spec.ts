import { describe, expect, it } from 'vitest';
import { MAX_WORD_LENGTH, searchWords } from './words.js';

describe('searchWords', () => {
  it('splits file names and titles at anything but letters and digits, lower-cased, distinct', () => {
    expect(searchWords('Summer day', 'IMG_0001.JPG')).toEqual(['summer', 'day', 'img', '0001', 'jpg']);
    expect(searchWords('beach-2024 beach', 'Beach.jpeg')).toEqual(['beach', '2024', 'jpeg']);
    expect(searchWords('100%_ done')).toEqual(['100', 'done']);
  });

  it('folds compatibility forms and keeps accents and marks inside words', () => {
    expect(searchWords('ＡＢＣ Café naïve')).toEqual(['abc', 'café', 'naïve']);
  });

  it('segments scripts written without spaces with ICU, the query alike', () => {
    const stored = searchWords('東京タワーの夜景');
    expect(stored).toEqual(expect.arrayContaining(['東京タワー', '夜景']));
    for (const word of searchWords('夜景')) expect(stored).toContain(word);
  });

  it('has no words in punctuation alone', () => {
    expect(searchWords('%', '_', ' .- ')).toEqual([]);
  });

  it('cuts long words to the stored length on code points', () => {
    // Emoji are not letters: they separate, and the run after them is cut.
    expect(searchWords('😀'.repeat(10) + 'a'.repeat(100))).toEqual(['a'.repeat(MAX_WORD_LENGTH)]);
    const [long] = searchWords('é'.repeat(100));
    expect([...long].length).toBe(MAX_WORD_LENGTH);
  });
});
