import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dot } from '../src/pooling.js';
import { loadEncoder } from '../src/encoder.js';
import type { Encoder } from '../src/encoder.js';
import { maxAbsDiff, modelDirVariant, pooledDir, removeDir, tinyDir, vectorReference } from './helpers.js';

const reference = vectorReference();
const queries = reference.items.filter((i) => i.kind === 'query');
const passages = reference.items.filter((i) => i.kind === 'passage');

function dot64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

describe('vectors equal PyTorch (tiny TAS-B-shaped model, CLS pooling, dot product)', () => {
  let encoder: Encoder;
  let qv: Float32Array[];
  let pv: Float32Array[];
  beforeAll(async () => {
    encoder = await loadEncoder(tinyDir, { batchSize: 8 });
    qv = await encoder.encodeQueries(queries.map((q) => q.text));
    pv = await encoder.encodePassages(passages.map((p) => p.text));
  });
  afterAll(async () => {
    await encoder?.close();
  });

  it('reads the manifest: TAS-B defaults in small form', () => {
    expect(encoder.manifest).toMatchObject({
      pooling: 'cls',
      similarity: 'dot',
      dimension: 32,
      queryMaxLength: 64,
      passageMaxLength: 256,
      maxPositions: 512,
      output: 'last_hidden_state',
    });
    expect(encoder.dimension).toBe(32);
    expect(encoder.modelId).toBe('dotrank/tiny-tasb-random');
  });

  it('tokenizes each reference text as PyTorch was fed it', () => {
    expect(
      encoder.tokenize(
        queries.map((q) => q.text),
        'query',
      ),
    ).toEqual(queries.map((q) => q.ids));
    expect(
      encoder.tokenize(
        passages.map((p) => p.text),
        'passage',
      ),
    ).toEqual(passages.map((p) => p.ids));
    expect(passages.some((p) => p.ids.length === 256)).toBe(true);
  });

  it('gives CLS vectors within 1e-4 max abs difference', () => {
    expect(qv).toHaveLength(queries.length);
    expect(pv).toHaveLength(passages.length);
    const worst = Math.max(
      ...queries.map((q, i) => maxAbsDiff(qv[i]!, q.cls)),
      ...passages.map((p, i) => maxAbsDiff(pv[i]!, p.cls)),
    );
    expect(worst).toBeLessThan(1e-4);
    for (const v of [...qv, ...pv]) expect(v).toHaveLength(32);
  });

  it('gives dot-product scores within 1e-3 relative', () => {
    for (let i = 0; i < queries.length; i++) {
      for (let j = 0; j < passages.length; j++) {
        const expected = dot64(queries[i]!.cls, passages[j]!.cls);
        const actual = encoder.score(qv[i]!, pv[j]!);
        expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(expected)));
      }
    }
    expect(encoder.score(qv[0]!, pv[0]!)).toBe(dot(qv[0]!, pv[0]!));
  });
});

describe('mean pooling of last_hidden_state (dotrank.json override)', () => {
  let dir: string;
  let encoder: Encoder;
  beforeAll(async () => {
    const manifest = JSON.parse(
      await import('node:fs/promises').then((fs) => fs.readFile(`${tinyDir}/dotrank.json`, 'utf8')),
    ) as Record<string, unknown>;
    dir = await modelDirVariant(tinyDir, {
      'dotrank.json': JSON.stringify({ ...manifest, pooling: 'mean', similarity: 'cosine' }),
    });
    encoder = await loadEncoder(dir, { batchSize: 5 });
  });
  afterAll(async () => {
    await encoder?.close();
    await removeDir(dir);
  });

  it('averages over real tokens only, whatever the padding of the batch', async () => {
    const items = reference.items;
    const vectors = await Promise.all([
      encoder.encodeQueries(queries.map((q) => q.text)),
      encoder.encodePassages(passages.map((p) => p.text)),
    ]);
    const all = [...vectors[0], ...vectors[1]];
    const expected = [...queries, ...passages];
    expect(Math.max(...expected.map((e, i) => maxAbsDiff(all[i]!, e.mean)))).toBeLessThan(1e-4);
    expect(items.length).toBeGreaterThan(0);
  });

  it('scores by cosine', async () => {
    const [q] = await encoder.encodeQueries([queries[0]!.text]);
    const [p] = await encoder.encodePassages([passages[0]!.text]);
    const a = queries[0]!.mean;
    const b = passages[0]!.mean;
    const expected = dot64(a, b) / Math.sqrt(dot64(a, a) * dot64(b, b));
    expect(Math.abs(encoder.score(q!, p!) - expected)).toBeLessThan(1e-3 * Math.abs(expected));
    expect(encoder.score(q!, q!)).toBeCloseTo(1, 5);
  });
});

describe('a graph whose output is already pooled (2-D) and that takes token_type_ids', () => {
  let encoder: Encoder;
  beforeAll(async () => {
    encoder = await loadEncoder(pooledDir, { batchSize: 6 });
  });
  afterAll(async () => {
    await encoder?.close();
  });

  it('returns the graph output as is, in input order', async () => {
    expect(encoder.manifest.output).toBe('sentence_embedding');
    expect(encoder.dimension).toBe(8);
    const q = await encoder.encodeQueries(queries.map((x) => x.text));
    const p = await encoder.encodePassages(passages.map((x) => x.text));
    const worst = Math.max(
      ...queries.map((x, i) => maxAbsDiff(q[i]!, x.pooled)),
      ...passages.map((x, i) => maxAbsDiff(p[i]!, x.pooled)),
    );
    expect(worst).toBeLessThan(1e-4);
  });
});
