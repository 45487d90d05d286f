import { ModelError } from '@dotrank/core';
import type { FloatTensor, StateDict } from './tensor.js';

export type ModelFamily = 'distilbert' | 'bert';

export interface Linear {
  /** PyTorch layout: [out, in]. */
  weight: FloatTensor;
  bias: FloatTensor;
}
export interface Norm {
  weight: FloatTensor;
  bias: FloatTensor;
}
export interface EncoderLayer {
  query: Linear;
  key: Linear;
  value: Linear;
  attentionOutput: Linear;
  attentionNorm: Norm;
  intermediate: Linear;
  output: Linear;
  outputNorm: Norm;
}

/** A transformer encoder's shape and weights, independent of the checkpoint's naming. */
export interface EncoderSpec {
  family: ModelFamily;
  dim: number;
  heads: number;
  layerCount: number;
  ffnDim: number;
  vocabSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
  wordEmbeddings: FloatTensor;
  positionEmbeddings: FloatTensor;
  tokenTypeEmbeddings?: FloatTensor;
  embeddingNorm: Norm;
  layers: EncoderLayer[];
}

/** The parts of a Hugging Face `config.json` we read. */
export type HfConfig = Record<string, unknown>;

function num(config: HfConfig, key: string, fallback?: number): number {
  const v = config[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (fallback !== undefined) return fallback;
  throw new ModelError(`config.json: ${key} is missing or not a number`, { field: `config.${key}` });
}

export function modelFamily(config: HfConfig): ModelFamily {
  const type = config['model_type'];
  if (type === 'distilbert' || type === 'bert') return type;
  throw new ModelError(`config.json: model_type ${JSON.stringify(type)} is not supported (distilbert or bert)`, {
    field: 'config.model_type',
  });
}

/** Looks a weight up under its bare name, or with the `distilbert.` / `bert.` prefix a task head adds. */
function lookup(weights: StateDict, family: ModelFamily) {
  const prefixes = ['', `${family}.`];
  return (name: string): FloatTensor => {
    for (const p of prefixes) {
      const t = weights.get(p + name);
      if (t) return t;
    }
    throw new ModelError(`weight ${name} (or ${family}.${name}) is missing from the checkpoint`, { field: 'weights' });
  };
}

function expectShape(t: FloatTensor, shape: number[], name: string): FloatTensor {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ModelError(`weight ${name} has shape [${t.shape.join(', ')}], config says [${shape.join(', ')}]`, {
      field: 'weights',
    });
  }
  return t;
}

type WeightGetter = (name: string) => FloatTensor;

/** Reads Linear, LayerNorm and embedding weights under their checkpoint names, checking each shape. */
function shapedWeights(get: WeightGetter, dim: number) {
  const shaped = (name: string, shape: number[]) => expectShape(get(name), shape, name);
  return {
    linear: (name: string, out: number, inp: number): Linear => ({
      weight: shaped(`${name}.weight`, [out, inp]),
      bias: shaped(`${name}.bias`, [out]),
    }),
    norm: (name: string): Norm => ({ weight: shaped(`${name}.weight`, [dim]), bias: shaped(`${name}.bias`, [dim]) }),
    embedding: (name: string, rows: number): FloatTensor => shaped(`embeddings.${name}.weight`, [rows, dim]),
  };
}

/** Where one family keeps the parts of encoder layer i: `${layers}.${i}.${part}`. */
interface LayerNaming {
  layers: string;
  parts: Record<keyof EncoderLayer, string>;
}

const DISTILBERT_LAYERS: LayerNaming = {
  layers: 'transformer.layer',
  parts: {
    query: 'attention.q_lin',
    key: 'attention.k_lin',
    value: 'attention.v_lin',
    attentionOutput: 'attention.out_lin',
    attentionNorm: 'sa_layer_norm',
    intermediate: 'ffn.lin1',
    output: 'ffn.lin2',
    outputNorm: 'output_layer_norm',
  },
};

const BERT_LAYERS: LayerNaming = {
  layers: 'encoder.layer',
  parts: {
    query: 'attention.self.query',
    key: 'attention.self.key',
    value: 'attention.self.value',
    attentionOutput: 'attention.output.dense',
    attentionNorm: 'attention.output.LayerNorm',
    intermediate: 'intermediate.dense',
    output: 'output.dense',
    outputNorm: 'output.LayerNorm',
  },
};

function encoderLayers(
  weights: ReturnType<typeof shapedWeights>,
  naming: LayerNaming,
  count: number,
  dim: number,
  ffn: number,
): EncoderLayer[] {
  return Array.from({ length: count }, (_, i) => {
    const name = (part: keyof EncoderLayer) => `${naming.layers}.${i}.${naming.parts[part]}`;
    return {
      query: weights.linear(name('query'), dim, dim),
      key: weights.linear(name('key'), dim, dim),
      value: weights.linear(name('value'), dim, dim),
      attentionOutput: weights.linear(name('attentionOutput'), dim, dim),
      attentionNorm: weights.norm(name('attentionNorm')),
      intermediate: weights.linear(name('intermediate'), ffn, dim),
      output: weights.linear(name('output'), dim, ffn),
      outputNorm: weights.norm(name('outputNorm')),
    };
  });
}

function distilbertSpec(config: HfConfig, get: WeightGetter): EncoderSpec {
  const activation = config['activation'] ?? 'gelu';
  if (activation !== 'gelu')
    throw new ModelError(`activation ${JSON.stringify(activation)} is not supported (gelu)`, {
      field: 'config.activation',
    });
  const dim = num(config, 'dim');
  const ffn = num(config, 'hidden_dim');
  const heads = num(config, 'n_heads');
  const vocab = num(config, 'vocab_size');
  const maxPos = num(config, 'max_position_embeddings');
  const layerCount = num(config, 'n_layers');
  const weights = shapedWeights(get, dim);
  return {
    family: 'distilbert',
    dim,
    heads,
    layerCount,
    ffnDim: ffn,
    vocabSize: vocab,
    maxPositions: maxPos,
    typeVocabSize: 0,
    layerNormEps: 1e-12,
    wordEmbeddings: weights.embedding('word_embeddings', vocab),
    positionEmbeddings: weights.embedding('position_embeddings', maxPos),
    embeddingNorm: weights.norm('embeddings.LayerNorm'),
    layers: encoderLayers(weights, DISTILBERT_LAYERS, layerCount, dim, ffn),
  };
}

function bertSpec(config: HfConfig, get: WeightGetter): EncoderSpec {
  const act = config['hidden_act'] ?? 'gelu';
  if (act !== 'gelu')
    throw new ModelError(`hidden_act ${JSON.stringify(act)} is not supported (gelu)`, { field: 'config.hidden_act' });
  const posType = config['position_embedding_type'] ?? 'absolute';
  if (posType !== 'absolute')
    throw new ModelError(`position_embedding_type ${JSON.stringify(posType)} is not supported (absolute)`, {
      field: 'config.position_embedding_type',
    });
  const dim = num(config, 'hidden_size');
  const ffn = num(config, 'intermediate_size');
  const vocab = num(config, 'vocab_size');
  const maxPos = num(config, 'max_position_embeddings');
  const types = num(config, 'type_vocab_size', 2);
  const layerCount = num(config, 'num_hidden_layers');
  const weights = shapedWeights(get, dim);
  return {
    family: 'bert',
    dim,
    heads: num(config, 'num_attention_heads'),
    layerCount,
    ffnDim: ffn,
    vocabSize: vocab,
    maxPositions: maxPos,
    typeVocabSize: types,
    layerNormEps: num(config, 'layer_norm_eps', 1e-12),
    wordEmbeddings: weights.embedding('word_embeddings', vocab),
    positionEmbeddings: weights.embedding('position_embeddings', maxPos),
    tokenTypeEmbeddings: weights.embedding('token_type_embeddings', types),
    embeddingNorm: weights.norm('embeddings.LayerNorm'),
    layers: encoderLayers(weights, BERT_LAYERS, layerCount, dim, ffn),
  };
}

/** Maps a checkpoint onto the encoder spec, checking every shape against config.json. */
export function encoderSpec(config: HfConfig, weights: StateDict): EncoderSpec {
  const family = modelFamily(config);
  const get = lookup(weights, family);
  return family === 'distilbert' ? distilbertSpec(config, get) : bertSpec(config, get);
}
