import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { repoPath } from '@dotrank/core/testing';
import { loadEncoder } from '../src/encoder.js';
import { readManifest } from '../src/manifest.js';
import { maxAbsDiff, modelDirVariant, removeDir, tinyDir, vectorReference } from './helpers.js';

const reference = vectorReference();
const passages = reference.items.filter((i) => i.kind === 'passage').slice(0, 10);
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => removeDir(d)));
});

describe('model directories without dotrank.json', () => {
  it('reads an optimum-cli export layout (onnx/model.onnx, config.json, 1_Pooling/config.json) with no extra file', async () => {
    const dir = await modelDirVariant(
      tinyDir,
      {
        '1_Pooling/config.json': JSON.stringify({
          word_embedding_dimension: 32,
          pooling_mode_cls_token: false,
          pooling_mode_mean_tokens: true,
        }),
      },
      { 'onnx/model.onnx': 'model.onnx', 'tokenizer.json': 'tokenizer.json', 'config.json': 'config.json' },
    );
    dirs.push(dir);
    const manifest = await readManifest(dir);
    expect(manifest).toMatchObject({
      pooling: 'mean',
      similarity: 'dot',
      dimension: 32,
      maxPositions: 512,
      queryMaxLength: 64,
      passageMaxLength: 256,
      graph: 'onnx/model.onnx',
      output: 'last_hidden_state',
    });
    expect(manifest.revision).toMatch(/^sha256:[0-9a-f]{12}$/);
    const encoder = await loadEncoder(dir);
    try {
      const vectors = await encoder.encodePassages(passages.map((p) => p.text));
      expect(Math.max(...passages.map((p, i) => maxAbsDiff(vectors[i]!, p.mean)))).toBeLessThan(1e-4);
    } finally {
      await encoder.close();
    }
  });

  it('reads a transformers layout (model.onnx beside config.json): TAS-B defaults, CLS and dot product', async () => {
    const dir = await modelDirVariant(tinyDir, { 'dotrank.json': null });
    dirs.push(dir);
    const encoder = await loadEncoder(dir);
    try {
      expect(encoder.manifest).toMatchObject({ pooling: 'cls', similarity: 'dot', dimension: 32, graph: 'model.onnx' });
      const vectors = await encoder.encodePassages(passages.map((p) => p.text));
      expect(Math.max(...passages.map((p, i) => maxAbsDiff(vectors[i]!, p.cls)))).toBeLessThan(1e-4);
    } finally {
      await encoder.close();
    }
  });

  it('takes cosine from a sentence-transformers Normalize module', async () => {
    const modules = [
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
      { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
    ];
    const dir = await modelDirVariant(tinyDir, { 'dotrank.json': null, 'modules.json': JSON.stringify(modules) });
    dirs.push(dir);
    expect((await readManifest(dir)).similarity).toBe('cosine');
  });

  it('lets dotrank.json override what the directory says', async () => {
    const manifest = JSON.parse(await readFile(`${tinyDir}/dotrank.json`, 'utf8')) as Record<string, unknown>;
    const dir = await modelDirVariant(tinyDir, {
      'dotrank.json': JSON.stringify({ ...manifest, pooling: 'cls', queryMaxLength: 16, passageMaxLength: 512 }),
      '1_Pooling/config.json': JSON.stringify({ pooling_mode_mean_tokens: true }),
    });
    dirs.push(dir);
    expect(await readManifest(dir)).toMatchObject({ pooling: 'cls', queryMaxLength: 16, passageMaxLength: 512 });
  });

  it('reads the real TAS-B directory layout and says the graph is missing', async () => {
    // No graph in models/tas-b (weights are not shipped): readManifest must say exactly that.
    await expect(readManifest(repoPath('models/tas-b'))).rejects.toThrow(
      /no ONNX graph .*model\.onnx and onnx\/model\.onnx/,
    );
  });
});
