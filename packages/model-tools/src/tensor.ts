import { float16BitsToFloat32 } from '@dotrank/core';

/** A float tensor held in memory as float32, whatever its stored dtype was. */
export interface FloatTensor {
  shape: number[];
  data: Float32Array;
}

/** Named weights of a checkpoint (a `state_dict`). */
export type StateDict = Map<string, FloatTensor>;

export type StoredDtype = 'F32' | 'F16' | 'BF16' | 'F64';

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// bfloat16 is the top half of a float32: decoded through one shared scratch word.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Decodes little-endian stored elements into float32. `bytes` need not be aligned. */
export function decodeFloats(bytes: Uint8Array, dtype: StoredDtype, count: number, byteOffset = 0): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + byteOffset);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32': {
      const copy = new Uint8Array(out.buffer);
      copy.set(bytes.subarray(byteOffset, byteOffset + count * 4));
      break;
    }
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = float16BitsToFloat32(view.getUint16(i * 2, true));
      break;
    case 'BF16':
      for (let i = 0; i < count; i++) {
        u32[0] = view.getUint16(i * 2, true) << 16;
        out[i] = f32[0]!;
      }
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      break;
  }
  return out;
}

export const DTYPE_BYTES: Record<StoredDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
