import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/index.js';

describe('variables the CLI reads through the schema', () => {
  it('DOTRANK_DEBUG is off unless 1 or true, and names a bad value', () => {
    expect(loadConfig({}).DOTRANK_DEBUG).toBe(false);
    expect(loadConfig({ DOTRANK_DEBUG: '1' }).DOTRANK_DEBUG).toBe(true);
    expect(loadConfig({ DOTRANK_DEBUG: 'true' }).DOTRANK_DEBUG).toBe(true);
    expect(loadConfig({ DOTRANK_DEBUG: '' }).DOTRANK_DEBUG).toBe(false);
    expect(() => loadConfig({ DOTRANK_DEBUG: 'verbose' })).toThrow(/^DOTRANK_DEBUG: must be 0, 1, false or true/);
  });

  it('HF_ENDPOINT and HF_TOKEN: unset when absent or blank', () => {
    expect(loadConfig({ HF_ENDPOINT: 'http://127.0.0.1:8080', HF_TOKEN: 'hf_x' })).toMatchObject({
      HF_ENDPOINT: 'http://127.0.0.1:8080',
      HF_TOKEN: 'hf_x',
    });
    expect(loadConfig({ HF_TOKEN: ' ' }).HF_TOKEN).toBeUndefined();
    expect(loadConfig({}).HF_ENDPOINT).toBeUndefined();
  });
});

describe('integer variables', () => {
  it('say the allowed range whatever is wrong with the value', () => {
    for (const bad of ['many', '0', '1.5', '5000']) {
      expect(() => loadConfig({ DOTRANK_BATCH_SIZE: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ DOTRANK_BATCH_SIZE: bad })).toThrow(
        `DOTRANK_BATCH_SIZE: must be an integer between 1 and 4096 (got ${JSON.stringify(bad)})`,
      );
    }
  });
});
