/** A scalar metadata value that filters can match on. */
export type Scalar = string | number | boolean;

/**
 * A passage (document) as it enters a candidate source. `text` is the whole passage: what is searched, encoded,
 * cached and returned. Readers assemble it (BEIR: `title + " " + text`), so nothing downstream adds the title again.
 */
export interface Passage {
  id: string;
  text: string;
  /** The title alone, for display; already part of `text`. */
  title?: string;
  /** Fields a filter can match on. */
  metadata?: Record<string, Scalar>;
}

/** One first-stage result: the passage text travels with it so the reranker needs no second lookup. */
export interface Candidate {
  id: string;
  text: string;
  /** First-stage score (BM25, or inner product for dense sources). */
  score: number;
  metadata?: Record<string, Scalar>;
}

/** Equality filter on metadata fields: every listed field must equal the value (or one of the values). */
export type SearchFilter = Record<string, Scalar | Scalar[]>;

export interface SearchOptions {
  /** How many candidates to return (1..10000). */
  k: number;
  filter?: SearchFilter;
  signal?: AbortSignal;
}

export interface IndexProgress {
  done: number;
  total?: number;
}

export interface IndexOptions {
  onProgress?: (progress: IndexProgress) => void;
  batchSize?: number;
}

export interface IndexFailure {
  id?: string;
  /** 1-based line number in the input file, when the passage came from a file. */
  line?: number;
  reason: string;
}

/** What an ingest did: nothing is lost silently, every passage is counted in exactly one bucket. */
export interface IndexReport {
  indexed: number;
  failed: number;
  skipped: number;
  failures: IndexFailure[];
  durationMs: number;
}

export type FirstStageKind = 'bm25' | 'elasticsearch' | 'dense' | 'hybrid';

/** The first stage: anything that returns top-k passages for a query. */
export interface CandidateSource {
  readonly kind: FirstStageKind;
  search(query: string, options: SearchOptions): Promise<Candidate[]>;
  index(passages: AsyncIterable<Passage> | Iterable<Passage>, options?: IndexOptions): Promise<IndexReport>;
  count(): Promise<number>;
  close(): Promise<void>;
}

export type Pooling = 'cls' | 'mean';
export type Similarity = 'dot' | 'cosine';

/** A text encoder: one shared model for queries and passages (TAS-B). */
export interface DenseEncoder {
  readonly modelId: string;
  readonly revision: string;
  readonly dimension: number;
  readonly similarity: Similarity;
  encodeQueries(texts: readonly string[]): Promise<Float32Array[]>;
  encodePassages(texts: readonly string[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export type FusionMode = 'bm25' | 'tasb' | 'interpolate' | 'rrf';
export const FUSION_MODES: readonly FusionMode[] = ['bm25', 'tasb', 'interpolate', 'rrf'];
