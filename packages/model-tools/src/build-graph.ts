import { ValidationError, float32ToFloat16Bits } from '@dotrank/core';
import type { EncoderLayer, EncoderSpec, Linear, Norm } from './architecture.js';
import { GraphBuilder } from './graph.js';
import { DataType } from './onnx-schema.js';
import type { FloatTensor } from './tensor.js';

export type WeightDtype = 'fp32' | 'fp16' | 'int8';
export const WEIGHT_DTYPES: readonly WeightDtype[] = ['fp32', 'fp16', 'int8'];

/**
 * How int8 weight matrices are multiplied:
 * - `matmul-integer`: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scale) -> Add(bias), standard ONNX ops,
 *   the pattern onnxruntime.quantization.quantize_dynamic writes (ORT fuses it into MatMulIntegerToFloat at load);
 * - `dynamic-quantize-matmul` (default): one com.microsoft DynamicQuantizeMatMul per weight (ORT CPU contrib op), bias
 *   included; lower query latency than `matmul-integer` in every run of bench/int8.bench.ts (see README).
 */
export type Int8Kernel = 'matmul-integer' | 'dynamic-quantize-matmul';

export interface BuildOptions {
  dtype?: WeightDtype;
  int8Kernel?: Int8Kernel;
  /** One [dim, 3*dim] MatMul for query/key/value instead of three. Default true. */
  fuseQkv?: boolean;
  /** int8 only: store the word embeddings as int8 too (Gather + DequantizeLinear, as quantize_dynamic does). Default true. */
  quantizeEmbeddings?: boolean;
  /** Additive score for masked key positions. */
  maskValue?: number;
  docString?: string;
  metadata?: Record<string, string>;
}

export const INPUT_IDS = 'input_ids';
export const ATTENTION_MASK = 'attention_mask';
export const TOKEN_TYPE_IDS = 'token_type_ids';
export const LAST_HIDDEN_STATE = 'last_hidden_state';

/** Transposes a PyTorch Linear weight [out, in] into a MatMul right operand [in, out]. */
function transpose(w: FloatTensor): Float32Array {
  const [out, inp] = w.shape as [number, number];
  const t = new Float32Array(out * inp);
  for (let o = 0; o < out; o++) {
    const row = o * inp;
    for (let i = 0; i < inp; i++) t[i * out + o] = w.data[row + i]!;
  }
  return t;
}

/** Per-tensor symmetric int8 (the scheme of ORT's quantize_dynamic for QInt8 weights): q = round(w / s), s = max|w| / 127. */
export function quantizeSymmetricInt8(data: Float32Array): { q: Int8Array; scale: number } {
  let absMax = 0;
  for (let i = 0; i < data.length; i++) absMax = Math.max(absMax, Math.abs(data[i]!));
  const scale = absMax > 0 ? absMax / 127 : 1;
  const q = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(data[i]! / scale)));
  return { q, scale: Math.fround(scale) };
}

/** Writes weights, and the ops that carry them (MatMul + bias, LayerNorm), in the chosen dtype and int8 kernel. */
class WeightOps {
  /** Whether a com.microsoft op was written (the model then declares that opset). */
  usesContrib = false;
  /** DynamicQuantizeLinear outputs per activation, so `matmul-integer` quantizes each input once however many weights read it. */
  private readonly quantized = new Map<string, [string, string, string]>();

  constructor(
    readonly g: GraphBuilder,
    private readonly dtype: WeightDtype,
    private readonly kernel: Int8Kernel,
    private readonly spec: EncoderSpec,
  ) {}

  /** A float weight; fp16 stores it as float16 and casts to float32 once (ORT folds the Cast at session load). */
  weight(name: string, dims: number[], data: Float32Array): string {
    if (this.dtype !== 'fp16') return this.g.float(name, dims, data);
    const half = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) half[i] = float32ToFloat16Bits(data[i]!);
    this.g.initializer(`${name}_fp16`, DataType.FLOAT16, dims, new Uint8Array(half.buffer));
    return this.g.op('Cast', [`${name}_fp16`], { to: DataType.FLOAT }, { name: `${name}_cast` });
  }

  /** x · Linear, with the weight and bias optionally pre-multiplied by `scale`. */
  linear(x: string, lin: Linear, name: string, scale = 1): string {
    const [out, inp] = lin.weight.shape as [number, number];
    let wt = transpose(lin.weight);
    let bias = lin.bias.data;
    if (scale !== 1) {
      wt = wt.map((v) => v * scale);
      bias = bias.map((v) => v * scale);
    }
    return this.matmulAdd(x, wt, bias, inp, out, name);
  }

  /** x · wt + bias for a [inp, out] right operand. */
  matmulAdd(x: string, wt: Float32Array, bias: Float32Array, inp: number, out: number, name: string): string {
    if (this.dtype === 'int8') return this.int8MatmulAdd(x, wt, bias, inp, out, name);
    const w = this.weight(`${name}.weight`, [inp, out], wt);
    const b = this.weight(`${name}.bias`, [out], bias);
    return this.g.op('Add', [this.g.op('MatMul', [x, w]), b]);
  }

  private int8MatmulAdd(
    x: string,
    wt: Float32Array,
    bias: Float32Array,
    inp: number,
    out: number,
    name: string,
  ): string {
    const g = this.g;
    const { q, scale } = quantizeSymmetricInt8(wt);
    const wq = g.initializer(`${name}.weight_quantized`, DataType.INT8, [inp, out], new Uint8Array(q.buffer));
    const ws = g.float(`${name}.weight_scale`, [], Float32Array.of(scale));
    const wzp = g.initializer(`${name}.weight_zero_point`, DataType.INT8, [], new Uint8Array(1));
    const b = g.float(`${name}.bias`, [out], bias);
    if (this.kernel === 'dynamic-quantize-matmul') {
      this.usesContrib = true;
      return g.op('DynamicQuantizeMatMul', [x, wq, ws, wzp, b], {}, { domain: 'com.microsoft' });
    }
    const [xq, xScale, xZeroPoint] = this.quantizedInput(x);
    const product = g.op('MatMulInteger', [xq, wq, xZeroPoint, wzp]);
    const asFloat = g.op('Cast', [product], { to: DataType.FLOAT });
    const scaleProduct = g.op('Mul', [xScale, ws]);
    return g.op('Add', [g.op('Mul', [asFloat, scaleProduct]), b]);
  }

  private quantizedInput(x: string): [string, string, string] {
    let xq = this.quantized.get(x);
    if (!xq) {
      const outs = this.g.node('DynamicQuantizeLinear', [x], {}, { outputs: 3 });
      xq = [outs[0]!, outs[1]!, outs[2]!];
      this.quantized.set(x, xq);
    }
    return xq;
  }

  layerNorm(x: string, norm: Norm, name: string): string {
    const { dim, layerNormEps } = this.spec;
    return this.g.op(
      'LayerNormalization',
      [x, this.weight(`${name}.weight`, [dim], norm.weight.data), this.weight(`${name}.bias`, [dim], norm.bias.data)],
      {
        axis: -1,
        epsilon: { float: layerNormEps },
      },
    );
  }
}

/** The word table: int8 (Gather + DequantizeLinear, as quantize_dynamic does) or a float weight. */
function wordEmbeddings(ops: WeightOps, spec: EncoderSpec, ids: string, quantize: boolean): string {
  const g = ops.g;
  if (!quantize) {
    return g.op(
      'Gather',
      [ops.weight('embeddings.word_embeddings.weight', spec.wordEmbeddings.shape, spec.wordEmbeddings.data), ids],
      { axis: 0 },
    );
  }
  const { q, scale } = quantizeSymmetricInt8(spec.wordEmbeddings.data);
  const table = g.initializer(
    'embeddings.word_embeddings.weight_quantized',
    DataType.INT8,
    spec.wordEmbeddings.shape,
    new Uint8Array(q.buffer),
  );
  const gathered = g.op('Gather', [table, ids], { axis: 0 });
  return g.op('DequantizeLinear', [
    gathered,
    g.float('embeddings.word_embeddings.weight_scale', [], Float32Array.of(scale)),
    g.constInt8(0),
  ]);
}

/** Word + position (+ token type) embeddings, layer-normed: the first hidden state. */
function embeddings(
  ops: WeightOps,
  spec: EncoderSpec,
  ids: string,
  types: string | undefined,
  quantizeWords: boolean,
): string {
  const g = ops.g;
  const words = wordEmbeddings(ops, spec, ids, quantizeWords);
  const seqLen = g.op('Squeeze', [g.op('Shape', [ids], { start: 1, end: 2 }), g.constInt64([0])]);
  const positions = g.op('Range', [g.constInt64([0], []), seqLen, g.constInt64([1], [])]);
  const posEmb = g.op(
    'Gather',
    [
      ops.weight('embeddings.position_embeddings.weight', spec.positionEmbeddings.shape, spec.positionEmbeddings.data),
      positions,
    ],
    { axis: 0 },
  );
  let emb = g.op('Add', [words, posEmb]);
  if (types && spec.tokenTypeEmbeddings) {
    emb = g.op('Add', [
      emb,
      g.op(
        'Gather',
        [
          ops.weight(
            'embeddings.token_type_embeddings.weight',
            spec.tokenTypeEmbeddings.shape,
            spec.tokenTypeEmbeddings.data,
          ),
          types,
        ],
        { axis: 0 },
      ),
    ]);
  }
  return ops.layerNorm(emb, spec.embeddingNorm, 'embeddings.LayerNorm');
}

/** Additive attention mask [batch, 1, 1, sequence]: 0 where mask == 1, maskValue where mask == 0. */
function additiveMask(g: GraphBuilder, mask: string, maskValue: number): string {
  const maskFloat = g.op('Cast', [mask], { to: DataType.FLOAT });
  const inverted = g.op('Sub', [g.constFloat([1]), maskFloat]);
  return g.op('Unsqueeze', [g.op('Mul', [inverted, g.constFloat([maskValue])]), g.constInt64([1, 2])]);
}

/** What every encoder layer shares: the weight writer, head geometry and the attention mask. */
interface LayerContext {
  ops: WeightOps;
  dim: number;
  /** 1 / sqrt(headDim), folded into the query weights. */
  qScale: number;
  fuseQkv: boolean;
  additiveMask: string;
  headsShape: string;
  mergedShape: string;
}

/** Query (pre-scaled), key and value weights side by side as one [dim, 3*dim] operand, with their biases. */
function fusedQkvWeights(
  layer: EncoderLayer,
  dim: number,
  qScale: number,
): { weight: Float32Array; bias: Float32Array } {
  const wq = transpose(layer.query.weight).map((x) => x * qScale);
  const wk = transpose(layer.key.weight);
  const wv = transpose(layer.value.weight);
  const weight = new Float32Array(dim * 3 * dim);
  for (let r = 0; r < dim; r++) {
    weight.set(wq.subarray(r * dim, (r + 1) * dim), r * 3 * dim);
    weight.set(wk.subarray(r * dim, (r + 1) * dim), r * 3 * dim + dim);
    weight.set(wv.subarray(r * dim, (r + 1) * dim), r * 3 * dim + 2 * dim);
  }
  const bias = new Float32Array(3 * dim);
  bias.set(
    layer.query.bias.data.map((x) => x * qScale),
    0,
  );
  bias.set(layer.key.bias.data, dim);
  bias.set(layer.value.bias.data, 2 * dim);
  return { weight, bias };
}

function qkvProjections(ctx: LayerContext, hidden: string, layer: EncoderLayer, p: string): [string, string, string] {
  const { ops, dim, qScale } = ctx;
  if (!ctx.fuseQkv) {
    return [
      ops.linear(hidden, layer.query, `${p}.attention.query`, qScale),
      ops.linear(hidden, layer.key, `${p}.attention.key`),
      ops.linear(hidden, layer.value, `${p}.attention.value`),
    ];
  }
  const fused = fusedQkvWeights(layer, dim, qScale);
  const qkv = ops.matmulAdd(hidden, fused.weight, fused.bias, dim, 3 * dim, `${p}.attention.qkv`);
  return ops.g.node('Split', [qkv, ops.g.constInt64([dim, dim, dim])], { axis: -1 }, { outputs: 3 }) as [
    string,
    string,
    string,
  ];
}

/** Multi-head scaled dot-product attention over projected q, k, v; returns the merged context [batch, sequence, dim]. */
function attentionContext(ctx: LayerContext, q: string, k: string, v: string): string {
  const g = ctx.ops.g;
  const qh = g.op('Transpose', [g.op('Reshape', [q, ctx.headsShape])], { perm: [0, 2, 1, 3] });
  const kh = g.op('Transpose', [g.op('Reshape', [k, ctx.headsShape])], { perm: [0, 2, 3, 1] });
  const vh = g.op('Transpose', [g.op('Reshape', [v, ctx.headsShape])], { perm: [0, 2, 1, 3] });
  const scores = g.op('Add', [g.op('MatMul', [qh, kh]), ctx.additiveMask]);
  const probs = g.op('Softmax', [scores], { axis: -1 });
  return g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, vh])], { perm: [0, 2, 1, 3] }), ctx.mergedShape]);
}

/** One post-norm transformer layer: attention + residual + norm, GELU feed-forward + residual + norm. */
function encoderLayer(ctx: LayerContext, hidden: string, layer: EncoderLayer, i: number): string {
  const { ops } = ctx;
  const g = ops.g;
  const p = `layer.${i}`;
  const [q, k, v] = qkvProjections(ctx, hidden, layer, p);
  const attention = ops.linear(attentionContext(ctx, q, k, v), layer.attentionOutput, `${p}.attention.output`);
  const afterAttention = ops.layerNorm(g.op('Add', [attention, hidden]), layer.attentionNorm, `${p}.attention.norm`);
  const up = ops.linear(afterAttention, layer.intermediate, `${p}.ffn.up`);
  // exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))), in the order ORT's GeluFusion recognises
  const erf = g.op('Erf', [g.op('Div', [up, g.constFloat([Math.SQRT2])])]);
  const gelu = g.op('Mul', [g.op('Mul', [up, g.op('Add', [erf, g.constFloat([1])])]), g.constFloat([0.5])]);
  const down = ops.linear(gelu, layer.output, `${p}.ffn.down`);
  return ops.layerNorm(g.op('Add', [down, afterAttention]), layer.outputNorm, `${p}.output.norm`);
}

/** Builds the encoder as an ONNX (opset 17) model: inputs input_ids, attention_mask (+ token_type_ids for BERT), output last_hidden_state. */
export function buildEncoderGraph(spec: EncoderSpec, options: BuildOptions = {}): Uint8Array {
  const dtype = options.dtype ?? 'fp32';
  if (!WEIGHT_DTYPES.includes(dtype))
    throw new ValidationError('dtype', `must be one of ${WEIGHT_DTYPES.join(', ')} (got ${JSON.stringify(dtype)})`);
  const { dim, heads } = spec;
  if (dim % heads !== 0) throw new ValidationError('config', `dim ${dim} is not divisible by ${heads} heads`);
  const headDim = dim / heads;
  const g = new GraphBuilder();
  const ops = new WeightOps(g, dtype, options.int8Kernel ?? 'dynamic-quantize-matmul', spec);

  const ids = g.input(INPUT_IDS, DataType.INT64, ['batch', 'sequence']);
  const mask = g.input(ATTENTION_MASK, DataType.INT64, ['batch', 'sequence']);
  const types = spec.tokenTypeEmbeddings ? g.input(TOKEN_TYPE_IDS, DataType.INT64, ['batch', 'sequence']) : undefined;
  let hidden = embeddings(ops, spec, ids, types, dtype === 'int8' && (options.quantizeEmbeddings ?? true));
  const ctx: LayerContext = {
    ops,
    dim,
    qScale: 1 / Math.sqrt(headDim),
    fuseQkv: options.fuseQkv ?? true,
    additiveMask: additiveMask(g, mask, options.maskValue ?? -1e9),
    headsShape: g.constInt64([0, 0, heads, headDim]),
    mergedShape: g.constInt64([0, 0, dim]),
  };
  spec.layers.forEach((layer, i) => {
    hidden = encoderLayer(ctx, hidden, layer, i);
  });
  g.renameLastOutput(LAST_HIDDEN_STATE);
  g.output(LAST_HIDDEN_STATE, DataType.FLOAT, ['batch', 'sequence', dim]);
  return g.encode({
    opsets: ops.usesContrib ? { '': 17, 'com.microsoft': 1 } : { '': 17 },
    producer: '@dotrank/model-tools',
    docString: options.docString ?? `${spec.family} encoder, ${dtype} weights`,
    metadata: options.metadata ?? {},
  });
}
