import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ModelError, NotFoundError, pathExists } from '@dotrank/core';
import { MANIFEST_FILE } from '@dotrank/encoder';
import type { Int8Kernel, WeightDtype } from './build-graph.js';
import { convertCheckpoint, GRAPH_FILE, manifestFor, writeTokenizer, type WrittenManifest } from './convert.js';
import {
  downloadFile,
  fileMetadata,
  repoInfo,
  validateRepoId,
  type DownloadProgress,
  type DownloadResult,
  type HubOptions,
} from './hub.js';

export interface PullOptions extends HubOptions {
  /** Hub id, e.g. `sebastian-hofstaetter/distilbert-dot-tas_b-b256-msmarco`. */
  repo: string;
  /** Output model directory (see defaultModelDir). */
  out: string;
  dtype?: WeightDtype;
  int8Kernel?: Int8Kernel;
  /** Read the checkpoint from this local folder instead of the hub. */
  from?: string;
  /** Use the repo's own ONNX export (onnx/model.onnx or model.onnx) when it has one, instead of converting. */
  preferOnnx?: boolean;
  /** Keep the downloaded checkpoint in `<out>/.download` after converting (default: removed). */
  keepDownloads?: boolean;
  onProgress?: (progress: DownloadProgress) => void;
  onStage?: (stage: string) => void;
}

export interface PullResult {
  outDir: string;
  manifest: WrittenManifest;
  downloads: DownloadResult[];
  /** `converted` from weights, or `onnx-export` when the hub's ONNX graph was used. */
  mode: 'converted' | 'onnx-export';
}

/** `<dataDir>/models/<hub id with / -> __>` */
export function defaultModelDir(dataDir: string, repo: string): string {
  return join(resolve(dataDir), 'models', validateRepoId(repo).replace(/\//g, '__'));
}

const ONNX_CANDIDATES = ['onnx/model.onnx', 'model.onnx'];

/** `pullModel` from a local checkpoint folder: its ONNX export when preferred and present, else converted. */
async function pullFromFolder(
  from: string,
  out: string,
  repo: string,
  revision: string,
  options: PullOptions,
): Promise<PullResult> {
  if (options.preferOnnx) {
    for (const candidate of ONNX_CANDIDATES) {
      if (await pathExists(join(from, candidate)))
        return useOnnxExport(from, candidate, out, repo, revision, [], options);
    }
  }
  const result = await convertCheckpoint({
    from,
    out,
    dtype: options.dtype ?? 'fp32',
    modelId: repo,
    ...(options.int8Kernel ? { int8Kernel: options.int8Kernel } : {}),
    ...(options.onStage ? { onStage: options.onStage } : {}),
  });
  return { outDir: out, manifest: result.manifest, downloads: [], mode: 'converted' };
}

/** The first of `candidates` the repo has, asked in order (each question may cost a request). */
async function firstPresent(
  candidates: string[],
  has: (file: string) => Promise<boolean>,
): Promise<string | undefined> {
  for (const candidate of candidates) if (await has(candidate)) return candidate;
  return undefined;
}

/**
 * Fetches a model from the hub (or a local folder) and leaves `out` loadable by `@dotrank/encoder`'s loadEncoder:
 * model.onnx, tokenizer.json, config.json and dotrank.json.
 */
export async function pullModel(options: PullOptions): Promise<PullResult> {
  const repo = validateRepoId(options.repo);
  const out = resolve(options.out);
  const revision = options.revision ?? 'main';
  await mkdir(out, { recursive: true });

  if (options.from) return pullFromFolder(resolve(options.from), out, repo, revision, options);

  const info = await repoInfo(repo, options);
  const present = new Map<string, boolean>();
  const has = async (file: string): Promise<boolean> => {
    if (info) return info.files.includes(file);
    if (!present.has(file)) present.set(file, (await fileMetadata(repo, file, options)).exists);
    return present.get(file)!;
  };
  const resolvedRevision = info?.sha ?? revision;
  const hubOptions: HubOptions = { ...options, revision: info?.sha ?? revision };
  const downloadDir = join(out, '.download');
  const downloads: DownloadResult[] = [];
  const fetchFile = async (file: string, dest = join(downloadDir, file)): Promise<string> => {
    options.onStage?.(`downloading ${file}`);
    downloads.push(
      await downloadFile(repo, file, dest, {
        ...hubOptions,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      }),
    );
    return dest;
  };

  if (!(await has('config.json')))
    throw new NotFoundError(`${repo}/config.json`, `the repo has no config.json at revision ${revision}`);
  await fetchFile('config.json');
  if (await has('tokenizer.json')) await fetchFile('tokenizer.json');
  else if (await has('vocab.txt')) {
    await fetchFile('vocab.txt');
    for (const extra of ['tokenizer_config.json', 'special_tokens_map.json'])
      if (await has(extra)) await fetchFile(extra);
  } else throw new NotFoundError(`${repo}/tokenizer.json`, 'the repo has neither tokenizer.json nor vocab.txt');

  if (options.preferOnnx) {
    for (const candidate of ONNX_CANDIDATES) {
      if (await has(candidate)) {
        await fetchFile(candidate);
        const result = await useOnnxExport(downloadDir, candidate, out, repo, resolvedRevision, downloads, options);
        if (!options.keepDownloads) await rm(downloadDir, { recursive: true, force: true });
        return result;
      }
    }
    options.onStage?.('the repo has no ONNX export; converting the weights');
  }
  const weights = await firstPresent(['model.safetensors', 'pytorch_model.bin'], has);
  if (!weights)
    throw new NotFoundError(
      `${repo}/model.safetensors`,
      'the repo has no model.safetensors or pytorch_model.bin (sharded checkpoints are not supported)',
    );
  await fetchFile(weights);
  const result = await convertCheckpoint({
    from: downloadDir,
    out,
    dtype: options.dtype ?? 'fp32',
    modelId: repo,
    revision: resolvedRevision,
    ...(options.int8Kernel ? { int8Kernel: options.int8Kernel } : {}),
    ...(options.onStage ? { onStage: options.onStage } : {}),
  });
  if (!options.keepDownloads) await rm(downloadDir, { recursive: true, force: true });
  return { outDir: out, manifest: result.manifest, downloads, mode: 'converted' };
}

async function useOnnxExport(
  from: string,
  graphFile: string,
  out: string,
  repo: string,
  revision: string,
  downloads: DownloadResult[],
  options: PullOptions,
): Promise<PullResult> {
  if (options.dtype && options.dtype !== 'fp32') {
    throw new ModelError(
      `--prefer-onnx uses the repo's own graph as it is; it cannot also apply --dtype ${options.dtype} (drop one of the two)`,
      { field: 'dtype' },
    );
  }
  options.onStage?.(`using the repo's ONNX export ${graphFile}`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(join(from, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ModelError('config.json is missing or not JSON', { field: join(from, 'config.json'), cause: error });
  }
  await copyFile(join(from, graphFile), join(out, GRAPH_FILE));
  if (resolve(from) !== resolve(out)) await copyFile(join(from, 'config.json'), join(out, 'config.json'));
  await writeTokenizer(from, out);
  const manifest = manifestFor(config, { modelId: repo, revision, dtype: 'onnx-export', source: graphFile });
  await writeFile(join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return { outDir: out, manifest, downloads, mode: 'onnx-export' };
}
