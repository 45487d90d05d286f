// Exact search, sharded exact search and the bounded heap against plain loops on seeded random data.
import { describe, expect, it } from 'vitest';
import { exactSearch, exactSearchShards } from '../src/exact.js';
import { TopK } from '@dotrank/core';

function seeded(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 4294967296 - 0.5;
  };
}

describe('exact search', () => {
  const dim = 37;
  const n = 1000;
  const rand = seeded(7);
  const matrix = new Float32Array(n * dim).map(() => rand());
  const query = new Float32Array(dim).map(() => rand());
  const truth = Array.from({ length: n }, (_, row) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += matrix[row * dim + j]! * query[j]!;
    return { row, s };
  }).sort((a, b) => b.s - a.s);

  it('equals a plain loop, over one matrix and over shards', () => {
    expect(exactSearch(matrix, dim, n, query, 50).map((h) => h.row)).toEqual(truth.slice(0, 50).map((t) => t.row));
    const shards = [0, 300, 700].map((offset, i, all) => {
      const count = (all[i + 1] ?? n) - offset;
      return { matrix: matrix.slice(offset * dim, (offset + count) * dim), count, offset };
    });
    expect(exactSearchShards(shards, dim, query, 50).map((h) => h.row)).toEqual(truth.slice(0, 50).map((t) => t.row));
  });

  it('skips rows refused by accept, and k larger than the rows', () => {
    const even = exactSearch(matrix, dim, n, query, 2000, (row) => row % 2 === 0);
    expect(even.map((h) => h.row)).toEqual(truth.filter((t) => t.row % 2 === 0).map((t) => t.row));
  });

  it('names a query of the wrong dimension', () => {
    expect(() => exactSearch(matrix, dim, n, new Float32Array(3), 5)).toThrow(/query/);
  });

  it('TopK keeps the k best, ties by smaller row', () => {
    const heap = new TopK(3);
    [
      [5, 1],
      [1, 9],
      [2, 9],
      [3, 0.5],
      [4, 9],
    ].forEach(([row, s]) => heap.push(row!, s!));
    expect(heap.sorted()).toEqual([
      { row: 1, score: 9 },
      { row: 2, score: 9 },
      { row: 4, score: 9 },
    ]);
  });
});
