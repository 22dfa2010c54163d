/** A stored word's longest form (the column's length); longer words are cut, in the query alike. */
export const MAX_WORD_LENGTH = 64;

/** Runs of letters, marks and digits: everything else (spaces, `_`, `.`, `-`, `%`) separates words. */
const WORD_RUN = /[\p{L}\p{M}\p{N}]+/gu;
/** Scripts written without spaces between words: ICU's dictionary segmentation finds their words. */
const UNSPACED = /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Thai}\p{sc=Lao}\p{sc=Khmer}\p{sc=Myanmar}]/u;
const segmenter = new Intl.Segmenter('und', { granularity: 'word' });

/**
 * The searchable words of a title or file name, as the word index stores them and a query looks
 * them up: NFKC, lower-cased, split at anything that is not a letter or digit (`IMG_0001.jpg` →
 * img, 0001, jpg), unspaced scripts split by ICU (海滩日落 → 海滩, 日落); distinct, in order.
 */
export function searchWords(...texts: string[]): string[] {
  const words = new Set<string>();
  for (const text of texts) {
    for (const run of text.normalize('NFKC').toLowerCase().match(WORD_RUN) ?? []) {
      if (!UNSPACED.test(run)) words.add(cut(run));
      else for (const s of segmenter.segment(run)) if (s.isWordLike) words.add(cut(s.segment));
    }
  }
  return [...words];
}

/** At most MAX_WORD_LENGTH code points (never half a surrogate pair). */
function cut(word: string): string {
  return word.length <= MAX_WORD_LENGTH ? word : [...word].slice(0, MAX_WORD_LENGTH).join('');
}
