import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../src/float16.js';
import { mulberry32, mulberry32Step, mulberry32Uint } from '../src/random.js';

describe('float16', () => {
  it('matches IEEE 754 half precision for known values', () => {
    // reference bit patterns from the IEEE 754 binary16 definition
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(0.1)).toBe(0x2e66);
    expect(float16BitsToFloat32(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN)))).toBe(true);
  });

  it('rounds to nearest even, carrying into the exponent', () => {
    // 2047.5 lies halfway between 2047 and 2048 (spacing 1 in [1024, 2048)): ties go to the even mantissa, 2048
    expect(float16BitsToFloat32(float32ToFloat16Bits(2047.5))).toBe(2048);
    expect(float16BitsToFloat32(float32ToFloat16Bits(2046.5))).toBe(2046);
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
  });

  it('round-trips every finite half exactly', () => {
    const mismatches: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = float16BitsToFloat32(bits);
      if (Number.isFinite(value) && float32ToFloat16Bits(value) !== bits) mismatches.push(bits);
    }
    expect(mismatches).toEqual([]);
  });
});

describe('mulberry32', () => {
  it('gives the reference sequences and the same one through every entry point', () => {
    // first outputs of the reference C implementation (Tommy Ettinger's mulberry32, compiled with gcc) for seeds 0, 42
    const bits = mulberry32Uint(0);
    const expected = [1144304738, 1416247, 958946056];
    const seed42 = mulberry32Uint(42);
    expect([seed42(), seed42(), seed42()]).toEqual([2581720956, 1925393290, 3661312704]);
    expect([bits(), bits(), bits()]).toEqual(expected);
    const floats = mulberry32(0);
    expect(floats()).toBe(expected[0]! / 4294967296);
    const step = mulberry32Step(0);
    expect(step.bits).toBe(expected[0]);
    // a signed state (as the built-in HNSW stored it) continues the same sequence as its unsigned twin
    expect(mulberry32Step(step.state | 0).bits).toBe(expected[1]);
  });
});
