// openFirstStage with the real embedded BM25, the real tiny ONNX model and a temporary data dir.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@dotrank/core';
import { CONTRACT_PASSAGES, tinyModelDir } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { denseDirFor, openFirstStage } from '../src/index.js';

describe('openFirstStage', () => {
  let encoder: Encoder;
  let root: string;
  const config = loadConfig({});
  beforeAll(async () => {
    encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
    root = await mkdtemp(join(tmpdir(), 'dotrank-first-stage-'));
  });
  afterAll(async () => {
    await encoder?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('bm25 returns the lexical source; dense builds beside the BM25 dir once, then reuses it; hybrid fuses', async () => {
    const dataDir = join(root, 'index', 'contract');
    const bm25 = await createEmbeddedSource({ dir: dataDir });
    await bm25.index(CONTRACT_PASSAGES);
    expect(await openFirstStage(config, { firstStage: 'bm25', bm25, dataDir })).toBe(bm25);

    let built = 0;
    const dense = await openFirstStage(config, { firstStage: 'dense', bm25, encoder, dataDir, passages: () => CONTRACT_PASSAGES, onIndexed: () => built++ });
    expect(dense.kind).toBe('dense');
    expect(await dense.count()).toBe(5);
    expect(built).toBe(1);
    expect(denseDirFor(dataDir, encoder)).toBe(join(`${dataDir}.dense`, 'dotrank_tiny-tasb-random@seed-20261124'));

    const again = await openFirstStage(config, {
      firstStage: 'hybrid',
      bm25,
      encoder,
      dataDir,
      passages: () => {
        throw new Error('the saved dense index should have been reused');
      },
    });
    expect(again.kind).toBe('hybrid');
    const hits = await again.search('boundary layer', { k: 5 });
    expect(hits).toHaveLength(5);
    expect(hits.filter((h) => 'bm25Score' in h && h.bm25Score !== undefined).map((h) => h.id).sort()).toEqual(['p1', 'p2', 'p4']);
    expect((await dense.search('boundary layer', { k: 5 })).map((c) => c.id)).toEqual((await (await openFirstStage(config, { firstStage: 'dense', bm25, encoder, dataDir })).search('boundary layer', { k: 5 })).map((c) => c.id));
  });

  it('names the missing model and a bad stage', async () => {
    const bm25 = await createEmbeddedSource();
    await expect(openFirstStage(config, { firstStage: 'dense', bm25, dataDir: root })).rejects.toThrow(/--model: .*DOTRANK_MODEL/);
    await expect(openFirstStage(config, { firstStage: 'colbert' as never, bm25, dataDir: root })).rejects.toThrow(/--first-stage/);
  });
});
