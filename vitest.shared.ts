// Shared Vitest settings: resolve workspace packages to their TypeScript sources.
import { defineConfig } from 'vitest/config';
import { SlowestFilesReporter } from './tools/vitest/slowest-files.js';

export const sourceCondition = '@dotrank/source';

export default defineConfig({
  resolve: { conditions: [sourceCondition, 'import', 'node', 'default'] },
  ssr: {
    resolve: { conditions: [sourceCondition, 'import', 'node', 'default'], externalConditions: [sourceCondition] },
  },
  test: {
    // one test layout: test/ beside src/ in every project
    include: ['test/**/*.test.ts'],
    reporters: ['default', new SlowestFilesReporter()],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    allowOnly: false,
  },
});
