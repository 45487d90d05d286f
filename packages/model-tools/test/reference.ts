import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findRepoRoot } from '@dotrank/core';
import * as ort from 'onnxruntime-node';

export const REPO_ROOT = findRepoRoot(new URL('.', import.meta.url).pathname)!;
export const HUB_FIXTURES = join(REPO_ROOT, 'tools', 'fixtures', 'hub');

export interface Reference {
  queries: string[];
  passages: string[];
  texts: string[];
  input_ids: number[][];
  models: Record<
    string,
    { cls: number[][]; batch: { input_ids: number[][]; attention_mask: number[][]; cls: number[][] } }
  >;
}

/** PyTorch's outputs for the fixture texts, written by tools/fixtures/make_checkpoints.py. */
export function reference(): Reference {
  return JSON.parse(readFileSync(join(HUB_FIXTURES, 'reference.json'), 'utf8')) as Reference;
}

const i64 = (rows: number[][]) =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat().map((v) => BigInt(v))), [rows.length, rows[0]!.length]);

/** Runs a graph on token ids (rows of equal length) and returns the [CLS] vector of each row. */
export async function clsVectors(
  session: ort.InferenceSession,
  ids: number[][],
  mask?: number[][],
): Promise<Float32Array[]> {
  const feeds: Record<string, ort.Tensor> = {
    input_ids: i64(ids),
    attention_mask: i64(mask ?? ids.map((r) => r.map(() => 1))),
  };
  if (session.inputNames.includes('token_type_ids')) feeds['token_type_ids'] = i64(ids.map((r) => r.map(() => 0)));
  const out = await session.run(feeds);
  const hidden = out['last_hidden_state']!;
  const [batch, seq, dim] = hidden.dims as [number, number, number];
  const data = hidden.data as Float32Array;
  return Array.from({ length: batch }, (_, b) => data.slice(b * seq * dim, b * seq * dim + dim));
}

/** [CLS] vectors of each text run alone (no padding). */
export async function clsOfTexts(session: ort.InferenceSession, ids: number[][]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const row of ids) out.push((await clsVectors(session, [row]))[0]!);
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
export const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));

/** Indices of the top 3 passages for a query vector by dot product. */
export function top3(query: ArrayLike<number>, passages: ArrayLike<number>[]): number[] {
  return passages
    .map((p, i) => [i, dot(query, p)] as const)
    .sort((x, y) => y[1] - x[1])
    .slice(0, 3)
    .map(([i]) => i);
}
