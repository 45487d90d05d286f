import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelError, ValidationError, loadConfig } from '@dotrank/core';
import { tinyModelDir } from '@dotrank/core/testing';
import { encoderOptionsFromConfig, loadEncoder } from '../src/encoder.js';

describe('execution providers', () => {
  it('runs on the CPU provider when asked explicitly', async () => {
    const encoder = await loadEncoder(tinyModelDir(), { executionProviders: ['cpu'] });
    try {
      const [vector] = await encoder.encodeQueries(['boundary layer']);
      expect(vector).toHaveLength(encoder.dimension);
    } finally {
      await encoder.close();
    }
  });

  it('refuses an unknown provider by name', async () => {
    await expect(loadEncoder(tinyModelDir(), { executionProviders: ['tpu' as never] })).rejects.toThrow(
      ValidationError,
    );
    await expect(loadEncoder(tinyModelDir(), { executionProviders: [] })).rejects.toThrow(/executionProviders/);
  });

  it('explains a provider this onnxruntime-node build cannot start (CUDA files are not installed here)', async () => {
    const attempt = loadEncoder(tinyModelDir(), { executionProviders: ['cuda'] });
    await expect(attempt).rejects.toThrow(ModelError);
    await expect(attempt).rejects.toThrow(/execution providers cuda.*GPU workers/);
  });

  it('gives the same vectors with ORT threads spinning or sleeping between ops, and refuses a non-boolean', async () => {
    const texts = ['boundary layer', 'shock wave interaction with a laminar boundary layer'];
    const results: Float32Array[][] = [];
    for (const spinWait of [false, true]) {
      const encoder = await loadEncoder(tinyModelDir(), { spinWait, intraOpThreads: 2 });
      try {
        results.push(await encoder.encodePassages(texts));
      } finally {
        await encoder.close();
      }
    }
    results[1]!.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(results[0]![i]!)));
    await expect(loadEncoder(tinyModelDir(), { spinWait: 'yes' as never })).rejects.toThrow(
      /spinWait: must be a boolean/,
    );
  });
});

describe('inferenceNice (DOTRANK_ORT_NICE)', () => {
  /** nice value of each thread of this process, by thread id (Linux /proc; field 19 of stat). */
  const threadNices = () =>
    new Map(
      readdirSync('/proc/self/task').map((tid) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        return [Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])] as const;
      }),
    );
  it.runIf(process.platform === 'linux')(
    'lowers the inference thread and the threads ONNX Runtime starts from it, never the event loop',
    async () => {
      const before = new Set(threadNices().keys());
      const encoder = await loadEncoder(tinyModelDir(), { inferenceNice: 7, intraOpThreads: 2 });
      const reference = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
      try {
        const [plain] = await reference.encodeQueries(['wing']);
        const [lowered] = await encoder.encodeQueries(['wing']);
        // the same vectors: only the scheduling changes
        expect(Array.from(lowered!)).toEqual(Array.from(plain!));
        const after = threadNices();
        const started = [...after].filter(([tid]) => !before.has(tid));
        expect(started.filter(([, nice]) => nice === 7).length).toBeGreaterThanOrEqual(2);
        expect(after.get(process.pid)).toBe(0);
      } finally {
        await encoder.close();
        await reference.close();
      }
    },
  );
  it('refuses a niceness outside 0-19, naming the option', async () => {
    await expect(loadEncoder(tinyModelDir(), { inferenceNice: 20 })).rejects.toThrow(/inferenceNice/);
    expect(() => loadConfig({ DOTRANK_ORT_NICE: '-1' })).toThrow(/DOTRANK_ORT_NICE/);
  });
});

describe('encoderOptionsFromConfig', () => {
  const queryDefaults = { queryCacheSize: 10_000, queryBatch: { maxSize: 16, waitMs: 2 } };
  it('takes batch size, providers, threads and spinning from the configuration; overrides win, undefined ones do not', () => {
    const config = loadConfig({
      DOTRANK_BATCH_SIZE: '16',
      DOTRANK_ORT_THREADS: '3',
      DOTRANK_ORT_SPIN: '1',
      DOTRANK_ORT_NICE: '5',
    });
    expect(encoderOptionsFromConfig(config)).toEqual({
      batchSize: 16,
      executionProviders: ['cpu'],
      intraOpThreads: 3,
      spinWait: true,
      inferenceNice: 5,
      ...queryDefaults,
    });
    expect(encoderOptionsFromConfig(config, { batchSize: 8, intraOpThreads: undefined })).toEqual({
      batchSize: 8,
      executionProviders: ['cpu'],
      intraOpThreads: 3,
      spinWait: true,
      inferenceNice: 5,
      ...queryDefaults,
    });
    // 0 threads = let ONNX Runtime choose: no intraOpThreads at all
    expect(encoderOptionsFromConfig(loadConfig({}))).toEqual({
      batchSize: 32,
      executionProviders: ['cpu'],
      spinWait: false,
      inferenceNice: 5,
      ...queryDefaults,
    });
  });

  it('takes the query cache and batching from the configuration, and shares through Redis only when given one', () => {
    const config = loadConfig({
      DOTRANK_QUERY_CACHE_SIZE: '0',
      DOTRANK_QUERY_BATCH: '4',
      DOTRANK_BATCH_WAIT_MS: '0',
    });
    const options = encoderOptionsFromConfig(config);
    expect(options).toMatchObject({ queryCacheSize: 0, queryBatch: { maxSize: 4, waitMs: 0 } });
    expect(options.sharedQueryVectors).toBeUndefined();
    const redis = { getBuffer: async () => null, set: async () => 'OK', setex: async () => 'OK' };
    expect(typeof encoderOptionsFromConfig(config, {}, redis).sharedQueryVectors).toBe('function');
    expect(() => loadConfig({ DOTRANK_QUERY_BATCH: '0' })).toThrow(/DOTRANK_QUERY_BATCH/);
  });
});
