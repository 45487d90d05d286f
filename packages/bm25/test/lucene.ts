import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** tools/lucene-ref/run.sh of this checkout. */
export const LUCENE_REF = resolve(dirname(fileURLToPath(import.meta.url)), '../../../tools/lucene-ref/run.sh');

/** Whether the Lucene reference program can run here, or why not (for a printed skip). */
export function luceneOrSkipReason(): { ok: true } | { reason: string } {
  for (const tool of ['java', 'javac']) {
    const r = spawnSync(tool, ['-version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0)
      return { reason: `${tool} not found on PATH (install a JDK to run the Lucene parity tests)` };
  }
  const jars = process.env['LUCENE_JARS'] ?? '/usr/share/java';
  const have = existsSync(jars) ? readdirSync(jars) : [];
  for (const jar of ['lucene-core', 'lucene-analyzers-common']) {
    if (!have.some((f) => f.startsWith(jar) && f.endsWith('.jar')))
      return { reason: `${jar}*.jar not found in ${jars} (install liblucene8-java or set LUCENE_JARS)` };
  }
  const build = spawnSync(LUCENE_REF, ['build'], { encoding: 'utf8' });
  if (build.status !== 0) return { reason: `tools/lucene-ref/run.sh build failed: ${build.stderr}` };
  return { ok: true };
}

/** Runs the reference program; throws with its stderr on failure; returns stdout. */
export function runLucene(args: string[], input?: string): string {
  const r = spawnSync(LUCENE_REF, args, { encoding: 'utf8', input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`lucene-ref ${args[0]} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function lastJsonLine<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

export { join };
