import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '@dotrank/core/testing';
import { loadEncoder } from '../src/encoder.js';
import { TextTokenizer } from '../src/tokenizer.js';
import type { Encoder } from '../src/encoder.js';
import { tinyDir, tokenizerReference } from './helpers.js';

const tasbTokenizer = join(repoPath('models/tas-b'), 'tokenizer.json');
const reference = tokenizerReference();

describe('tokenization equals the Python tokenizers library (real TAS-B tokenizer.json)', () => {
  let tokenizer: TextTokenizer;
  beforeAll(async () => {
    tokenizer = await TextTokenizer.fromFile(tasbTokenizer);
  });

  it('uses the very tokenizer.json the references were made from', () => {
    expect(createHash('sha256').update(readFileSync(tasbTokenizer)).digest('hex')).toBe(reference.tokenizerSha256);
    expect(reference.items.length).toBeGreaterThanOrEqual(300);
  });

  it('gives the same ids without truncation for every reference text', () => {
    const mismatches = reference.items.filter(
      (item) => JSON.stringify(tokenizer.encode(item.text, Number.MAX_SAFE_INTEGER)) !== JSON.stringify(item.ids),
    );
    expect(mismatches.map((m) => m.source)).toEqual([]);
  });

  it.each(reference.truncations)('gives the same ids truncated at %i tokens, keeping [CLS] and [SEP]', (n) => {
    let truncatedCount = 0;
    for (const item of reference.items) {
      const expected = item.truncated?.[String(n)] ?? item.ids;
      if (item.truncated?.[String(n)]) truncatedCount++;
      const ids = tokenizer.encode(item.text, n);
      expect(ids, item.source).toEqual(expected);
      expect(ids.length).toBeLessThanOrEqual(n);
      expect(ids[0]).toBe(101);
      expect(ids[ids.length - 1]).toBe(102);
    }
    expect(truncatedCount).toBeGreaterThan(0);
  });

  it('covers whitespace-only, CJK, emoji and over-long texts', () => {
    const bySource = new Map(reference.items.map((i) => [i.text, i]));
    expect(tokenizer.encode('   \t\n  ', 64)).toEqual([101, 102]);
    expect(bySource.get('   \t\n  ')!.ids).toEqual([101, 102]);
    expect(reference.items.some((i) => i.ids.length > 512)).toBe(true);
  });
});

describe('Encoder.tokenize', () => {
  let encoder: Encoder;
  beforeAll(async () => {
    encoder = await loadEncoder(tinyDir, { queryMaxLength: 32, passageMaxLength: 512 });
  });
  afterAll(async () => {
    await encoder?.close();
  });

  it('truncates queries and passages at their own max lengths, matching Python', () => {
    const long = reference.items.find((i) => i.ids.length > 600)!;
    const [q] = encoder.tokenize([long.text], 'query');
    const [p] = encoder.tokenize([long.text], 'passage');
    expect(q).toHaveLength(32);
    expect(q!.slice(0, 31)).toEqual(long.ids.slice(0, 31));
    expect(q![31]).toBe(102);
    expect(p).toEqual(long.truncated!['512']);
  });

  it('keeps the tiny model tokenizer identical to the real TAS-B one', () => {
    const sample = reference.items.slice(0, 50);
    const ids = encoder.tokenize(
      sample.map((s) => s.text),
      'passage',
    );
    ids.forEach((row, i) => expect(row).toEqual(sample[i]!.truncated?.['512'] ?? sample[i]!.ids));
  });
});
