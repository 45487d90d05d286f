import { describe, expect, it } from 'vitest';
import { loadConfig } from '@dotrank/core';
import { startServer } from '../src/index.js';

describe('startServer configuration errors', () => {
  it('asks for a first stage', async () => {
    await expect(startServer(loadConfig({}), { logger: false })).rejects.toThrow(/--index-dir: give --index-dir <dir>/);
  });
  it('refuses both --index-dir and --index', async () => {
    await expect(startServer(loadConfig({}), { indexDir: '/tmp', index: 'x', logger: false })).rejects.toThrow(
      /either --index-dir .* or --index/,
    );
  });
});
