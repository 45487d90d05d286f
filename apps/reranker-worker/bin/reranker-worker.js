#!/usr/bin/env node
// Stand-alone worker entry (same as `dotrank worker`, without the rest of the CLI): runs the compiled worker, or the
// TypeScript sources of this checkout through tsx in this very process (so a signal reaches the worker itself).
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const compiled = new URL('../dist/main.js', import.meta.url);
const source = new URL('../src/main.ts', import.meta.url);
const useSource = existsSync(source) && (process.env.NODE_ENV !== 'production' || !existsSync(compiled));

if (useSource) {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  register('./source-condition.js', import.meta.url);
  await import(source.href);
} else {
  await import(compiled.href);
}
