// Passage vectors and token counts for the compatibility endpoints (/embed, /v1/embeddings, and `truncate: false`).
// A vector is read from the same vector cache the rerank step uses, under the same key (id = the text's hash), and
// only the misses are encoded (and written back), so /embed, /v1/rerank and /rerank share their cached passages.
import { DotrankError, ModelError } from '@dotrank/core';
import { TextTokenizer } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { textHash } from '@dotrank/vector-cache';
import type { VectorKey, VectorStore } from '@dotrank/vector-cache';

/** What /embed and the token checks need of the model: passage vectors (cached) and token counts. */
export interface PassageModel {
  readonly modelId: string;
  readonly dimension: number;
  /** The most tokens a passage is encoded with (special tokens included); longer ones are truncated. */
  readonly passageMaxLength: number;
  /** Tokens of each text as the passage encoder sees it before truncation, special tokens included. */
  tokenCounts(texts: readonly string[]): number[];
  /** Passage vectors in input order: cached ones read, the others encoded and cached. */
  embedPassages(texts: readonly string[], signal?: AbortSignal): Promise<EmbeddedPassages>;
}

export interface EmbeddedPassages {
  vectors: Float32Array[];
  cache: { hits: number; misses: number };
}

/** The cache key of a passage sent without an id: the id is its text hash, so equal texts share one vector. */
export function compatKey(text: string): VectorKey & { id: string; text: string } {
  return { id: textHash(text), text };
}

const stopIfAborted = (signal: AbortSignal | undefined): void => {
  if (!signal?.aborted) return;
  throw signal.reason instanceof Error ? signal.reason : new DotrankError('timeout', 'aborted');
};

/** A PassageModel over a loaded encoder and a vector store (the reranker's, in-process; Redis in queue mode). */
export class CachedPassageModel implements PassageModel {
  readonly modelId: string;
  readonly dimension: number;
  readonly passageMaxLength: number;

  private constructor(
    private readonly encoder: Encoder,
    private readonly store: VectorStore,
    private readonly tokenizer: TextTokenizer,
    private readonly batchSize: number,
  ) {
    this.modelId = encoder.modelId;
    this.dimension = encoder.dimension;
    this.passageMaxLength = encoder.maxLength('passage');
  }

  /** Loads the model's tokenizer once more, untruncated, to count tokens (the encoder's own truncates). */
  static async open(encoder: Encoder, store: VectorStore, batchSize = 32): Promise<CachedPassageModel> {
    const tokenizer = await TextTokenizer.fromFile(encoder.manifest.tokenizerPath);
    return new CachedPassageModel(encoder, store, tokenizer, Math.max(1, batchSize));
  }

  tokenCounts(texts: readonly string[]): number[] {
    return texts.map((text) => this.tokenizer.encode(text, Number.MAX_SAFE_INTEGER).length);
  }

  async embedPassages(texts: readonly string[], signal?: AbortSignal): Promise<EmbeddedPassages> {
    const keys = texts.map(compatKey);
    const cached = await this.store.getMany(keys);
    stopIfAborted(signal);
    const vectors = new Array<Float32Array>(texts.length);
    // equal texts in one request are encoded once
    const missing = new Map<string, number[]>();
    cached.forEach((vector, i) => {
      if (vector) vectors[i] = vector;
      else missing.set(keys[i]!.id, [...(missing.get(keys[i]!.id) ?? []), i]);
    });
    const todo = [...missing.values()];
    for (let b = 0; b < todo.length; b += this.batchSize) {
      const batch = todo.slice(b, b + this.batchSize);
      const encoded = await this.encoder.encodePassages(batch.map((positions) => texts[positions[0]!]!));
      if (encoded.length !== batch.length)
        throw new ModelError(`encoder returned ${encoded.length} vectors for ${batch.length} passages`);
      batch.forEach((positions, j) => positions.forEach((i) => (vectors[i] = encoded[j]!)));
      await this.store.setMany(batch.map((positions, j) => ({ key: keys[positions[0]!]!, vector: encoded[j]! })));
      stopIfAborted(signal);
    }
    const misses = todo.reduce((n, positions) => n + positions.length, 0);
    return { vectors, cache: { hits: texts.length - misses, misses } };
  }
}

/** A PassageModel opened on first use (queue mode: the API loads the model only when /embed is called). */
export function lazyPassageModel(open: () => Promise<PassageModel>): () => Promise<PassageModel> {
  let opening: Promise<PassageModel> | undefined;
  return () => {
    opening ??= open().catch((error: unknown) => {
      opening = undefined; // a later call tries again (e.g. the model folder appeared)
      throw error;
    });
    return opening;
  };
}
