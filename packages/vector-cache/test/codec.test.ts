import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32 } from '@dotrank/core';
import { decodeVector, decodeVectorInto, encodeVector, encodedByteLength } from '../src/codec.js';

function randomVector(dim: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = (s / 2 ** 32 - 0.5) * 4;
  }
  return v;
}

describe('vector codec', () => {
  it.each([
    ['float32', 0],
    ['float16', 2 ** -11],
    ['int8', 1 / 254],
  ] as const)('round-trips %s within its error bound', (dtype, relBound) => {
    const v = randomVector(768, 7);
    const encoded = encodeVector(v, dtype);
    expect(encoded.length).toBe(encodedByteLength(dtype, 768));
    const decoded = decodeVector(encoded, { dtype, dimension: 768 });
    if (!('vector' in decoded)) throw new Error(decoded.rejected);
    const maxAbs = Math.max(...v.map(Math.abs));
    for (let i = 0; i < v.length; i++) {
      const bound = dtype === 'int8' ? maxAbs * relBound * 1.0001 : Math.abs(v[i]!) * relBound;
      expect(Math.abs(decoded.vector[i]! - v[i]!)).toBeLessThanOrEqual(bound + 1e-12);
    }
  });

  it('decodes from an unaligned slice without a RangeError', () => {
    const v = randomVector(33, 3);
    const encoded = encodeVector(v, 'float32');
    const big = Buffer.alloc(encoded.length + 3);
    encoded.copy(big, 1);
    const slice = big.subarray(1, 1 + encoded.length);
    expect(slice.byteOffset % 4).not.toBe(0);
    const decoded = decodeVector(slice);
    if (!('vector' in decoded)) throw new Error(decoded.rejected);
    expect(Array.from(decoded.vector)).toEqual(Array.from(v));
  });

  it('rejects foreign values, other dtypes and other dimensions', () => {
    const encoded = encodeVector(randomVector(8, 1), 'float16');
    expect(decodeVector(Buffer.from('hello world'))).toEqual({ rejected: 'not a dotrank vector (bad magic)' });
    expect(decodeVector(encoded, { dtype: 'float32' })).toMatchObject({
      rejected: expect.stringContaining('dtype float16'),
    });
    expect(decodeVector(encoded, { dimension: 9 })).toMatchObject({ rejected: expect.stringContaining('dimension 8') });
    expect(decodeVector(encoded.subarray(0, encoded.length - 1))).toMatchObject({
      rejected: expect.stringContaining('length'),
    });
  });

  it('float16 decodes every one of the 65,536 bit patterns as float16BitsToFloat32 does', () => {
    // a value per pattern, decoded through the lookup table
    const dim = 65536;
    const value = Buffer.alloc(8 + 2 * dim);
    value.write('DV', 0, 'latin1');
    value[2] = 1;
    value[3] = 2;
    value.writeUInt32LE(dim, 4);
    for (let bits = 0; bits < dim; bits++) value.writeUInt16LE(bits, 8 + 2 * bits);
    const decoded = decodeVector(value);
    if (!('vector' in decoded)) throw new Error(decoded.rejected);
    for (let bits = 0; bits < dim; bits++) {
      const want = Math.fround(float16BitsToFloat32(bits));
      if (Number.isNaN(want)) expect(decoded.vector[bits]).toBeNaN();
      else expect(decoded.vector[bits]).toBe(want);
    }
  });

  it('decodeVectorInto writes one row of a matrix and leaves the rest alone', () => {
    const v = randomVector(16, 5);
    const target = new Float32Array(48).fill(7);
    for (const dtype of ['float32', 'float16', 'int8'] as const) {
      const encoded = encodeVector(v, dtype);
      // an unaligned copy, as ioredis hands them out
      const unaligned = Buffer.alloc(encoded.length + 1).subarray(1);
      encoded.copy(unaligned);
      const done = decodeVectorInto(unaligned, target, 16, { dtype, dimension: 16 });
      expect(done).toEqual({ dimension: 16 });
      const fresh = decodeVector(encoded);
      if (!('vector' in fresh)) throw new Error(fresh.rejected);
      expect(Array.from(target.subarray(16, 32))).toEqual(Array.from(fresh.vector));
      expect(target.subarray(0, 16).every((x) => x === 7) && target.subarray(32).every((x) => x === 7)).toBe(true);
    }
    expect(decodeVectorInto(encodeVector(v, 'float32'), target, 40)).toEqual({
      rejected: 'dimension 16 does not fit the target at 40',
    });
    expect(decodeVectorInto(Buffer.from('nope nope'), target, 0)).toEqual({
      rejected: 'not a dotrank vector (bad magic)',
    });
  });
});
