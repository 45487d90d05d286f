// The dense contract on the embedded source, exact and both HNSW backends (built-in JS, hnswlib-node), with the real
// tiny ONNX fixture model.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { tinyModelDir } from '@dotrank/core/testing';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { createDenseSource } from '../src/source.js';
import { denseSourceContract } from '../src/testing/dense-contract.js';
import { hnswlibOrSkipReason } from '../src/testing/hnswlib.js';

let encoder: Encoder;
let dir: string;
beforeAll(async () => {
  encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
  dir = await mkdtemp(join(tmpdir(), 'dotrank-dense-contract-'));
});
afterAll(async () => {
  await encoder?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

denseSourceContract(
  'embedded exact',
  () => createDenseSource({ encoder }),
  () => encoder,
);
denseSourceContract(
  'embedded ann (JS HNSW), persisted',
  () => createDenseSource({ encoder, mode: 'ann', annBackend: 'js', dir: join(dir, 'ann') }),
  () => encoder,
);

const hnswlib = hnswlibOrSkipReason();
if ('reason' in hnswlib) console.warn(`skipping the hnswlib dense contract: ${hnswlib.reason}`);
else
  denseSourceContract(
    'embedded ann (hnswlib), persisted',
    () => createDenseSource({ encoder, mode: 'ann', annBackend: 'hnswlib', dir: join(dir, 'hnswlib') }),
    () => encoder,
  );
