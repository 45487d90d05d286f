/**
 * Lucene's lossy one-byte encoding of document lengths (`org.apache.lucene.util.SmallFloat`, Lucene 8):
 * exact below 24, then 4 significant bits with a shift. BM25 stores every document length this way.
 */
function longToInt4(i: number): number {
  const numBits = i === 0 ? 0 : Math.floor(Math.log2(i)) + 1;
  if (numBits < 4) return i; // subnormal
  const shift = numBits - 4;
  let encoded = Math.floor(i / 2 ** shift); // keep the 4 most significant bits
  encoded &= 0x07; // the top bit is implicit
  encoded |= (shift + 1) << 3;
  return encoded;
}

function int4ToLong(i: number): number {
  const bits = i & 0x07;
  const shift = (i >>> 3) - 1;
  return shift === -1 ? bits : (bits | 0x08) * 2 ** shift;
}

const MAX_INT4 = longToInt4(2 ** 31 - 1);
const NUM_FREE_VALUES = 255 - MAX_INT4;

/** `SmallFloat.intToByte4`: a non-negative int to an unsigned byte (0..255). */
export function intToByte4(i: number): number {
  if (!Number.isInteger(i) || i < 0) throw new RangeError(`intToByte4: expected a non-negative integer, got ${i}`);
  if (i < NUM_FREE_VALUES) return i;
  return NUM_FREE_VALUES + longToInt4(i - NUM_FREE_VALUES);
}

/** `SmallFloat.byte4ToInt`: the decoded (lower-bound) length of an encoded byte (0..255). */
export function byte4ToInt(b: number): number {
  const i = b & 0xff;
  if (i < NUM_FREE_VALUES) return i;
  return NUM_FREE_VALUES + int4ToLong(i - NUM_FREE_VALUES);
}

/** Decoded length for every norm byte, as Lucene's `BM25Similarity.LENGTH_TABLE` (float). */
export const LENGTH_TABLE: Float32Array = Float32Array.from({ length: 256 }, (_, i) => byte4ToInt(i));
