import { describe, expect, it } from 'vitest';
import { analyze, analyzeWithSegmenter } from '../src/analyzer.js';
import { luceneOrSkipReason, runLucene } from './lucene.js';
import { seededRandom } from '@dotrank/core/testing';

/** Random strings over the ASCII characters that matter to UAX#29 (letters, digits, mid punctuation, _). */
function randomAsciiStrings(count: number, seed: number): string[] {
  const next = seededRandom(seed);
  const alphabet = 'aZ9_.,;:\'"- \t\n!?/()x0';
  return Array.from({ length: count }, () => {
    const n = 1 + Math.floor(next() * 40);
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(next() * alphabet.length)];
    return s;
  });
}

const TRICKY = [
  "Hello World, don't 3.14 U.S.A. foo:bar e-mail a_b ___ _x x_ 10:30 1,000,000.50 a.b.c. can't'",
  'Café ΟΔΟΣ İstanbul Straße ǅemal',
  '日本語のテキスト 한국어 ไทยภาษา ລາວ 😀 🇺🇸 wi-fi',
  'x\u0301y été naïve co\u00f6perate',
  'snake_case_identifier __init__ 3_000 v1.2.3 192.168.0.1 $100 50% C++ C# .NET',
  'a'.repeat(300) + ' ' + 'b'.repeat(600),
  '',
  '   ...   ',
];

describe('analyze', () => {
  it('keeps the pure-ASCII scanner in agreement with the Intl.Segmenter path', () => {
    for (const text of randomAsciiStrings(3000, 7))
      expect(analyze(text), JSON.stringify(text)).toEqual(analyzeWithSegmenter(text).map((t) => t.toLowerCase()));
  });

  it('splits tokens longer than 255 characters and lowercases per code point', () => {
    expect(analyze('a'.repeat(600)).map((t) => t.length)).toEqual([255, 255, 90]);
    expect(analyze('İSTANBUL ΟΔΟΣ')).toEqual(['istanbul', 'οδοσ']);
  });

  const lucene = luceneOrSkipReason();
  if (!('ok' in lucene)) console.warn(`skipping Lucene analyzer parity: ${lucene.reason}`);
  it.skipIf(!('ok' in lucene))(
    'tokenizes exactly as Lucene 8 StandardAnalyzer (no stop words)',
    { timeout: 300_000 },
    () => {
      const texts = [...TRICKY, ...randomAsciiStrings(500, 11)];
      const out = runLucene(['tokens'], texts.map((t) => JSON.stringify(t)).join('\n') + '\n')
        .trim()
        .split('\n');
      expect(out).toHaveLength(texts.length);
      texts.forEach((text, i) => expect(analyze(text), JSON.stringify(text)).toEqual(JSON.parse(out[i]!)));
    },
  );
});
