import { describe, expect, it } from 'vitest';
import { ModelError, ValidationError } from '@dotrank/core';
import { tinyModelDir } from '@dotrank/core/testing';
import { loadEncoder } from '../src/index.js';

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
    await expect(loadEncoder(tinyModelDir(), { executionProviders: ['tpu' as never] })).rejects.toThrow(ValidationError);
    await expect(loadEncoder(tinyModelDir(), { executionProviders: [] })).rejects.toThrow(/executionProviders/);
  });

  it('explains a provider this onnxruntime-node build cannot start (CUDA files are not installed here)', async () => {
    const attempt = loadEncoder(tinyModelDir(), { executionProviders: ['cuda'] });
    await expect(attempt).rejects.toThrow(ModelError);
    await expect(attempt).rejects.toThrow(/execution providers cuda.*GPU workers/);
  });
});
