// Shared Vitest settings: resolve workspace packages to their TypeScript sources.
import { defineConfig } from 'vitest/config';

export const sourceCondition = '@dotrank/source';

export default defineConfig({
  resolve: { conditions: [sourceCondition, 'import', 'node', 'default'] },
  ssr: {
    resolve: { conditions: [sourceCondition, 'import', 'node', 'default'], externalConditions: [sourceCondition] },
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    allowOnly: false,
  },
});
