import { basename } from 'node:path';
import { ValidationError } from '@dotrank/core';
import { readRun } from '@dotrank/datasets';
import type { RunLike } from '@dotrank/eval';

/** A run named on the command line: `name=path`, or a path whose file name (less its extensions) is the name. */
export interface NamedRunPath {
  name: string;
  path: string;
}

/** `bm25=runs/bm25.run.gz` -> bm25; `runs/tasb.trec.gz` -> tasb. A name must be a word without spaces. */
export function parseRunSpec(spec: string, flag = 'run'): NamedRunPath {
  const eq = spec.indexOf('=');
  // a path may hold "=" too: only a leading word before it is a name
  const named = eq > 0 && /^[\w.-]+$/.test(spec.slice(0, eq));
  const path = named ? spec.slice(eq + 1) : spec;
  const name = named
    ? spec.slice(0, eq)
    : basename(path)
        .replace(/(\.gz)$/, '')
        .replace(/\.(run|trec|txt|tsv|res)$/, '');
  if (path === '') throw new ValidationError(flag, `"${spec}" names no file (expected name=path or a path)`);
  if (name === '' || /\s/.test(name)) throw new ValidationError(flag, `"${spec}": the run name must be a word`);
  return { name, path };
}

/** Parses run specs and refuses two runs of one name. */
export function parseRunSpecs(specs: readonly string[], flag = 'run'): NamedRunPath[] {
  const out = specs.map((s) => parseRunSpec(s, flag));
  const seen = new Map<string, string>();
  for (const { name, path } of out) {
    const before = seen.get(name);
    if (before !== undefined)
      throw new ValidationError(flag, `two runs are named "${name}" (${before} and ${path}); name them: name=path`);
    seen.set(name, path);
  }
  return out;
}

/** Reads the runs (TREC format, gzip by name), one after the other to bound memory spikes. */
export async function readNamedRuns(paths: readonly NamedRunPath[]): Promise<{ name: string; run: RunLike }[]> {
  const out: { name: string; run: RunLike }[] = [];
  for (const { name, path } of paths) out.push({ name, run: await readRun(path) });
  return out;
}

/** The deepest ranking in any of the runs (at least 1): the depth metrics.json records. */
export function maxDepth(runs: readonly { run: RunLike }[]): number {
  let depth = 1;
  for (const { run } of runs) for (const entries of run.values()) depth = Math.max(depth, entries.length);
  return depth;
}
