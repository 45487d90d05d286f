import { endianness } from 'node:os';
import { ValidationError, float16BitsToFloat32, float32ToFloat16Bits, type RowScorer } from '@dotrank/core';

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
const DTYPE_BY_CODE: (VectorDtype | undefined)[] = [undefined, 'float32', 'float16', 'int8'];

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
      for (let i = 0; i < dim; i++)
        out.writeInt8(Math.max(-127, Math.min(127, Math.round(vector[i]! / scale))), base + i);
      break;
    }
  }
  return out;
}

/**
 * Checks a stored value's header; returns its dtype and dimension, or why it is refused. Decoding never throws for
 * a foreign value: the caller counts it a miss.
 */
function readHeader(
  value: Uint8Array,
  expected: { dtype?: VectorDtype; dimension?: number },
): { dtype: VectorDtype; dim: number } | { rejected: string } {
  if (value.length < HEADER_BYTES) return { rejected: `value too short (${value.length} bytes)` };
  if (value[0] !== MAGIC_0 || value[1] !== MAGIC_1) return { rejected: 'not a dotrank vector (bad magic)' };
  if (value[2] !== CODEC_VERSION) return { rejected: `unsupported codec version ${value[2]}` };
  const dtype = DTYPE_BY_CODE[value[3]!];
  if (!dtype) return { rejected: `unknown dtype code ${value[3]}` };
  if (expected.dtype && dtype !== expected.dtype) return { rejected: `dtype ${dtype}, expected ${expected.dtype}` };
  // bytes 4-7, little-endian, without a DataView allocation per value
  const dim = (value[4]! | (value[5]! << 8) | (value[6]! << 16) | (value[7]! << 24)) >>> 0;
  if (expected.dimension !== undefined && dim !== expected.dimension) {
    return { rejected: `dimension ${dim}, expected ${expected.dimension}` };
  }
  if (value.length !== encodedByteLength(dtype, dim))
    return { rejected: `length ${value.length} does not match ${dtype} x ${dim}` };
  return { dtype, dim };
}

/** The int8 scale (bytes 8-11) without a DataView per value. */
const scaleWord = new Float32Array(1);
const scaleBytes = new Uint8Array(scaleWord.buffer);

/**
 * Decodes a stored value into `target` starting at element `offset` (the caller sizes it from `dimension`).
 * Works on buffers at any byteOffset (ioredis hands out slices of a shared buffer that are not 4-byte aligned):
 * float32 is one byte-wise copy of the payload, float16 goes through a 65,536-entry lookup table, int8 is one
 * multiply per element. With `scorer`, `target` is its matrix (DotKernel.reserve) and `offset` the start of a row:
 * int8 values are then dequantized by the scorer (WebAssembly SIMD, the same f32 values). Returns the dimension
 * written, or why the value was refused (target untouched).
 */
export function decodeVectorInto(
  value: Uint8Array,
  target: Float32Array,
  offset: number,
  expected: { dtype?: VectorDtype; dimension?: number } = {},
  scorer?: RowScorer,
): { dimension: number } | { rejected: string } {
  const header = readHeader(value, expected);
  if ('rejected' in header) return header;
  const { dtype, dim } = header;
  if (offset < 0 || offset + dim > target.length)
    return { rejected: `dimension ${dim} does not fit the target at ${offset}` };
  if (dtype === 'int8' && scorer) {
    for (let b = 0; b < 4; b++) scaleBytes[b] = value[HEADER_BYTES + b]!;
    scorer.setRowInt8(offset / dim, value.subarray(HEADER_BYTES + 4, HEADER_BYTES + 4 + dim), scaleWord[0]!);
  } else writePayload(value, dtype, dim, target, offset);
  return { dimension: dim };
}

/** Decodes a stored value into a fresh vector (see decodeVectorInto). */
export function decodeVector(
  value: Uint8Array,
  expected: { dtype?: VectorDtype; dimension?: number } = {},
): DecodeResult {
  const header = readHeader(value, expected);
  if ('rejected' in header) return header;
  const out = new Float32Array(header.dim);
  writePayload(value, header.dtype, header.dim, out, 0);
  return { vector: out };
}

/** The payload of a value whose header readHeader accepted, as float32, into target[offset .. offset + dim). */
function writePayload(value: Uint8Array, dtype: VectorDtype, dim: number, target: Float32Array, offset: number): void {
  switch (dtype) {
    case 'float32': {
      const bytes = new Uint8Array(target.buffer, target.byteOffset + 4 * offset, 4 * dim);
      bytes.set(value.subarray(HEADER_BYTES, HEADER_BYTES + 4 * dim));
      break;
    }
    case 'float16': {
      const table = halfTable();
      const payload = value.subarray(HEADER_BYTES);
      for (let i = 0, j = 0; i < dim; i++, j += 2) target[offset + i] = table[payload[j]! | (payload[j + 1]! << 8)]!;
      break;
    }
    case 'int8': {
      const scale = new DataView(value.buffer, value.byteOffset + HEADER_BYTES, 4).getFloat32(0, true);
      const payload = new Int8Array(value.buffer, value.byteOffset + HEADER_BYTES + 4, dim);
      for (let i = 0; i < dim; i++) target[offset + i] = payload[i]! * scale;
      break;
    }
  }
}

let HALF_TABLE: Float32Array | undefined;
/** float16 bits -> float32 for all 65,536 patterns (256 KiB, built on first use). */
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) HALF_TABLE[bits] = float16BitsToFloat32(bits);
  }
  return HALF_TABLE;
}
