import { ValidationError } from '@dotrank/core';
import type { TextTokenizer } from './tokenizer.js';

/**
 * Passage windows for long documents: a text longer than the model's passage length is split into overlapping
 * windows of whole words, each short enough to be encoded without truncation, each mapped back to its place in the
 * original text. Offsets count UTF-16 code units (`String.prototype.slice`), as JavaScript and Elasticsearch do.
 *
 * The tokenizer (`@huggingface/tokenizers`) gives ids but no offsets, so the text is first cut into words by the
 * rules of BERT's pre-tokenizer (whitespace separates words; every punctuation mark and every CJK ideograph is a word
 * of its own), each word is tokenized alone (WordPiece never looks past a word, so a word has the same pieces alone
 * as in context), and windows are made of whole words: a word piece is never split from its word. Each window is then
 * tokenized once more and trimmed if it does not fit after all (a tokenizer whose normalizer joins words would
 * otherwise overflow), so a window never loses text to truncation.
 */
export interface PassageWindow {
  /** The window's text: `original.slice(start, end)`. */
  text: string;
  /** Start offset in the original text, UTF-16 code units. */
  start: number;
  /** End offset (exclusive) in the original text, UTF-16 code units. */
  end: number;
}

export interface WindowOptions {
  /** Tokens per window, special tokens included (default: the model's passage length). */
  windowTokens: number;
  /** Tokens from one window's start to the next one's (default: half of windowTokens). */
  stride: number;
}

interface Word {
  start: number;
  end: number;
  tokens: number;
}

// BERT's _is_punctuation: ASCII symbols count as punctuation, plus every Unicode P* character.
const PUNCTUATION = /^[\p{P}!-/:-@[-`{-~]$/u;
const WHITESPACE = /^\s$/u;

/** BERT's _is_chinese_char: the CJK Unified Ideographs blocks (not Hangul, Hiragana or Katakana). */
function isCjkIdeograph(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** The text's words with their UTF-16 offsets (code points are never split: surrogate pairs stay whole). */
export function splitWords(text: string): Array<{ start: number; end: number }> {
  const words: Array<{ start: number; end: number }> = [];
  let wordStart = -1;
  let offset = 0;
  for (const char of text) {
    const cp = char.codePointAt(0)!;
    const next = offset + char.length;
    if (WHITESPACE.test(char)) {
      if (wordStart >= 0) words.push({ start: wordStart, end: offset });
      wordStart = -1;
    } else if (PUNCTUATION.test(char) || isCjkIdeograph(cp)) {
      if (wordStart >= 0) words.push({ start: wordStart, end: offset });
      words.push({ start: offset, end: next });
      wordStart = -1;
    } else if (wordStart < 0) {
      wordStart = offset;
    }
    offset = next;
  }
  if (wordStart >= 0) words.push({ start: wordStart, end: offset });
  return words;
}

/** Checks window options against a tokenizer; the error names the setting. */
export function validateWindowOptions(options: WindowOptions, specialCount: number): void {
  const { windowTokens, stride } = options;
  if (!Number.isInteger(windowTokens) || windowTokens <= specialCount)
    throw new ValidationError(
      'DOTRANK_PASSAGE_WINDOW_TOKENS',
      `must be an integer above ${specialCount} (the special tokens); got ${windowTokens}`,
    );
  const room = windowTokens - specialCount;
  if (!Number.isInteger(stride) || stride < 1 || stride > room)
    throw new ValidationError(
      'DOTRANK_PASSAGE_WINDOW_STRIDE',
      `must be an integer between 1 and ${room} (the window's tokens less the special tokens); got ${stride}`,
    );
}

/**
 * The windows of one text. A text that fits in one window is one window: the whole text, untouched (so its cache key
 * is the text's own, as without windows). Otherwise windows start every `stride` tokens (at the next word boundary),
 * each holding as many whole words as fit; the last one ends with the text. A single word longer than a window (rare:
 * WordPiece makes one [UNK] of a word over 100 characters) is a window of its own, truncated when encoded.
 */
export function splitIntoWindows(text: string, tokenizer: TextTokenizer, options: WindowOptions): PassageWindow[] {
  validateWindowOptions(options, tokenizer.specialCount);
  const room = options.windowTokens - tokenizer.specialCount;
  const whole = [{ text, start: 0, end: text.length }];
  const counts = new Map<string, number>();
  const words: Word[] = splitWords(text).map(({ start, end }) => {
    const word = text.slice(start, end);
    let tokens = counts.get(word);
    if (tokens === undefined) {
      tokens = tokenizer.pieces(word).length;
      counts.set(word, tokens);
    }
    return { start, end, tokens };
  });
  const tokenStart: number[] = new Array<number>(words.length + 1);
  tokenStart[0] = 0;
  for (let i = 0; i < words.length; i++) tokenStart[i + 1] = tokenStart[i]! + words[i]!.tokens;
  if (tokenStart[words.length]! <= room && tokenizer.pieces(text).length <= room) return whole;

  const windows: PassageWindow[] = [];
  let first = 0;
  while (first < words.length) {
    let last = first + 1; // exclusive; a window holds at least one word
    while (last < words.length && tokenStart[last + 1]! - tokenStart[first]! <= room) last++;
    last = fitting(text, words, first, last, room, tokenizer);
    const start = words[first]!.start;
    const end = words[last - 1]!.end;
    windows.push({ text: text.slice(start, end), start, end });
    if (last >= words.length) break;
    let next = first + 1;
    while (next < last && tokenStart[next]! < tokenStart[first]! + options.stride) next++;
    first = next;
  }
  return windows;
}

/** Drops words from the window's end until its own tokenization fits (it nearly always does at once). */
function fitting(text: string, words: Word[], first: number, last: number, room: number, tokenizer: TextTokenizer) {
  let end = last;
  while (end > first + 1 && tokenizer.pieces(text.slice(words[first]!.start, words[end - 1]!.end)).length > room) end--;
  return end;
}
