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
  throw new ModelError(`config.json: model_type ${JSON.stringify(type)} is not supported (distilbert or bert)`, { field: 'config.model_type' });
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
    throw new ModelError(`weight ${name} has shape [${t.shape.join(', ')}], config says [${shape.join(', ')}]`, { field: 'weights' });
  }
  return t;
}

/** Maps a checkpoint onto the encoder spec, checking every shape against config.json. */
export function encoderSpec(config: HfConfig, weights: StateDict): EncoderSpec {
  const family = modelFamily(config);
  const get = lookup(weights, family);
  if (family === 'distilbert') {
    const activation = config['activation'] ?? 'gelu';
    if (activation !== 'gelu') throw new ModelError(`activation ${JSON.stringify(activation)} is not supported (gelu)`, { field: 'config.activation' });
    const dim = num(config, 'dim');
    const ffn = num(config, 'hidden_dim');
    const heads = num(config, 'n_heads');
    const vocab = num(config, 'vocab_size');
    const maxPos = num(config, 'max_position_embeddings');
    const linear = (name: string, out: number, inp: number): Linear => ({
      weight: expectShape(get(`${name}.weight`), [out, inp], `${name}.weight`),
      bias: expectShape(get(`${name}.bias`), [out], `${name}.bias`),
    });
    const norm = (name: string): Norm => ({ weight: expectShape(get(`${name}.weight`), [dim], `${name}.weight`), bias: expectShape(get(`${name}.bias`), [dim], `${name}.bias`) });
    const layerCount = num(config, 'n_layers');
    return {
      family,
      dim,
      heads,
      layerCount,
      ffnDim: ffn,
      vocabSize: vocab,
      maxPositions: maxPos,
      typeVocabSize: 0,
      layerNormEps: 1e-12,
      wordEmbeddings: expectShape(get('embeddings.word_embeddings.weight'), [vocab, dim], 'embeddings.word_embeddings.weight'),
      positionEmbeddings: expectShape(get('embeddings.position_embeddings.weight'), [maxPos, dim], 'embeddings.position_embeddings.weight'),
      embeddingNorm: norm('embeddings.LayerNorm'),
      layers: Array.from({ length: layerCount }, (_, i) => {
        const p = `transformer.layer.${i}`;
        return {
          query: linear(`${p}.attention.q_lin`, dim, dim),
          key: linear(`${p}.attention.k_lin`, dim, dim),
          value: linear(`${p}.attention.v_lin`, dim, dim),
          attentionOutput: linear(`${p}.attention.out_lin`, dim, dim),
          attentionNorm: norm(`${p}.sa_layer_norm`),
          intermediate: linear(`${p}.ffn.lin1`, ffn, dim),
          output: linear(`${p}.ffn.lin2`, dim, ffn),
          outputNorm: norm(`${p}.output_layer_norm`),
        };
      }),
    };
  }
  const act = config['hidden_act'] ?? 'gelu';
  if (act !== 'gelu') throw new ModelError(`hidden_act ${JSON.stringify(act)} is not supported (gelu)`, { field: 'config.hidden_act' });
  const posType = config['position_embedding_type'] ?? 'absolute';
  if (posType !== 'absolute') throw new ModelError(`position_embedding_type ${JSON.stringify(posType)} is not supported (absolute)`, { field: 'config.position_embedding_type' });
  const dim = num(config, 'hidden_size');
  const ffn = num(config, 'intermediate_size');
  const vocab = num(config, 'vocab_size');
  const maxPos = num(config, 'max_position_embeddings');
  const types = num(config, 'type_vocab_size', 2);
  const linear = (name: string, out: number, inp: number): Linear => ({
    weight: expectShape(get(`${name}.weight`), [out, inp], `${name}.weight`),
    bias: expectShape(get(`${name}.bias`), [out], `${name}.bias`),
  });
  const norm = (name: string): Norm => ({ weight: expectShape(get(`${name}.weight`), [dim], `${name}.weight`), bias: expectShape(get(`${name}.bias`), [dim], `${name}.bias`) });
  const layerCount = num(config, 'num_hidden_layers');
  return {
    family,
    dim,
    heads: num(config, 'num_attention_heads'),
    layerCount,
    ffnDim: ffn,
    vocabSize: vocab,
    maxPositions: maxPos,
    typeVocabSize: types,
    layerNormEps: num(config, 'layer_norm_eps', 1e-12),
    wordEmbeddings: expectShape(get('embeddings.word_embeddings.weight'), [vocab, dim], 'embeddings.word_embeddings.weight'),
    positionEmbeddings: expectShape(get('embeddings.position_embeddings.weight'), [maxPos, dim], 'embeddings.position_embeddings.weight'),
    tokenTypeEmbeddings: expectShape(get('embeddings.token_type_embeddings.weight'), [types, dim], 'embeddings.token_type_embeddings.weight'),
    embeddingNorm: norm('embeddings.LayerNorm'),
    layers: Array.from({ length: layerCount }, (_, i) => {
      const p = `encoder.layer.${i}`;
      return {
        query: linear(`${p}.attention.self.query`, dim, dim),
        key: linear(`${p}.attention.self.key`, dim, dim),
        value: linear(`${p}.attention.self.value`, dim, dim),
        attentionOutput: linear(`${p}.attention.output.dense`, dim, dim),
        attentionNorm: norm(`${p}.attention.output.LayerNorm`),
        intermediate: linear(`${p}.intermediate.dense`, ffn, dim),
        output: linear(`${p}.output.dense`, dim, ffn),
        outputNorm: norm(`${p}.output.LayerNorm`),
      };
    }),
  };
}
