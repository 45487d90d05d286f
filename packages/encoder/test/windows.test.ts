import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '@dotrank/core/testing';
import { TextTokenizer } from '../src/tokenizer.js';
import { splitIntoWindows, splitWords, type PassageWindow } from '../src/windows.js';

let tokenizer: TextTokenizer;
beforeAll(async () => {
  tokenizer = await TextTokenizer.fromFile(join(repoPath('models/tas-b'), 'tokenizer.json'));
});

/**
 * What every window of every text must satisfy: its text is the original's slice at its offsets, it fits without
 * truncation, it starts and ends on word boundaries, and its tokens are exactly the whole text's tokens of those
 * words (no word piece is cut from its word, no text lost or changed); together the windows cover every token.
 */
function checkWindows(text: string, windows: PassageWindow[], room: number): void {
  const whole = tokenizer.pieces(text);
  const words = splitWords(text);
  const wordTokens: number[] = [0];
  for (const w of words) wordTokens.push(wordTokens.at(-1)! + tokenizer.pieces(text.slice(w.start, w.end)).length);
  expect(wordTokens.at(-1)).toBe(whole.length); // words tokenized alone give the text's own tokens
  let covered = 0;
  for (const window of windows) {
    expect(window.text).toBe(text.slice(window.start, window.end));
    const pieces = tokenizer.pieces(window.text);
    expect(pieces.length).toBeLessThanOrEqual(room);
    const first = words.findIndex((w) => w.start === window.start);
    const last = words.findIndex((w) => w.end === window.end);
    expect(first, `window starts on a word: ${JSON.stringify(window)}`).toBeGreaterThanOrEqual(0);
    expect(last, `window ends on a word: ${JSON.stringify(window)}`).toBeGreaterThanOrEqual(first);
    expect(pieces).toEqual(whole.slice(wordTokens[first], wordTokens[last + 1]));
    expect(wordTokens[first]!, 'no gap between windows').toBeLessThanOrEqual(covered);
    covered = Math.max(covered, wordTokens[last + 1]!);
  }
  expect(covered).toBe(whole.length);
}

const words = (n: number, word = 'retrieval') => Array.from({ length: n }, () => word).join(' ');

describe('splitIntoWindows (real TAS-B tokenizer)', () => {
  it('keeps a text that fits as one window: the whole text, untouched (its cache key stays the same)', () => {
    const text = '  The effect of wing sweep on lift.  ';
    expect(splitIntoWindows(text, tokenizer, { windowTokens: 256, stride: 128 })).toEqual([
      { text, start: 0, end: text.length },
    ]);
  });

  it('splits exactly at the limit: room tokens is one window, one more is two', () => {
    const room = 16 - tokenizer.specialCount;
    expect(tokenizer.pieces(words(room)).length).toBe(room);
    expect(splitIntoWindows(words(room), tokenizer, { windowTokens: 16, stride: 7 })).toHaveLength(1);
    const longer = words(room + 1);
    const windows = splitIntoWindows(longer, tokenizer, { windowTokens: 16, stride: 7 });
    expect(windows.map((w) => tokenizer.pieces(w.text).length)).toEqual([room, room + 1 - 7]);
    checkWindows(longer, windows, room);
  });

  it('starts windows every `stride` tokens, at word boundaries', () => {
    const text = words(100, 'hypersonically'); // 3 pieces a word
    expect(tokenizer.pieces('hypersonically').length).toBeGreaterThan(1);
    const windows = splitIntoWindows(text, tokenizer, { windowTokens: 32, stride: 15 });
    checkWindows(text, windows, 30);
    const perWord = tokenizer.pieces('hypersonically').length;
    const starts = windows.map((w) => splitWords(text).findIndex((x) => x.start === w.start) * perWord);
    for (let i = 1; i < starts.length; i++) {
      expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(15);
      expect(starts[i]! - starts[i - 1]!).toBeLessThan(15 + perWord);
    }
  });

  it('handles punctuation, CJK ideographs, emoji, accents and control characters without splitting a code point', () => {
    const text = Array.from(
      { length: 30 },
      (_, i) => `Café-${i}, naïve! 日本語の文章😀👍🏽 e\u0301t\u0000e (x=y²)… «quoted» — end.`,
    ).join('\n');
    const windows = splitIntoWindows(text, tokenizer, { windowTokens: 64, stride: 20 });
    expect(windows.length).toBeGreaterThan(5);
    checkWindows(text, windows, 62);
    for (const w of windows) {
      for (const offset of [w.start, w.end]) {
        const unit = text.charCodeAt(offset - 1);
        expect(unit >= 0xd800 && unit <= 0xdbff, `offset ${offset} splits a surrogate pair`).toBe(false);
      }
    }
  });

  it('makes a word longer than a window a window of its own', () => {
    const long = 'x'.repeat(90) + 'ab'.repeat(5); // 100 characters: many word pieces
    const text = `start ${long} end`;
    const room = 8 - tokenizer.specialCount;
    expect(tokenizer.pieces(long).length).toBeGreaterThan(room);
    const windows = splitIntoWindows(text, tokenizer, { windowTokens: 8, stride: 3 });
    expect(windows.map((w) => w.text)).toContain(long);
    expect(windows.at(-1)!.text.endsWith('end')).toBe(true);
  });

  it('refuses settings that cannot work, naming them', () => {
    expect(() => splitIntoWindows('a b', tokenizer, { windowTokens: 2, stride: 1 })).toThrow(
      /DOTRANK_PASSAGE_WINDOW_TOKENS/,
    );
    expect(() => splitIntoWindows('a b', tokenizer, { windowTokens: 16, stride: 15 })).toThrow(
      /DOTRANK_PASSAGE_WINDOW_STRIDE.*between 1 and 14/,
    );
  });
});
