// openFirstStage with the real embedded BM25, the real tiny ONNX model and a temporary data dir.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@dotrank/core';
import { CONTRACT_PASSAGES, tinyModelDir } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { denseDirFor, openFirstStage } from '../src/first-stage.js';
import type { DenseManifest } from '../src/matrix.js';
import type { DenseSource } from '../src/source.js';
import { hnswlibOrSkipReason } from '../src/testing/hnswlib.js';

const hnswlib = hnswlibOrSkipReason();
if ('reason' in hnswlib) console.warn(`skipping the first-stage hnswlib test: ${hnswlib.reason}`);

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
    const dense = await openFirstStage(config, {
      firstStage: 'dense',
      bm25,
      encoder,
      dataDir,
      passages: () => CONTRACT_PASSAGES,
      onIndexed: () => built++,
    });
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
    expect(
      hits
        .filter((h) => 'bm25Score' in h && h.bm25Score !== undefined)
        .map((h) => h.id)
        .sort(),
    ).toEqual(['p1', 'p2', 'p4']);
    expect((await dense.search('boundary layer', { k: 5 })).map((c) => c.id)).toEqual(
      (
        await (
          await openFirstStage(config, { firstStage: 'dense', bm25, encoder, dataDir })
        ).search('boundary layer', { k: 5 })
      ).map((c) => c.id),
    );
  });

  it.skipIf('reason' in hnswlib)(
    'DOTRANK_DENSE_MODE=ann adds an HNSW graph (hnswlib by default) to a saved exact index, once',
    async () => {
      const dataDir = join(root, 'index', 'ann');
      const bm25 = await createEmbeddedSource({ dir: dataDir });
      await bm25.index(CONTRACT_PASSAGES);
      const exact = (await openFirstStage(config, {
        firstStage: 'dense',
        bm25,
        encoder,
        dataDir,
        passages: () => CONTRACT_PASSAGES,
      })) as DenseSource;
      expect(exact.mode).toBe('exact');
      expect(exact.vectors.currentGraph).toBeUndefined();
      const manifest = async () =>
        JSON.parse(await readFile(join(denseDirFor(dataDir, encoder), 'dense.json'), 'utf8')) as DenseManifest;

      const notices: string[] = [];
      const annConfig = loadConfig({ DOTRANK_DENSE_MODE: 'ann', DOTRANK_HNSW_EF_SEARCH: '64' });
      const ann = (await openFirstStage(annConfig, {
        firstStage: 'dense',
        bm25,
        encoder,
        dataDir,
        onNotice: (m) => notices.push(m),
      })) as DenseSource;
      expect(ann.mode).toBe('ann');
      expect(ann.annStatus).toEqual({ backend: 'hnswlib' });
      expect(ann.vectors.currentGraph).toMatchObject({ backend: 'hnswlib', efSearch: 64, size: 5 });
      expect((await manifest()).hnswlib).toMatchObject({ count: 5, efSearch: 64 });
      expect((await ann.search('boundary layer', { k: 5 })).map((c) => c.id)).toEqual(
        (await exact.search('boundary layer', { k: 5 })).map((c) => c.id),
      );
      // reopened: the saved graph is loaded, nothing is rebuilt
      const again = (await openFirstStage(annConfig, {
        firstStage: 'dense',
        bm25,
        encoder,
        dataDir,
        onNotice: (m) => notices.push(m),
      })) as DenseSource;
      expect(again.vectors.currentGraph?.backend).toBe('hnswlib');
      expect(notices).toEqual([]);
      // DOTRANK_ANN_BACKEND=js: the built-in graph is built and saved instead
      const js = (await openFirstStage(loadConfig({ DOTRANK_DENSE_MODE: 'ann', DOTRANK_ANN_BACKEND: 'js' }), {
        firstStage: 'dense',
        bm25,
        encoder,
        dataDir,
      })) as DenseSource;
      expect(js.vectors.currentGraph?.backend).toBe('js');
      const saved = await manifest();
      expect(saved.hnsw?.count).toBe(5);
      expect(saved.hnswlib).toBeUndefined();
    },
  );

  it('names the missing model and a bad stage', async () => {
    const bm25 = await createEmbeddedSource();
    await expect(openFirstStage(config, { firstStage: 'dense', bm25, dataDir: root })).rejects.toThrow(
      /--model: .*DOTRANK_MODEL/,
    );
    await expect(openFirstStage(config, { firstStage: 'colbert' as never, bm25, dataDir: root })).rejects.toThrow(
      /--first-stage/,
    );
  });
});
