import type { StateDict } from '../src/tensor.js';
import { seededRandom } from '@dotrank/core/testing';

/** Deterministic PRNG (mulberry32) + Box-Muller normal samples. */
export function normalSampler(seed: number): () => number {
  const uniform = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

export interface RandomDistilbertShape {
  vocab: number;
  dim: number;
  layers: number;
  heads: number;
  ffn: number;
  maxPositions: number;
}

/**
 * A random DistilBERT state_dict whose representations depend on the input text: embeddings with unit variance and
 * linear layers scaled 1/sqrt(fan_in) (activations keep their scale through the layers), unlike the 0.02-std init
 * of an untrained checkpoint, whose [CLS] vectors are nearly identical for every text.
 */
export function randomDistilbert(
  shape: RandomDistilbertShape,
  seed: number,
  prefix = '',
): { config: Record<string, unknown>; weights: StateDict } {
  const normal = normalSampler(seed);
  const weights: StateDict = new Map();
  const add = (name: string, dims: number[], std: number, mean = 0) => {
    const data = new Float32Array(dims.reduce((x, y) => x * y, 1));
    for (let i = 0; i < data.length; i++) data[i] = mean + std * normal();
    weights.set(prefix + name, { shape: dims, data });
  };
  const { vocab, dim, layers, ffn, maxPositions } = shape;
  add('embeddings.word_embeddings.weight', [vocab, dim], 1);
  add('embeddings.position_embeddings.weight', [maxPositions, dim], 0.2);
  add('embeddings.LayerNorm.weight', [dim], 0.1, 1);
  add('embeddings.LayerNorm.bias', [dim], 0.1);
  const linear = (name: string, out: number, inp: number) => {
    add(`${name}.weight`, [out, inp], 1 / Math.sqrt(inp));
    add(`${name}.bias`, [out], 0.05);
  };
  for (let i = 0; i < layers; i++) {
    const p = `transformer.layer.${i}`;
    for (const l of ['q_lin', 'k_lin', 'v_lin', 'out_lin']) linear(`${p}.attention.${l}`, dim, dim);
    linear(`${p}.ffn.lin1`, ffn, dim);
    linear(`${p}.ffn.lin2`, dim, ffn);
    for (const n of ['sa_layer_norm', 'output_layer_norm']) {
      add(`${p}.${n}.weight`, [dim], 0.1, 1);
      add(`${p}.${n}.bias`, [dim], 0.1);
    }
  }
  const config = {
    model_type: 'distilbert',
    activation: 'gelu',
    dim,
    hidden_dim: ffn,
    n_heads: shape.heads,
    n_layers: layers,
    vocab_size: vocab,
    max_position_embeddings: maxPositions,
    sinusoidal_pos_embds: false,
  };
  return { config, weights };
}
