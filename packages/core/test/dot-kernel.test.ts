import { describe, expect, it } from 'vitest';
import { DotKernel } from '../src/dot-kernel.js';
import { dotAt } from '../src/vector-math.js';
import { seededRandom } from '../src/testing/env.js';

// The WebAssembly dot kernel must give dotAt's scores bit for bit (same vectors, same score on every path).
describe('DotKernel', () => {
  const rnd = seededRandom(11);
  const fill = (a: Float32Array, wide = false) => {
    // mixed magnitudes make any change in the order of additions show in the last bits
    for (let i = 0; i < a.length; i++) a[i] = (rnd() * 2 - 1) * (wide && i % 5 === 0 ? 1e6 : 1);
    return a;
  };

  it('runs WebAssembly SIMD on this Node', () => {
    expect(DotKernel.simd).toBe(true);
  });

  for (const js of [false, true]) {
    it(`${js ? 'the dotAt fallback' : 'the WebAssembly kernel'} scores rows exactly as dotAt, every length and tail`, () => {
      const scorer = DotKernel.create({ js });
      for (const dim of [1, 2, 3, 4, 5, 7, 8, 13, 31, 768]) {
        const rows = 37;
        const matrix = fill(scorer.reserve(dim, rows), true);
        const query = fill(new Float32Array(dim), true);
        scorer.setQuery(query);
        const all = new Float64Array(rows);
        scorer.scoreRows(rows, all);
        for (let r = 0; r < rows; r++) {
          const expected = dotAt(query, matrix, r * dim);
          expect(all[r]).toBe(expected);
          expect(scorer.scoreRow(r)).toBe(expected);
        }
      }
    });
  }

  for (const js of [false, true]) {
    it(`${js ? 'the dotAt fallback' : 'the WebAssembly kernel'} dequantizes int8 rows as the codec does: f32(int8 x scale)`, () => {
      const scorer = DotKernel.create({ js });
      for (const dim of [1, 3, 15, 16, 17, 33, 768]) {
        const rows = 4;
        const matrix = scorer.reserve(dim, rows);
        for (let r = 0; r < rows; r++) {
          const values = Uint8Array.from({ length: dim }, (_, i) => (i === 0 ? 0x80 : i === 1 ? 0x7f : rnd() * 256));
          const scale = Math.fround(rnd() * 0.05);
          scorer.setRowInt8(r, values, scale);
          const ints = new Int8Array(values.buffer);
          for (let i = 0; i < dim; i++) expect(matrix[r * dim + i]).toBe(Math.fround(ints[i]! * scale));
        }
      }
    });
  }

  it('keeps working when a larger reserve grows its memory, and carries NaN and infinities through', () => {
    const scorer = DotKernel.create();
    scorer.reserve(8, 2);
    const dim = 768;
    const rows = 1500; // 4.6 MB: several page growths
    const matrix = fill(scorer.reserve(dim, rows));
    const query = fill(new Float32Array(dim));
    matrix[5 * dim + 3] = Number.NaN;
    matrix[6 * dim] = Number.POSITIVE_INFINITY;
    scorer.setQuery(query);
    const out = new Float64Array(rows);
    scorer.scoreRows(rows, out);
    expect(out[5]).toBeNaN();
    expect(Math.abs(out[6]!)).toBe(Number.POSITIVE_INFINITY);
    for (const r of [0, 7, 999, 1499]) expect(out[r]).toBe(dotAt(query, matrix, r * dim));
  });

  it('scorers do not share memory', () => {
    const [a, b] = [DotKernel.create(), DotKernel.create()];
    const ma = a.reserve(4, 1);
    const mb = b.reserve(4, 1);
    ma.set([1, 2, 3, 4]);
    mb.set([4, 3, 2, 1]);
    a.setQuery(Float32Array.of(1, 0, 0, 0));
    b.setQuery(Float32Array.of(1, 0, 0, 0));
    expect([a.scoreRow(0), b.scoreRow(0)]).toEqual([1, 4]);
  });
});
