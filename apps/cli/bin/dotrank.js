#!/usr/bin/env node
// Launcher: runs the compiled CLI in production (NODE_ENV=production or no sources shipped),
// else the TypeScript sources of this checkout through tsx, so `npx dotrank` works right after `npm ci`.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const compiled = new URL('../dist/main.js', import.meta.url);
const source = new URL('../src/main.ts', import.meta.url);
const useSource = existsSync(source) && (process.env.NODE_ENV !== 'production' || !existsSync(compiled));

if (useSource) {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  // Workspace packages export their sources under this condition (see tsconfig.base.json).
  register('./source-condition.js', import.meta.url);
  await import(source.href);
} else {
  await import(compiled.href);
}
