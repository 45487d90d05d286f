import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { ConfigError, ModelError, NotFoundError, pathExists } from '@dotrank/core';
import type { Pooling, Similarity } from '@dotrank/core';

/** The manifest file a model directory may carry; every field in it is optional and overrides what is inferred. */
export const MANIFEST_FILE = 'dotrank.json';

/** TAS-B's defaults: CLS pooling, dot product, 768 dimensions, 64/256 tokens for queries/passages, 512 positions. */
export const DEFAULTS = {
  pooling: 'cls' as Pooling,
  similarity: 'dot' as Similarity,
  dimension: 768,
  queryMaxLength: 64,
  passageMaxLength: 256,
  maxPositions: 512,
  output: 'last_hidden_state',
} as const;

/** A model directory, resolved: what the encoder needs to load and run it. */
export interface ModelManifest {
  /** Absolute path of the model directory. */
  modelDir: string;
  modelId: string;
  /** Model revision; when the directory does not say, `sha256:<12 hex>` of the graph file. */
  revision: string;
  pooling: Pooling;
  similarity: Similarity;
  dimension: number;
  /** Maximum tokens of a query, counted with the special tokens ([CLS], [SEP]). */
  queryMaxLength: number;
  /** Maximum tokens of a passage, counted with the special tokens. */
  passageMaxLength: number;
  /** The model's max_position_embeddings: no max length may exceed it. */
  maxPositions: number;
  /** The ONNX graph, relative to modelDir as written in dotrank.json (e.g. `model.onnx`, `onnx/model.onnx`). */
  graph: string;
  /** Absolute path of the ONNX graph. */
  graphPath: string;
  /** Absolute path of tokenizer.json. */
  tokenizerPath: string;
  /** Name of the graph output to read: 3-D `last_hidden_state` (pooled by us) or an already pooled 2-D output. */
  output: string;
  /** Whether `output` was named by the directory (dotrank.json) rather than defaulted. */
  outputExplicit: boolean;
}

/** The JSON written to `dotrank.json` (what model-tools writes): all fields optional. */
export interface ManifestFile {
  modelId?: string;
  revision?: string;
  pooling?: Pooling;
  similarity?: Similarity;
  dimension?: number;
  queryMaxLength?: number;
  passageMaxLength?: number;
  maxPositions?: number;
  graph?: string;
  output?: string;
}

type Json = Record<string, unknown>;

async function readJsonIfPresent(path: string): Promise<Json | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelError(`cannot read: ${(error as Error).message}`, { field: path, cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ModelError(`is not valid JSON: ${(error as Error).message}`, { field: path, cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ModelError('must hold a JSON object', { field: path });
  }
  return parsed as Json;
}

function field(file: string, name: string): string {
  return `${file}: ${name}`;
}

function optionalString(obj: Json, name: string, file: string): string | undefined {
  const value = obj[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.trim() === '')
    throw new ConfigError(field(file, name), `must be a non-empty string (got ${JSON.stringify(value)})`);
  return value;
}

function optionalInt(obj: Json, name: string, file: string, min: number, max: number): number | undefined {
  const value = obj[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      field(file, name),
      `must be an integer between ${min} and ${max} (got ${JSON.stringify(value)})`,
    );
  }
  return value;
}

function optionalEnum<T extends string>(obj: Json, name: string, file: string, allowed: readonly T[]): T | undefined {
  const value = obj[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new ConfigError(
      field(file, name),
      `must be one of ${allowed.map((a) => `"${a}"`).join(', ')} (got ${JSON.stringify(value)})`,
    );
  }
  return value as T;
}

/** Pooling named by sentence-transformers' `1_Pooling/config.json`, if any. */
function poolingFromSentenceTransformers(config: Json | undefined, file: string): Pooling | undefined {
  if (!config) return undefined;
  if (config['pooling_mode_cls_token'] === true) return 'cls';
  if (config['pooling_mode_mean_tokens'] === true) return 'mean';
  const mode = config['pooling_mode'];
  if (mode === 'cls' || mode === 'mean') return mode;
  throw new ModelError('names a pooling mode other than CLS or mean, which dotrank does not support', { field: file });
}

/** Similarity named by sentence-transformers' files: `similarity_fn_name`, or a Normalize module (cosine). */
function similarityFromSentenceTransformers(stConfig: Json | undefined, modules: unknown): Similarity | undefined {
  const name = stConfig?.['similarity_fn_name'];
  if (name === 'dot' || name === 'dot_product') return 'dot';
  if (name === 'cosine') return 'cosine';
  if (
    Array.isArray(modules) &&
    modules.some((m) => typeof m === 'object' && m !== null && String((m as Json)['type']).endsWith('Normalize'))
  ) {
    return 'cosine';
  }
  return undefined;
}

async function sha256Prefix(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex').slice(0, 12);
}

/** The absolute model directory; a ConfigError / NotFoundError naming `modelDir` when it is no directory. */
async function resolveModelDir(modelDir: string): Promise<string> {
  if (typeof modelDir !== 'string' || modelDir.trim() === '')
    throw new ConfigError('modelDir', 'must be a non-empty path');
  const dir = resolve(modelDir);
  let dirStat;
  try {
    dirStat = await stat(dir);
  } catch {
    throw new NotFoundError('modelDir', `model directory ${dir} does not exist`);
  }
  if (!dirStat.isDirectory()) throw new ConfigError('modelDir', `${dir} is not a directory`);
  return dir;
}

/** The ONNX graph relative to `dir`: dotrank.json's `graph` (which must exist), else model.onnx, else onnx/model.onnx. */
async function findGraph(dir: string, file: Json, manifestPath: string): Promise<string> {
  const explicitGraph = optionalString(file, 'graph', MANIFEST_FILE);
  if (explicitGraph !== undefined) {
    if (isAbsolute(explicitGraph))
      throw new ConfigError(field(MANIFEST_FILE, 'graph'), 'must be a path relative to the model directory');
    if (!(await pathExists(join(dir, explicitGraph))))
      throw new NotFoundError(join(dir, explicitGraph), `ONNX graph named by ${manifestPath} (graph) does not exist`);
    return explicitGraph;
  }
  if (await pathExists(join(dir, 'model.onnx'))) return 'model.onnx';
  if (await pathExists(join(dir, 'onnx', 'model.onnx'))) return join('onnx', 'model.onnx');
  throw new NotFoundError(
    join(dir, 'model.onnx'),
    `no ONNX graph in ${dir} (looked for model.onnx and onnx/model.onnx, or "graph" in ${MANIFEST_FILE})`,
  );
}

/**
 * Resolves a model directory: `dotrank.json` (optional, overrides everything), else what an
 * `optimum-cli export onnx` / transformers / sentence-transformers directory says (`config.json`,
 * `1_Pooling/config.json`, `config_sentence_transformers.json`, `modules.json`), else TAS-B's defaults.
 * The graph is `graph` from the manifest, else `model.onnx`, else `onnx/model.onnx`.
 */
export async function readManifest(modelDir: string): Promise<ModelManifest> {
  const dir = await resolveModelDir(modelDir);

  const manifestPath = join(dir, MANIFEST_FILE);
  const file = (await readJsonIfPresent(manifestPath)) ?? {};
  const config = await readJsonIfPresent(join(dir, 'config.json'));
  const stPoolingPath = join(dir, '1_Pooling', 'config.json');
  const stPooling = await readJsonIfPresent(stPoolingPath);
  const stConfig = await readJsonIfPresent(join(dir, 'config_sentence_transformers.json'));
  let modules: unknown;
  try {
    modules = JSON.parse(await readFile(join(dir, 'modules.json'), 'utf8'));
  } catch {
    modules = undefined;
  }

  const m = MANIFEST_FILE;
  const configMaxPositions =
    typeof config?.['max_position_embeddings'] === 'number' ? (config['max_position_embeddings'] as number) : undefined;
  const maxPositions =
    optionalInt(file, 'maxPositions', m, 2, 1_000_000) ?? configMaxPositions ?? DEFAULTS.maxPositions;
  const configDim = [config?.['dim'], config?.['hidden_size'], stPooling?.['word_embedding_dimension']].find(
    (v): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0,
  );
  const dimension = optionalInt(file, 'dimension', m, 1, 65_536) ?? configDim ?? DEFAULTS.dimension;
  const queryMaxLength =
    optionalInt(file, 'queryMaxLength', m, 2, maxPositions) ?? Math.min(DEFAULTS.queryMaxLength, maxPositions);
  const passageMaxLength =
    optionalInt(file, 'passageMaxLength', m, 2, maxPositions) ?? Math.min(DEFAULTS.passageMaxLength, maxPositions);
  const pooling =
    optionalEnum(file, 'pooling', m, ['cls', 'mean'] as const) ??
    poolingFromSentenceTransformers(stPooling, stPoolingPath) ??
    DEFAULTS.pooling;
  const similarity =
    optionalEnum(file, 'similarity', m, ['dot', 'cosine'] as const) ??
    similarityFromSentenceTransformers(stConfig, modules) ??
    DEFAULTS.similarity;
  const explicitOutput = optionalString(file, 'output', m);

  const graph = await findGraph(dir, file, manifestPath);
  const graphPath = join(dir, graph);

  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!(await pathExists(tokenizerPath)))
    throw new NotFoundError(tokenizerPath, `tokenizer.json is missing from ${dir}`);

  const modelId = optionalString(file, 'modelId', m) ?? basename(dir);
  const revision = optionalString(file, 'revision', m) ?? `sha256:${await sha256Prefix(graphPath)}`;

  return {
    modelDir: dir,
    modelId,
    revision,
    pooling,
    similarity,
    dimension,
    queryMaxLength,
    passageMaxLength,
    maxPositions,
    graph,
    graphPath,
    tokenizerPath,
    output: explicitOutput ?? DEFAULTS.output,
    outputExplicit: explicitOutput !== undefined,
  };
}
