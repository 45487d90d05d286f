// `dotrank serve --first-stage dense|hybrid`: the API's first stage is the dense (or hybrid) source built beside the
// BM25 index, with queries encoded in the API process (real embedded BM25, real tiny ONNX model).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@dotrank/core';
import { CONTRACT_PASSAGES, tinyModelDir } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { openFirstStage } from '@dotrank/dense';
import { loadEncoder } from '@dotrank/encoder';
import { startServer } from '../src/index.js';

describe('startServer with a dense or hybrid first stage', () => {
  const config = loadConfig({});
  let root: string;
  let indexDir: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dotrank-api-first-stage-'));
    indexDir = join(root, 'index');
    const bm25 = await createEmbeddedSource({ dir: indexDir });
    await bm25.index(CONTRACT_PASSAGES);
    const encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
    const dense = await openFirstStage(config, {
      firstStage: 'dense',
      bm25,
      encoder,
      dataDir: indexDir,
      passages: () => CONTRACT_PASSAGES,
    });
    expect(await dense.count()).toBe(CONTRACT_PASSAGES.length);
    await dense.close();
    await bm25.close();
    await encoder.close();
  }, 120_000);

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  for (const firstStage of ['dense', 'hybrid'] as const) {
    it(`serves /search from the ${firstStage} first stage`, async () => {
      const server = await startServer(config, {
        indexDir,
        model: tinyModelDir(),
        inProcess: true,
        firstStage,
        port: 0,
        host: '127.0.0.1',
        logger: false,
      });
      try {
        // no passage contains "zeppelin": BM25 alone finds nothing, a dense first stage still ranks every passage
        const response = await fetch(`${server.url}/search?q=zeppelin&fusion=bm25&k=3`);
        expect(response.status).toBe(200);
        const body = (await response.json()) as { results: { id: string; rank: number }[]; degraded: boolean };
        expect(body.results.map((r) => r.rank)).toEqual([1, 2, 3]);
        const reranked = (await (await fetch(`${server.url}/search?q=boundary%20layer&fusion=tasb&k=5`)).json()) as {
          results: { id: string }[];
          degraded: boolean;
        };
        expect(reranked.degraded).toBe(false);
        expect(reranked.results).toHaveLength(5);
      } finally {
        await server.close();
      }
    }, 120_000);
  }

  it('says how to build the dense index when there is none', async () => {
    const empty = join(root, 'other-index');
    const bm25 = await createEmbeddedSource({ dir: empty });
    await bm25.index(CONTRACT_PASSAGES);
    await bm25.close();
    const attempt = startServer(config, {
      indexDir: empty,
      model: tinyModelDir(),
      inProcess: true,
      firstStage: 'dense',
      port: 0,
      logger: false,
    });
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(/--first-stage: no dense index.*dotrank eval/);
  }, 120_000);
});
