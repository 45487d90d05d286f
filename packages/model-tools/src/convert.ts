import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ModelError, NotFoundError, ValidationError, pathExists } from '@dotrank/core';
import { MANIFEST_DEFAULTS, MANIFEST_FILE, type ManifestFile } from '@dotrank/encoder';
import { encoderSpec, type HfConfig, type ModelFamily } from './architecture.js';
import {
  buildEncoderGraph,
  LAST_HIDDEN_STATE,
  WEIGHT_DTYPES,
  type Int8Kernel,
  type WeightDtype,
} from './build-graph.js';
import { readSafetensors } from './safetensors.js';
import type { StateDict } from './tensor.js';
import { tokenizerJsonFromVocab } from './tokenizer-json.js';
import { readTorchCheckpoint } from './torch-checkpoint.js';

export const GRAPH_FILE = 'model.onnx';

/** What `dotrank.json` holds when model-tools wrote it: the encoder's fields plus how the graph was made. */
export interface WrittenManifest extends ManifestFile {
  dtype: WeightDtype | 'onnx-export';
  family?: ModelFamily;
  source: string;
  producer: string;
}

export interface ConvertOptions {
  /** Folder with config.json, weights (model.safetensors or pytorch_model.bin) and a tokenizer (tokenizer.json, or vocab.txt + tokenizer_config.json). */
  from: string;
  out: string;
  dtype?: WeightDtype;
  int8Kernel?: Int8Kernel;
  /** Defaults to the `from` folder's name. */
  modelId?: string;
  /** Defaults to `sha256:<12 hex>` of the weights file. */
  revision?: string;
  onStage?: (stage: string) => void;
}

export interface ConvertResult {
  outDir: string;
  graphPath: string;
  manifest: WrittenManifest;
  graphBytes: number;
  weightsFile: string;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(path, 'file is missing');
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new ModelError('is not a JSON object', { field: path, cause: error });
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The weights file of a checkpoint folder: model.safetensors, else pytorch_model.bin. */
export async function findWeights(dir: string): Promise<string> {
  for (const name of ['model.safetensors', 'pytorch_model.bin'])
    if (await pathExists(join(dir, name))) return join(dir, name);
  if (
    (await pathExists(join(dir, 'model.safetensors.index.json'))) ||
    (await pathExists(join(dir, 'pytorch_model.bin.index.json')))
  ) {
    throw new ModelError('sharded checkpoints are not supported (one model.safetensors or pytorch_model.bin)', {
      field: dir,
    });
  }
  throw new NotFoundError(
    join(dir, 'model.safetensors'),
    'no weights (model.safetensors or pytorch_model.bin) in the folder',
  );
}

export async function readWeights(path: string): Promise<StateDict> {
  return path.endsWith('.safetensors') ? readSafetensors(path) : readTorchCheckpoint(path);
}

/** Writes tokenizer.json into `out`: copied when `from` has one, else built from vocab.txt + tokenizer_config.json. */
export async function writeTokenizer(from: string, out: string): Promise<'copied' | 'built'> {
  const target = join(out, 'tokenizer.json');
  if (await pathExists(join(from, 'tokenizer.json'))) {
    if (resolve(from) !== resolve(out)) await copyFile(join(from, 'tokenizer.json'), target);
    return 'copied';
  }
  if (!(await pathExists(join(from, 'vocab.txt'))))
    throw new NotFoundError(
      join(from, 'tokenizer.json'),
      'no tokenizer: neither tokenizer.json nor vocab.txt is in the folder',
    );
  await writeFile(target, await tokenizerJsonFromVocab(join(from, 'vocab.txt'), join(from, 'tokenizer_config.json')));
  return 'built';
}

export function manifestFor(
  config: HfConfig,
  fields: { modelId: string; revision: string; dtype: WrittenManifest['dtype']; family?: ModelFamily; source: string },
): WrittenManifest {
  const maxPositions =
    typeof config['max_position_embeddings'] === 'number'
      ? config['max_position_embeddings']
      : MANIFEST_DEFAULTS.maxPositions;
  const dimension = [config['dim'], config['hidden_size']].find((v): v is number => typeof v === 'number');
  return {
    modelId: fields.modelId,
    revision: fields.revision,
    pooling: 'cls',
    similarity: 'dot',
    ...(dimension !== undefined ? { dimension } : {}),
    queryMaxLength: Math.min(MANIFEST_DEFAULTS.queryMaxLength, maxPositions),
    passageMaxLength: Math.min(MANIFEST_DEFAULTS.passageMaxLength, maxPositions),
    maxPositions,
    graph: GRAPH_FILE,
    output: LAST_HIDDEN_STATE,
    dtype: fields.dtype,
    ...(fields.family ? { family: fields.family } : {}),
    source: fields.source,
    producer: '@dotrank/model-tools',
  };
}

/** Converts a Hugging Face checkpoint folder into a model directory `loadEncoder` can open. */
export async function convertCheckpoint(options: ConvertOptions): Promise<ConvertResult> {
  const dtype = options.dtype ?? 'fp32';
  if (!WEIGHT_DTYPES.includes(dtype))
    throw new ValidationError('dtype', `must be one of ${WEIGHT_DTYPES.join(', ')} (got ${JSON.stringify(dtype)})`);
  const from = resolve(options.from);
  const out = resolve(options.out);
  if (!(await pathExists(from))) throw new NotFoundError(from, 'checkpoint folder does not exist');
  const config = await readJson(join(from, 'config.json'));
  const weightsFile = await findWeights(from);
  options.onStage?.(`reading ${basename(weightsFile)}`);
  const weights = await readWeights(weightsFile);
  const spec = encoderSpec(config, weights);
  options.onStage?.(`building ${spec.family} graph (${dtype})`);
  const modelId = options.modelId ?? basename(from);
  const revision = options.revision ?? `sha256:${(await sha256File(weightsFile)).slice(0, 12)}`;
  const graph = buildEncoderGraph(spec, {
    dtype,
    ...(options.int8Kernel ? { int8Kernel: options.int8Kernel } : {}),
    docString: `${modelId}@${revision} (${spec.family}, ${dtype})`,
    metadata: { modelId, revision, dtype },
  });
  await mkdir(out, { recursive: true });
  const graphPath = join(out, GRAPH_FILE);
  await writeFile(`${graphPath}.tmp`, graph);
  await rename(`${graphPath}.tmp`, graphPath);
  if (from !== out) {
    await copyFile(join(from, 'config.json'), join(out, 'config.json'));
    for (const extra of ['tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt']) {
      if (await pathExists(join(from, extra))) await copyFile(join(from, extra), join(out, extra));
    }
  }
  await writeTokenizer(from, out);
  const manifest = manifestFor(config, {
    modelId,
    revision,
    dtype,
    family: spec.family,
    source: basename(weightsFile),
  });
  await writeFile(join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return { outDir: out, graphPath, manifest, graphBytes: graph.length, weightsFile };
}
