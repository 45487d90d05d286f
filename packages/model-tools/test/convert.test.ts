import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelError, NotFoundError } from '@dotrank/core';
import { repoPath } from '@dotrank/core/testing';
import { loadEncoder } from '@dotrank/encoder';
import { buildBertTokenizerJson } from '../src/tokenizer-json.js';
import { buildEncoderGraph } from '../src/build-graph.js';
import { convertCheckpoint } from '../src/convert.js';
import { encoderSpec } from '../src/architecture.js';
import { readSafetensors, writeSafetensors } from '../src/safetensors.js';
import { readTorchCheckpoint } from '../src/torch-checkpoint.js';
import type { StateDict } from '../src/tensor.js';
import { randomDistilbert } from './random-model.js';
import { clsOfTexts, clsVectors, cosine, HUB_FIXTURES, maxAbsDiff, reference, top3 } from './reference.js';

const ref = reference();
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'dotrank-model-tools-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

describe.each([
  ['tiny-distilbert', 'model.safetensors'],
  ['tiny-distilbert', 'pytorch_model.bin'],
  ['tiny-bert', 'model.safetensors'],
  ['tiny-bert', 'pytorch_model.bin'],
])('%s from %s', (model, file) => {
  const expected = ref.models[model]!;
  const load = () =>
    file.endsWith('.bin')
      ? readTorchCheckpoint(join(HUB_FIXTURES, model, file))
      : readSafetensors(join(HUB_FIXTURES, model, file));

  it('fp32 graph reproduces PyTorch last_hidden_state[:, 0] within 1e-4, alone and in a padded batch', async () => {
    const spec = encoderSpec(readJson(join(HUB_FIXTURES, model, 'config.json')), await load());
    const session = await ort.InferenceSession.create(buildEncoderGraph(spec, { dtype: 'fp32' }));
    const alone = await clsOfTexts(session, ref.input_ids);
    alone.forEach((v, i) => expect(maxAbsDiff(v, expected.cls[i]!)).toBeLessThan(1e-4));
    const batch = await clsVectors(session, expected.batch.input_ids, expected.batch.attention_mask);
    batch.forEach((v, i) => expect(maxAbsDiff(v, expected.batch.cls[i]!)).toBeLessThan(1e-4));
    await session.release();
  });
});

describe('convertCheckpoint', () => {
  it("writes a directory loadEncoder opens, with a tokenizer.json built from vocab.txt that gives Python's token ids", async () => {
    const out = join(work, 'distil-fp32');
    const result = await convertCheckpoint({
      from: join(HUB_FIXTURES, 'tiny-distilbert'),
      out,
      modelId: 'fixtures/tiny-distilbert',
    });
    expect(result.manifest).toMatchObject({
      modelId: 'fixtures/tiny-distilbert',
      pooling: 'cls',
      similarity: 'dot',
      dimension: 32,
      maxPositions: 512,
      queryMaxLength: 64,
      passageMaxLength: 256,
      graph: 'model.onnx',
      output: 'last_hidden_state',
      dtype: 'fp32',
    });
    expect(result.manifest.revision).toMatch(/^sha256:[0-9a-f]{12}$/);
    for (const f of ['model.onnx', 'tokenizer.json', 'config.json', 'dotrank.json'])
      expect(existsSync(join(out, f))).toBe(true);
    const encoder = await loadEncoder(out);
    try {
      expect(encoder.dimension).toBe(32);
      const vectors = await encoder.encodePassages(ref.texts);
      vectors.forEach((v, i) => expect(maxAbsDiff(v, ref.models['tiny-distilbert']!.cls[i]!)).toBeLessThan(1e-4));
    } finally {
      await encoder.close();
    }
  });

  it('BERT output feeds token_type_ids through loadEncoder too', async () => {
    const out = join(work, 'bert-fp32');
    await convertCheckpoint({ from: join(HUB_FIXTURES, 'tiny-bert'), out });
    const encoder = await loadEncoder(out);
    try {
      const vectors = await encoder.encodeQueries(ref.queries);
      vectors.forEach((v, i) => expect(maxAbsDiff(v, ref.models['tiny-bert']!.cls[i]!)).toBeLessThan(1e-4));
    } finally {
      await encoder.close();
    }
  });

  it('fp16 stores half the bytes and stays within 5e-3 of PyTorch (fp16 storage, Cast to fp32 at load)', async () => {
    const fp32 = await convertCheckpoint({
      from: join(HUB_FIXTURES, 'tiny-distilbert'),
      out: join(work, 'distil-fp32b'),
    });
    const fp16 = await convertCheckpoint({
      from: join(HUB_FIXTURES, 'tiny-distilbert'),
      out: join(work, 'distil-fp16'),
      dtype: 'fp16',
    });
    expect(fp16.graphBytes).toBeLessThan(fp32.graphBytes * 0.55);
    const session = await ort.InferenceSession.create(fp16.graphPath);
    const vectors = await clsOfTexts(session, ref.input_ids);
    vectors.forEach((v, i) => {
      expect(maxAbsDiff(v, ref.models['tiny-distilbert']!.cls[i]!)).toBeLessThan(5e-3);
      expect(cosine(v, ref.models['tiny-distilbert']!.cls[i]!)).toBeGreaterThan(0.9999);
    });
    await session.release();
  });

  it('int8 keeps cosine >= 0.99 to fp32 on the fixture checkpoints, with both int8 kernels', async () => {
    for (const model of ['tiny-distilbert', 'tiny-bert']) {
      for (const int8Kernel of ['matmul-integer', 'dynamic-quantize-matmul'] as const) {
        const result = await convertCheckpoint({
          from: join(HUB_FIXTURES, model),
          out: join(work, `${model}-int8-${int8Kernel}`),
          dtype: 'int8',
          int8Kernel,
        });
        const session = await ort.InferenceSession.create(result.graphPath);
        const vectors = await clsOfTexts(session, ref.input_ids);
        vectors.forEach((v, i) => expect(cosine(v, ref.models[model]!.cls[i]!)).toBeGreaterThanOrEqual(0.99));
        await session.release();
      }
    }
  });

  it('int8 keeps the top-3 passage order of fp32 for >= 90% of the fixture queries (content-sensitive random model)', async () => {
    // An untrained checkpoint (0.02-std init, like the fixtures) gives nearly the same [CLS] vector for every text, so
    // passage scores tie to the 4th digit and any rounding (fp16 included) reorders them. Ranking stability is only
    // meaningful where fp32 separates the passages: a random model with unit-variance embeddings and 1/sqrt(fan_in)
    // linear layers, generated here, in the fixture checkpoints' family (DistilBERT, TAS-B vocab size).
    const { config, weights } = randomDistilbert(
      { vocab: 30522, dim: 128, layers: 2, heads: 4, ffn: 512, maxPositions: 512 },
      7,
    );
    const spec = encoderSpec(config, weights);
    const nq = ref.queries.length;
    const run = async (bytes: Uint8Array) => {
      const session = await ort.InferenceSession.create(bytes);
      const v = await clsOfTexts(session, ref.input_ids);
      await session.release();
      return v;
    };
    const fp32 = await run(buildEncoderGraph(spec, { dtype: 'fp32' }));
    for (const int8Kernel of ['matmul-integer', 'dynamic-quantize-matmul'] as const) {
      const int8 = await run(buildEncoderGraph(spec, { dtype: 'int8', int8Kernel }));
      int8.forEach((v, i) => expect(cosine(v, fp32[i]!)).toBeGreaterThanOrEqual(0.99));
      let same = 0;
      for (let q = 0; q < nq; q++)
        if (isDeepStrictEqual(top3(fp32[q]!, fp32.slice(nq)), top3(int8[q]!, int8.slice(nq)))) same++;
      expect(same / nq).toBeGreaterThanOrEqual(0.9);
    }
  });

  it('reads the TAS-B config.json shape and distilbert.-prefixed weight names', async () => {
    // the real TAS-B config with the fixture's small sizes; the weights renamed as a task head saves them
    const base = readJson(join(repoPath('models/tas-b'), 'config.json'));
    const config = { ...base, dim: 32, hidden_dim: 64, n_heads: 2, n_layers: 2 };
    const weights = await readSafetensors(join(HUB_FIXTURES, 'tiny-distilbert', 'model.safetensors'));
    const prefixed: StateDict = new Map([...weights].map(([k, v]) => [`distilbert.${k}`, v]));
    const dir = join(work, 'prefixed');
    const { mkdir, writeFile, copyFile } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    await writeSafetensors(join(dir, 'model.safetensors'), prefixed);
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    await copyFile(join(HUB_FIXTURES, 'tiny-distilbert', 'vocab.txt'), join(dir, 'vocab.txt'));
    const result = await convertCheckpoint({ from: dir, out: join(dir, 'out') });
    const session = await ort.InferenceSession.create(result.graphPath);
    const vectors = await clsOfTexts(session, ref.input_ids.slice(0, 3));
    vectors.forEach((v, i) => expect(maxAbsDiff(v, ref.models['tiny-distilbert']!.cls[i]!)).toBeLessThan(1e-4));
    await session.release();
  });

  it('names what is missing or unsupported', async () => {
    await expect(convertCheckpoint({ from: join(work, 'nope'), out: join(work, 'x') })).rejects.toThrow(NotFoundError);
    await expect(
      convertCheckpoint({ from: join(HUB_FIXTURES, 'tiny-distilbert-tokenizer-json'), out: join(work, 'x') }),
    ).rejects.toThrow(/config\.json/);
    const { config, weights } = randomDistilbert(
      { vocab: 10, dim: 8, layers: 1, heads: 2, ffn: 16, maxPositions: 8 },
      1,
    );
    expect(() => encoderSpec({ ...config, model_type: 'roberta' }, weights)).toThrow(
      /model_type "roberta" is not supported/,
    );
    expect(() => encoderSpec({ ...config, dim: 16 }, weights)).toThrow(
      /embeddings\.word_embeddings\.weight has shape \[10, 8\], config says \[10, 16\]/,
    );
    weights.delete('transformer.layer.0.ffn.lin1.weight');
    expect(() => encoderSpec(config, weights)).toThrow(ModelError);
    expect(() => encoderSpec(config, weights)).toThrow(/transformer\.layer\.0\.ffn\.lin1\.weight/);
  });
});

describe('tokenizer.json from vocab.txt', () => {
  it('equals the TAS-B tokenizer.json built from the same vocab.txt', async () => {
    const dir = repoPath('models/tas-b');
    const built = buildBertTokenizerJson(
      await readFile(join(dir, 'vocab.txt'), 'utf8'),
      readJson(join(dir, 'tokenizer_config.json')),
    );
    expect(built).toEqual(readJson(join(dir, 'tokenizer.json')));
  });

  it('follows tokenizer_config: lowercase and strip_accents', () => {
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a'].join('\n');
    const cased = buildBertTokenizerJson(vocab, { do_lower_case: false, strip_accents: true }) as {
      normalizer: Record<string, unknown>;
      post_processor: { special_tokens: Record<string, { ids: number[] }> };
    };
    expect(cased.normalizer).toMatchObject({ lowercase: false, strip_accents: true });
    expect(cased.post_processor.special_tokens['[CLS]']!.ids).toEqual([2]);
    expect(() => buildBertTokenizerJson('a\nb', {})).toThrow(/\[PAD\] is not in vocab\.txt/);
  });
});
