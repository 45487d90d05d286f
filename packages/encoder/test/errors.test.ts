import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ModelError, NotFoundError, ValidationError } from '@dotrank/core';
import { loadEncoder } from '../src/encoder.js';
import type { Encoder } from '../src/encoder.js';
import { fixturesDir, modelDirVariant, pooledDir, removeDir, tinyDir } from './helpers.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => removeDir(d)));
});

async function variant(changes: Record<string, string | null>): Promise<string> {
  const dir = await modelDirVariant(tinyDir, changes);
  dirs.push(dir);
  return dir;
}

async function manifestWith(extra: Record<string, unknown>): Promise<string> {
  const manifest = JSON.parse(await readFile(join(tinyDir, 'dotrank.json'), 'utf8')) as Record<string, unknown>;
  return JSON.stringify({ ...manifest, ...extra });
}

/** Our errors carry one clear line: the file or field and the problem, no ORT stack. */
function expectClear(error: unknown, type: new (...args: never[]) => Error, pattern: RegExp): void {
  expect(error).toBeInstanceOf(type);
  const message = (error as Error).message;
  expect(message).toMatch(pattern);
  expect(message).not.toMatch(/\n\s+at /);
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('model directory errors', () => {
  it('names a missing directory', async () => {
    expectClear(
      await failure(loadEncoder('/nonexistent/model')),
      NotFoundError,
      /modelDir: .*\/nonexistent\/model does not exist/,
    );
  });

  it('names a missing tokenizer.json', async () => {
    expectClear(
      await failure(loadEncoder(await variant({ 'tokenizer.json': null }))),
      NotFoundError,
      /tokenizer\.json.*missing/,
    );
  });

  it('names a missing graph', async () => {
    expectClear(
      await failure(loadEncoder(await variant({ 'model.onnx': null, 'dotrank.json': null }))),
      NotFoundError,
      /no ONNX graph/,
    );
    expectClear(
      await failure(loadEncoder(await variant({ 'dotrank.json': await manifestWith({ graph: 'onnx/other.onnx' }) }))),
      NotFoundError,
      /onnx\/other\.onnx.*does not exist/,
    );
  });

  it('reports a corrupt graph as a ModelError naming the file, without the ORT stack', async () => {
    const dir = await variant({ 'model.onnx': 'this is not a protobuf' });
    expectClear(await failure(loadEncoder(dir)), ModelError, /model\.onnx: ONNX Runtime cannot load the graph/);
  });

  it('names invalid manifest fields', async () => {
    expectClear(
      await failure(loadEncoder(await variant({ 'dotrank.json': await manifestWith({ pooling: 'max' }) }))),
      ConfigError,
      /dotrank\.json: pooling: must be one of "cls", "mean"/,
    );
    expectClear(
      await failure(loadEncoder(await variant({ 'dotrank.json': await manifestWith({ passageMaxLength: 600 }) }))),
      ConfigError,
      /passageMaxLength: must be an integer between 2 and 512/,
    );
    expectClear(
      await failure(loadEncoder(await variant({ 'dotrank.json': '{ not json' }))),
      ModelError,
      /dotrank\.json: is not valid JSON/,
    );
  });

  it('reports a dimension mismatch', async () => {
    const dir = await variant({ 'dotrank.json': await manifestWith({ dimension: 768 }) });
    expectClear(
      await failure(loadEncoder(dir)),
      ModelError,
      /dimension mismatch: graph output "last_hidden_state" has 32 dimensions but the manifest says 768/,
    );
  });

  it('reports an output the graph does not have', async () => {
    const dir = await variant({ 'dotrank.json': await manifestWith({ output: 'pooler_output' }) });
    expectClear(
      await failure(loadEncoder(dir)),
      ModelError,
      /graph has no output "pooler_output".*outputs: last_hidden_state/,
    );
  });

  it('reports a graph whose inputs do not fit (position_ids wanted, no attention_mask)', async () => {
    const dir = await variant({ 'dotrank.json': await manifestWith({ graph: 'wrong-inputs.onnx' }) });
    await copyFile(join(fixturesDir, 'bad-graphs', 'wrong-inputs.onnx'), join(dir, 'wrong-inputs.onnx'));
    expectClear(
      await failure(loadEncoder(dir)),
      ModelError,
      /wrong-inputs\.onnx: graph has no "attention_mask" input \(inputs: input_ids, position_ids\)/,
    );
  });

  it('reports a pooled graph whose width differs from the manifest', async () => {
    const dir = await variant({
      'dotrank.json': await manifestWith({ graph: 'pooled.onnx', output: 'sentence_embedding' }),
    });
    await copyFile(join(pooledDir, 'model.onnx'), join(dir, 'pooled.onnx'));
    expectClear(
      await failure(loadEncoder(dir)),
      ModelError,
      /dimension mismatch: graph output "sentence_embedding" has 8 dimensions but the manifest says 32/,
    );
  });

  it('names bad options', async () => {
    expectClear(
      await failure(loadEncoder(tinyDir, { batchSize: 0 })),
      ValidationError,
      /batchSize: must be an integer between 1 and 4096/,
    );
    expectClear(
      await failure(loadEncoder(tinyDir, { queryMaxLength: 513 })),
      ValidationError,
      /queryMaxLength: must be an integer between 2 and 512/,
    );
    expectClear(await failure(loadEncoder(tinyDir, { intraOpThreads: -1 })), ValidationError, /intraOpThreads/);
  });
});

describe('input errors', () => {
  let encoder: Encoder;
  beforeAll(async () => {
    encoder = await loadEncoder(tinyDir);
  });
  afterAll(async () => {
    await encoder?.close();
  });

  it('rejects empty, blank and non-string texts naming the index', async () => {
    expectClear(await failure(encoder.encodePassages(['fine', ''])), ValidationError, /^texts\[1\]: must not be empty/);
    expectClear(await failure(encoder.encodeQueries(['  \t'])), ValidationError, /^texts\[0\]: must not be empty/);
    expectClear(
      await failure(encoder.encodeQueries(['ok', 42 as unknown as string])),
      ValidationError,
      /^texts\[1\]: must be a string \(got number\)/,
    );
    expectClear(await failure(encoder.encodeQueries([null as unknown as string])), ValidationError, /got null/);
    expectClear(
      await failure(encoder.encodeQueries('text' as unknown as string[])),
      ValidationError,
      /^texts: must be an array/,
    );
  });

  it('rejects an unknown kind', async () => {
    expectClear(
      await failure(encoder.encode(['x'], 'document' as 'query')),
      ValidationError,
      /^kind: must be "query" or "passage"/,
    );
  });

  it('refuses work after close', async () => {
    const other = await loadEncoder(tinyDir);
    await other.close();
    expectClear(await failure(other.encodeQueries(['x'])), ModelError, /encoder is closed/);
  });
});

describe('a truncated graph file', () => {
  it('fails cleanly when the graph file is cut short', async () => {
    const dir = await variant({});
    const bytes = await readFile(join(dir, 'model.onnx'));
    await writeFile(join(dir, 'model.onnx'), bytes.subarray(0, 1000));
    expectClear(await failure(loadEncoder(dir)), ModelError, /ONNX Runtime cannot load the graph/);
  });
});

describe('ORT messages', () => {
  it('lose the C++ source location and signature', async () => {
    const { cleanOrtMessage } = await import('../src/encoder.js');
    const raw =
      'Load model from /tmp/x/model.onnx failed:/onnxruntime_src/onnxruntime/core/graph/model.cc:202 onnxruntime::Model::Model(onnx::ModelProto&&, const onnxruntime::PathString&, const onnxruntime::logging::Logger&) Unsupported model IR version: 11, max supported IR version: 10\nstack';
    expect(cleanOrtMessage(new Error(raw))).toBe(
      'Load model from /tmp/x/model.onnx failed:Unsupported model IR version: 11, max supported IR version: 10',
    );
    expect(cleanOrtMessage(new Error('Load model failed:Protobuf parsing failed.'))).toBe(
      'Load model failed:Protobuf parsing failed.',
    );
  });
});
