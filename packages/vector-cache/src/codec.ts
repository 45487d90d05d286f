import { endianness } from 'node:os';
import { ValidationError } from '@dotrank/core';

/**
 * Binary layout of one cached vector (little-endian):
 *   bytes 0-1  magic "DV"
 *   byte  2    format version (1)
 *   byte  3    dtype code (1 = float32, 2 = float16, 3 = int8)
 *   bytes 4-7  dimension (uint32)
 *   int8 only: bytes 8-11 scale (float32), payload from byte 12
 *   float32 / float16: payload from byte 8
 * The 8-byte header keeps a float32 payload 4-byte aligned relative to the value start.
 */
export type VectorDtype = 'float32' | 'float16' | 'int8';
export const VECTOR_DTYPES: readonly VectorDtype[] = ['float32', 'float16', 'int8'];

const MAGIC_0 = 0x44; // 'D'
const MAGIC_1 = 0x56; // 'V'
export const CODEC_VERSION = 1;
export const HEADER_BYTES = 8;
const DTYPE_CODES: Record<VectorDtype, number> = { float32: 1, float16: 2, int8: 3 };

if (endianness() !== 'LE') throw new Error('@dotrank/vector-cache: the vector codec needs a little-endian host');

/** Bytes one encoded vector takes (header included). */
export function encodedByteLength(dtype: VectorDtype, dimension: number): number {
  switch (dtype) {
    case 'float32':
      return HEADER_BYTES + 4 * dimension;
    case 'float16':
      return HEADER_BYTES + 2 * dimension;
    case 'int8':
      return HEADER_BYTES + 4 + dimension;
  }
}

/** Why a stored value was refused; decoding never throws for a foreign value, the caller counts it a miss. */
export type DecodeResult = { vector: Float32Array } | { rejected: string };

export function encodeVector(vector: Float32Array, dtype: VectorDtype): Buffer {
  const dim = vector.length;
  if (dim === 0) throw new ValidationError('vector', 'must not be empty');
  const out = Buffer.allocUnsafe(encodedByteLength(dtype, dim));
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = CODEC_VERSION;
  out[3] = DTYPE_CODES[dtype];
  out.writeUInt32LE(dim, 4);
  switch (dtype) {
    case 'float32': {
      // one byte copy of the whole payload: no per-float loop
      out.set(new Uint8Array(vector.buffer, vector.byteOffset, dim * 4), HEADER_BYTES);
      break;
    }
    case 'float16': {
      for (let i = 0; i < dim; i++) out.writeUInt16LE(float32ToFloat16Bits(vector[i]!), HEADER_BYTES + 2 * i);
      break;
    }
    case 'int8': {
      let maxAbs = 0;
      for (let i = 0; i < dim; i++) {
        const a = Math.abs(vector[i]!);
        if (a > maxAbs) maxAbs = a;
      }
      const scale = maxAbs === 0 ? 1 : maxAbs / 127;
      out.writeFloatLE(scale, HEADER_BYTES);
      const base = HEADER_BYTES + 4;
      for (let i = 0; i < dim; i++) out.writeInt8(Math.max(-127, Math.min(127, Math.round(vector[i]! / scale))), base + i);
      break;
    }
  }
  return out;
}

/**
 * Decodes a stored value. Works on buffers at any byteOffset (ioredis hands out slices of a shared buffer that
 * are not 4-byte aligned): the float32 payload is copied once, byte-wise, into a fresh aligned buffer.
 */
export function decodeVector(value: Uint8Array, expected: { dtype?: VectorDtype; dimension?: number } = {}): DecodeResult {
  if (value.length < HEADER_BYTES) return { rejected: `value too short (${value.length} bytes)` };
  if (value[0] !== MAGIC_0 || value[1] !== MAGIC_1) return { rejected: 'not a dotrank vector (bad magic)' };
  if (value[2] !== CODEC_VERSION) return { rejected: `unsupported codec version ${value[2]}` };
  const dtype = VECTOR_DTYPES.find((d) => DTYPE_CODES[d] === value[3]);
  if (!dtype) return { rejected: `unknown dtype code ${value[3]}` };
  if (expected.dtype && dtype !== expected.dtype) return { rejected: `dtype ${dtype}, expected ${expected.dtype}` };
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const dim = view.getUint32(4, true);
  if (expected.dimension !== undefined && dim !== expected.dimension) {
    return { rejected: `dimension ${dim}, expected ${expected.dimension}` };
  }
  if (value.length !== encodedByteLength(dtype, dim)) return { rejected: `length ${value.length} does not match ${dtype} x ${dim}` };
  const out = new Float32Array(dim);
  switch (dtype) {
    case 'float32': {
      const start = value.byteOffset + HEADER_BYTES;
      if (start % 4 === 0) out.set(new Float32Array(value.buffer, start, dim));
      else new Uint8Array(out.buffer).set(value.subarray(HEADER_BYTES, HEADER_BYTES + 4 * dim));
      break;
    }
    case 'float16': {
      for (let i = 0; i < dim; i++) out[i] = float16BitsToFloat32(view.getUint16(HEADER_BYTES + 2 * i, true));
      break;
    }
    case 'int8': {
      const scale = view.getFloat32(HEADER_BYTES, true);
      const base = HEADER_BYTES + 4;
      for (let i = 0; i < dim; i++) out[i] = view.getInt8(base + i) * scale;
      break;
    }
  }
  return { vector: out };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary32 -> binary16 bits, round to nearest even, with subnormals, infinities and NaN. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> signed zero
    mant |= 0x800000; // implicit leading 1
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1))) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
