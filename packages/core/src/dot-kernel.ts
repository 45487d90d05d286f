import { dotAt } from './vector-math.js';

/**
 * Dot products of one query with many rows (a rerank scoring its candidates' cached vectors), in WebAssembly SIMD.
 *
 * The scores are bit for bit those of `dotAt`: each f32 element is promoted to f64 (products of two f32 are exact in
 * f64), and the four running sums of `dotAt` are the four lanes of two f64x2 accumulators (elements 4k and 4k+1 in
 * one, 4k+2 and 4k+3 in the other), added in the same order and combined as `s0 + s1 + (s2 + s3)`; a tail of
 * dim % 4 elements goes into s0 as in `dotAt`. So the same vectors score the same on every path (the parity test
 * compares with `dotAt` for exact equality). Two f64 lanes at a time and no bounds check per element: about four times
 * faster than `dotAt` (`npm run bench:dot -w packages/core`), which at 1,000 candidates of 768 dimensions is most of
 * the scoring a rerank does after its query vector arrives.
 *
 * It also dequantizes int8-cached vectors into its matrix (`setRowInt8`), sixteen values at a time, to the same f32
 * values the codec's JavaScript decoding gives (about 9x faster).
 *
 * The module is assembled below from its opcodes (no binary is committed; the comments are its text format). Where
 * WebAssembly SIMD is unavailable, `DotKernel.create()` returns the same interface over `dotAt`.
 */
export interface RowScorer {
  /**
   * Room for `rows` rows of `dim` elements: the matrix to decode them into (row i at element i * dim). The view is
   * valid until the next reserve.
   */
  reserve(dim: number, rows: number): Float32Array;
  /**
   * Row `row` = `values` (int8) x `scale`, each product rounded to f32: what decoding an int8-cached vector gives (an
   * int8 times an f32 is exact in f64, so rounding it once to f32 is the f32 multiply the kernel does).
   */
  setRowInt8(row: number, values: Uint8Array, scale: number): void;
  /** The query the next scoreRow / scoreRows use (its length is the reserved dim). */
  setQuery(query: Float32Array): void;
  /** dot(query, row). */
  scoreRow(row: number): number;
  /** out[row] = dot(query, row) for rows [0, count). */
  scoreRows(count: number, out: Float64Array): void;
}

// --- the module's bytes ------------------------------------------------------------------------------------------

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
const i32 = (n: number) => [0x41, ...sleb(n)];
const simd = (op: number, ...rest: number[]) => [0xfd, ...uleb(op), ...rest];
/** memarg: log2 of the alignment, then the offset. */
const mem = (align: number, offset = 0) => [align, ...uleb(offset)];
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = 0x0b;
const brIf = (depth: number) => [0x0d, depth];

// dot_rows(q, m, dim, rows, out): out[r] = sum over i of q[i] * m[r * dim + i], q f64 (the promoted query), m f32
const [Q, M, DIM, ROWS, OUT] = [0, 1, 2, 3, 4];
const [R, I, PM, PQ, ACC01, ACC23, V, S0, S1, S2, S3, DIM4] = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const locals = vec([
  [4, I32], // r, i, pm, pq
  [3, V128], // acc01, acc23, v
  [4, F64], // s0 .. s3
  [1, I32], // dim4
]);
const ZERO_V128 = simd(0x0c, ...new Array<number>(16).fill(0)); // v128.const 0
const HIGH_HALF_DOWN = simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7); // i8x16.shuffle
const V128_LOAD = (align: number, offset = 0) => simd(0x00, ...mem(align, offset));
const PROMOTE_LOW = simd(0x5f); // f64x2.promote_low_f32x4
const F64X2_ADD = simd(0xf0);
const F64X2_MUL = simd(0xf2);
const LANE = (lane: number) => simd(0x21, lane); // f64x2.extract_lane
const body = [
  ...locals,
  ...[...get(DIM), ...i32(-4), 0x71, ...set(DIM4)], // dim4 = dim & ~3
  ...[...get(M), ...set(PM)], // pm = m
  ...[...i32(0), ...set(R)], // r = 0
  ...BLOCK,
  ...[...get(R), ...get(ROWS), 0x4f, ...brIf(0)], // if r >= rows: done
  ...LOOP, // each row
  ...[...ZERO_V128, ...set(ACC01), ...ZERO_V128, ...set(ACC23)],
  ...[...get(Q), ...set(PQ), ...i32(0), ...set(I)], // pq = q, i = 0
  ...BLOCK,
  ...[...get(DIM4), 0x45, ...brIf(0)], // no group of four: skip
  ...LOOP, // each group of four elements
  ...[...get(PM), ...V128_LOAD(2), ...set(V)], // v = m[i .. i+4) (f32x4)
  // acc01 += promote(v[0], v[1]) * q[i .. i+2)
  ...[...get(ACC01), ...get(V), ...PROMOTE_LOW, ...get(PQ), ...V128_LOAD(3), ...F64X2_MUL, ...F64X2_ADD, ...set(ACC01)],
  // acc23 += promote(v[2], v[3]) * q[i+2 .. i+4)
  ...[...get(ACC23), ...get(V), ...get(V), ...HIGH_HALF_DOWN, ...PROMOTE_LOW],
  ...[...get(PQ), ...V128_LOAD(3, 16), ...F64X2_MUL, ...F64X2_ADD, ...set(ACC23)],
  ...[...get(PM), ...i32(16), 0x6a, ...set(PM)], // pm += 16
  ...[...get(PQ), ...i32(32), 0x6a, ...set(PQ)], // pq += 32
  ...[...get(I), ...i32(4), 0x6a, ...tee(I), ...get(DIM4), 0x49, ...brIf(0)], // i += 4; again while i < dim4
  END,
  END,
  ...[...get(ACC01), ...LANE(0), ...set(S0), ...get(ACC01), ...LANE(1), ...set(S1)],
  ...[...get(ACC23), ...LANE(0), ...set(S2), ...get(ACC23), ...LANE(1), ...set(S3)],
  ...BLOCK, // the tail (dim % 4 elements) into s0, as dotAt does
  ...[...get(I), ...get(DIM), 0x4f, ...brIf(0)],
  ...LOOP,
  // s0 += f64(m[i]) * q[i]
  ...[...get(S0), ...get(PM), 0x2a, ...mem(2), 0xbb, ...get(PQ), 0x2b, ...mem(3), 0xa2, 0xa0, ...set(S0)],
  ...[...get(PM), ...i32(4), 0x6a, ...set(PM), ...get(PQ), ...i32(8), 0x6a, ...set(PQ)],
  ...[...get(I), ...i32(1), 0x6a, ...tee(I), ...get(DIM), 0x49, ...brIf(0)],
  END,
  END,
  // out[r] = (s0 + s1) + (s2 + s3)
  ...[...get(OUT), ...get(R), ...i32(3), 0x74, 0x6a],
  ...[...get(S0), ...get(S1), 0xa0, ...get(S2), ...get(S3), 0xa0, 0xa0, 0x39, ...mem(3)],
  ...[...get(R), ...i32(1), 0x6a, ...tee(R), ...get(ROWS), 0x49, ...brIf(0)], // r += 1; again while r < rows
  END,
  END,
  END,
];
// dequant_i8(src, dst, count, scale): dst[i] = f32(src[i]) * scale (src int8, dst f32), sixteen at a time
const [SRC, DST, COUNT, SCALE] = [0, 1, 2, 3];
const [J, SV, W, N16] = [4, 5, 6, 7];
const I8_LOAD = (offset = 0) => V128_LOAD(0, offset);
const V128_STORE = (offset: number) => simd(0x0b, ...mem(2, offset));
const EXTEND_LOW_I8 = simd(0x87); // i16x8.extend_low_i8x16_s
const EXTEND_HIGH_I8 = simd(0x88); // i16x8.extend_high_i8x16_s
const EXTEND_LOW_I16 = simd(0xa7); // i32x4.extend_low_i16x8_s
const EXTEND_HIGH_I16 = simd(0xa8); // i32x4.extend_high_i16x8_s
const TO_F32 = simd(0xfa); // f32x4.convert_i32x4_s
const F32X4_MUL = simd(0xe6);
/** dst + 4j + offset <- f32(lanes) * scale, the lanes (i16x8) on the stack widened by `half` */
const storeQuarter = (half: number[], offset: number) => [
  ...get(DST),
  ...get(J),
  ...i32(2),
  0x74,
  0x6a, // dst + 4j
  ...get(W),
  ...half,
  ...TO_F32,
  ...get(SV),
  ...F32X4_MUL,
  ...V128_STORE(offset),
];
const dequantBody = [
  ...vec([
    [1, I32], // j
    [2, V128], // sv (scale in every lane), w (eight values widened to i16)
    [1, I32], // n16
  ]),
  ...[...get(COUNT), ...i32(-16), 0x71, ...set(N16)], // n16 = count & ~15
  ...[...get(SCALE), ...simd(0x13), ...set(SV)], // sv = f32x4.splat(scale)
  ...[...i32(0), ...set(J)],
  ...BLOCK,
  ...[...get(N16), 0x45, ...brIf(0)],
  ...LOOP,
  // w = the low eight of src[j .. j+16) as i16; their two quarters, then the high eight's
  ...[...get(SRC), ...get(J), 0x6a, ...I8_LOAD(), ...EXTEND_LOW_I8, ...set(W)],
  ...storeQuarter(EXTEND_LOW_I16, 0),
  ...storeQuarter(EXTEND_HIGH_I16, 16),
  ...[...get(SRC), ...get(J), 0x6a, ...I8_LOAD(), ...EXTEND_HIGH_I8, ...set(W)],
  ...storeQuarter(EXTEND_LOW_I16, 32),
  ...storeQuarter(EXTEND_HIGH_I16, 48),
  ...[...get(J), ...i32(16), 0x6a, ...tee(J), ...get(N16), 0x49, ...brIf(0)],
  END,
  END,
  ...BLOCK, // the tail, one at a time
  ...[...get(J), ...get(COUNT), 0x4f, ...brIf(0)],
  ...LOOP,
  // dst[j] = f32(src[j]) * scale
  ...[...get(DST), ...get(J), ...i32(2), 0x74, 0x6a],
  ...[...get(SRC), ...get(J), 0x6a, 0x2c, ...mem(0), 0xb2, ...get(SCALE), 0x94, 0x38, ...mem(2)],
  ...[...get(J), ...i32(1), 0x6a, ...tee(J), ...get(COUNT), 0x49, ...brIf(0)],
  END,
  END,
  END,
];
const F32 = 0x7d;

const MODULE_BYTES = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(
    1,
    vec([
      [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])], // dot_rows: (i32 x5) -> ()
      [0x60, ...vec([[I32], [I32], [I32], [F32]]), ...vec([])], // dequant_i8: (i32 x3, f32) -> ()
    ]),
  ),
  ...section(3, vec([[0], [1]])),
  ...section(5, vec([[0x00, 1]])), // one memory, 1 page to start, grown as needed
  ...section(
    7,
    vec([
      [...name('dot_rows'), 0x00, 0],
      [...name('dequant_i8'), 0x00, 1],
      [...name('memory'), 0x02, 0],
    ]),
  ),
  ...section(
    10,
    vec([
      [...uleb(body.length), ...body],
      [...uleb(dequantBody.length), ...dequantBody],
    ]),
  ),
]);

// --- the two implementations ---------------------------------------------------------------------------------------

const PAGE = 65_536;
const align16 = (n: number) => (n + 15) & ~15;

/** What is used of the WebAssembly JS API (the project's lib settings declare none of it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: WasmModule | null | undefined;
/** The compiled module, or null where WebAssembly (or its SIMD) is not available. */
function module(): WasmModule | null {
  if (compiled === undefined) {
    try {
      compiled = wasmApi ? new wasmApi.Module(MODULE_BYTES) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** Layout in its memory: the query as f64 at 0, the matrix (f32) after it, the scores (f64) last. */
class WasmRowScorer implements RowScorer {
  private readonly memory: WasmMemory;
  private readonly dotRows: (q: number, m: number, dim: number, rows: number, out: number) => void;
  private readonly dequantI8: (src: number, dst: number, count: number, scale: number) => void;
  private stageAt = 0;
  private stage = new Uint8Array(0);
  private dim = 0;
  private matrixAt = 0;
  private outAt = 0;
  private query = new Float64Array(0);
  private scores = new Float64Array(0);

  constructor(mod: WasmModule) {
    const exports = new wasmApi!.Instance(mod).exports as {
      memory: WasmMemory;
      dot_rows: WasmRowScorer['dotRows'];
      dequant_i8: WasmRowScorer['dequantI8'];
    };
    this.memory = exports.memory;
    this.dotRows = exports.dot_rows;
    this.dequantI8 = exports.dequant_i8;
  }

  reserve(dim: number, rows: number): Float32Array {
    this.dim = dim;
    this.matrixAt = align16(dim * 8);
    this.outAt = align16(this.matrixAt + rows * dim * 4);
    this.stageAt = align16(this.outAt + rows * 8);
    const need = this.stageAt + dim;
    if (need > this.memory.buffer.byteLength)
      this.memory.grow(Math.ceil((need - this.memory.buffer.byteLength) / PAGE));
    // views are taken after any growth (growing detaches the old ones)
    this.query = new Float64Array(this.memory.buffer, 0, dim);
    this.scores = new Float64Array(this.memory.buffer, this.outAt, rows);
    this.stage = new Uint8Array(this.memory.buffer, this.stageAt, dim);
    return new Float32Array(this.memory.buffer, this.matrixAt, rows * dim);
  }

  setRowInt8(row: number, values: Uint8Array, scale: number): void {
    this.stage.set(values.subarray(0, this.dim));
    this.dequantI8(this.stageAt, this.matrixAt + row * this.dim * 4, this.dim, scale);
  }

  setQuery(query: Float32Array): void {
    for (let i = 0; i < this.dim; i++) this.query[i] = query[i]!;
  }

  scoreRow(row: number): number {
    this.dotRows(0, this.matrixAt + row * this.dim * 4, this.dim, 1, this.outAt);
    return this.scores[0]!;
  }

  scoreRows(count: number, out: Float64Array): void {
    this.dotRows(0, this.matrixAt, this.dim, count, this.outAt);
    out.set(this.scores.subarray(0, count));
  }
}

/** The same interface over dotAt. */
class JsRowScorer implements RowScorer {
  private matrix = new Float32Array(0);
  private query: Float32Array = new Float32Array(0);
  private dim = 0;

  reserve(dim: number, rows: number): Float32Array {
    this.dim = dim;
    if (this.matrix.length < rows * dim) this.matrix = new Float32Array(rows * dim);
    return this.matrix.subarray(0, rows * dim);
  }

  setQuery(query: Float32Array): void {
    this.query = query.subarray(0, this.dim);
  }

  setRowInt8(row: number, values: Uint8Array, scale: number): void {
    const at = row * this.dim;
    for (let i = 0; i < this.dim; i++) this.matrix[at + i] = ((values[i]! << 24) >> 24) * scale;
  }

  scoreRow(row: number): number {
    return dotAt(this.query, this.matrix, row * this.dim);
  }

  scoreRows(count: number, out: Float64Array): void {
    for (let r = 0; r < count; r++) out[r] = dotAt(this.query, this.matrix, r * this.dim);
  }
}

export const DotKernel = {
  /** Whether the WebAssembly kernel runs here (else `create` gives the dotAt one). */
  get simd(): boolean {
    return module() !== null;
  },
  /** A row scorer with memory of its own (one per job scored at once); `js: true` forces the dotAt one. */
  create(options: { js?: boolean } = {}): RowScorer {
    const mod = options.js ? null : module();
    return mod ? new WasmRowScorer(mod) : new JsRowScorer();
  },
};
