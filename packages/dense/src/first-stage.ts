import { join } from 'node:path';
import { ConfigError, ValidationError } from '@dotrank/core';
import type { CandidateSource, DenseEncoder, DotrankConfig, IndexProgress, IndexReport, Passage } from '@dotrank/core';
import type { AnnBackendChoice, HnswParams } from './ann.js';
import { HybridSource } from './hybrid.js';
import type { HybridFusion } from './hybrid.js';
import { createDenseSource } from './source.js';
import type { DenseSearchMode, DenseSource, PassageSplitter } from './source.js';
import type { VectorStore } from '@dotrank/vector-cache';

export type FirstStage = 'bm25' | 'dense' | 'hybrid';
export const FIRST_STAGES: readonly FirstStage[] = ['bm25', 'dense', 'hybrid'];

export interface FirstStageOptions {
  /** The value of `--first-stage`. */
  firstStage: FirstStage;
  /** The lexical source already opened (embedded BM25 or Elasticsearch), e.g. `openSourceFor(...).source`. */
  bm25: CandidateSource;
  /** The TAS-B encoder; required for `dense` and `hybrid`. Not closed by the returned source. */
  encoder?: DenseEncoder;
  /**
   * The BM25 index folder (embedded), or any folder naming the collection (Elasticsearch, e.g.
   * `defaultIndexDir(config, name)`). The dense index lives beside it: `<dataDir>.dense/<model>@<revision>/`.
   */
  dataDir: string;
  /** The corpus, read only when the dense index is empty (first run); later runs reuse the saved index. */
  passages?: () => AsyncIterable<Passage> | Iterable<Passage>;
  /** `exact` or `ann` (HNSW, built at index time and saved too). Default: DOTRANK_DENSE_MODE (`exact`). */
  denseMode?: DenseSearchMode;
  /** HNSW backend of `ann`: `auto`, `hnswlib` or `js`. Default: DOTRANK_ANN_BACKEND (`auto`). */
  annBackend?: AnnBackendChoice;
  /** HNSW parameters. Default: DOTRANK_HNSW_M / DOTRANK_HNSW_EF_CONSTRUCTION / DOTRANK_HNSW_EF_SEARCH (unset = defaults). */
  hnsw?: HnswParams;
  /** Notices of the dense source (backend fallback, a saved graph rebuilt); default process.emitWarning. */
  onNotice?: (message: string) => void;
  /** Passage-vector cache to read before encoding and to warm for the reranker. */
  vectorStore?: VectorStore;
  /** Hybrid fusion: `rrf` (default, k = 60) or `interpolate` (with `alpha`, the BM25 weight). */
  fusion?: HybridFusion;
  alpha?: number;
  rrfK?: number;
  /** Candidates each source contributes to the hybrid fusion (default: the k of each search). */
  depth?: number;
  /**
   * Long documents (DOTRANK_DOC_SCORE other than `first`): the configured window splitter,
   * `candidateWindowsFor(modelDir, passageWindowSettingsFromConfig(config))` of @dotrank/rerank-core. The dense index
   * then holds one vector per window and scores a document by its best window; it lives in its own folder, named by
   * the configured window sizes (DOTRANK_PASSAGE_WINDOW_TOKENS / _STRIDE), beside the whole-document one.
   */
  windows?: PassageSplitter;
  /** Progress of building the dense index (for a cli-progress bar). */
  onProgress?: (progress: IndexProgress) => void;
  /** Called with the report when this call built (or completed) the dense index. */
  onIndexed?: (report: IndexReport, denseDir: string) => void;
}

/**
 * `<dataDir>.dense/<model>@<revision>`: one dense index per model beside the BM25 index; an index of passage windows
 * adds the windowing's name (`...@<revision>+windows-<tokens>-<stride>`), so switching DOTRANK_DOC_SCORE never mixes
 * the two.
 */
export function denseDirFor(
  dataDir: string,
  encoder: Pick<DenseEncoder, 'modelId' | 'revision'>,
  windows?: string,
): string {
  const name = `${encoder.modelId}@${encoder.revision}${windows !== undefined ? `+windows-${windows}` : ''}`;
  return join(`${dataDir}.dense`, name.replace(/[^A-Za-z0-9._@+-]+/g, '_'));
}

/** The name of the configured windowing: its sizes, `model` / `half` where they default to the model's. */
export function windowsNameFromConfig(
  config: Pick<DotrankConfig, 'DOTRANK_PASSAGE_WINDOW_TOKENS' | 'DOTRANK_PASSAGE_WINDOW_STRIDE'>,
): string {
  return `${config.DOTRANK_PASSAGE_WINDOW_TOKENS ?? 'model'}-${config.DOTRANK_PASSAGE_WINDOW_STRIDE ?? 'half'}`;
}

/**
 * The first stage for `--first-stage bm25|dense|hybrid`:
 *   const bm25 = (await openSourceFor(config, flags, name)).source;
 *   const source = await openFirstStage(config, { firstStage: flags.firstStage ?? 'bm25', bm25, encoder, dataDir: dir,
 *                                                  passages: () => readCorpus(collection) });
 * - `bm25`: returns `bm25` itself.
 * - `dense`: the embedded dense source saved beside `dataDir` (built from `passages` when empty, reused when present).
 *   Closing it does not close `bm25` (the caller owns that).
 * - `hybrid`: `HybridSource` over `bm25` and that dense source (RRF k=60 by default); candidates carry `bm25Score` and
 *   `denseScore`. Closing it closes `bm25` too.
 * The dense mode, HNSW backend and parameters come from `options`, else from the configuration (DOTRANK_DENSE_MODE,
 * DOTRANK_ANN_BACKEND, DOTRANK_HNSW_*). In mode `ann` a saved index without a usable graph gets one built and saved here.
 * Errors: ConfigError('--model') without an encoder; ValidationError('--first-stage') for an unknown value;
 * ConfigError('annBackend') for backend `hnswlib` when hnswlib-node does not load.
 */
export async function openFirstStage(config: DotrankConfig, options: FirstStageOptions): Promise<CandidateSource> {
  const { firstStage } = options;
  if (!FIRST_STAGES.includes(firstStage))
    throw new ValidationError(
      '--first-stage',
      `must be one of ${FIRST_STAGES.join(', ')} (got ${JSON.stringify(firstStage)})`,
    );
  if (firstStage === 'bm25') return options.bm25;
  const encoder = options.encoder;
  if (!encoder)
    throw new ConfigError(
      '--model',
      `--first-stage ${firstStage} needs a TAS-B model: pass --model <dir> or set DOTRANK_MODEL`,
    );
  const windows = options.windows
    ? { split: options.windows.split.bind(options.windows), name: windowsNameFromConfig(config) }
    : undefined;
  const dir = denseDirFor(options.dataDir, encoder, windows?.name);
  const hnsw: HnswParams = options.hnsw ?? {
    ...(config.DOTRANK_HNSW_M !== undefined ? { M: config.DOTRANK_HNSW_M } : {}),
    ...(config.DOTRANK_HNSW_EF_CONSTRUCTION !== undefined
      ? { efConstruction: config.DOTRANK_HNSW_EF_CONSTRUCTION }
      : {}),
    ...(config.DOTRANK_HNSW_EF_SEARCH !== undefined ? { efSearch: config.DOTRANK_HNSW_EF_SEARCH } : {}),
  };
  const dense: DenseSource = await createDenseSource({
    encoder,
    dir,
    mode: options.denseMode ?? config.DOTRANK_DENSE_MODE ?? 'exact',
    annBackend: options.annBackend ?? config.DOTRANK_ANN_BACKEND ?? 'auto',
    batchSize: config.DOTRANK_BATCH_SIZE,
    hnsw,
    ...(options.vectorStore ? { vectorStore: options.vectorStore } : {}),
    ...(windows ? { windows } : {}),
    ...(options.onNotice ? { onNotice: options.onNotice } : {}),
  });
  if ((await dense.count()) === 0 && options.passages) {
    const report = await dense.index(options.passages(), options.onProgress ? { onProgress: options.onProgress } : {});
    options.onIndexed?.(report, dir);
  } else {
    // mode ann over a saved index without a usable graph (built in exact mode, stale, other backend): build it now,
    // once, and save it, rather than inside the first query
    await dense.ensureAnnIndex(options.onProgress ? (done, total) => options.onProgress!({ done, total }) : undefined);
  }
  if (firstStage === 'dense') return dense;
  return new HybridSource({
    bm25: options.bm25,
    dense,
    ...(options.fusion ? { fusion: options.fusion } : {}),
    ...(options.alpha !== undefined ? { alpha: options.alpha } : {}),
    ...(options.rrfK !== undefined ? { rrfK: options.rrfK } : {}),
    ...(options.depth !== undefined ? { depth: options.depth } : {}),
  });
}
