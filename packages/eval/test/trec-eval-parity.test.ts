import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '@dotrank/core/testing';
import { readQrels, readRun } from '@dotrank/datasets';
import type { Qrels } from '@dotrank/datasets';
import { evaluate } from '../src/evaluate.js';
import type { EvaluateOptions } from '../src/evaluate.js';
import { formatLine } from '../src/format.js';

// Every measure dotrank computes, for every query and `all`, against trec_eval 9.0.8's own output on the same runs
// (fixtures/trec_eval/README.md says how those were made). Values are compared as trec_eval prints them (%6.4f,
// counts as integers), so a difference in the 4th decimal fails.
const fixtures = fileURLToPath(new URL('./fixtures/trec_eval/', import.meta.url));

/** The trec_eval measures we compute; trec_eval's others (gm_map, iprec_at_recall, infAP, ...) are not compared. */
const SUPPORTED =
  /^(num_q|num_ret|num_rel|num_rel_ret|map|Rprec|bpref|recip_rank|ndcg|(P|recall|ndcg_cut|map_cut|success)_\d+)$/;

const CONFIGS: Record<string, { options: EvaluateOptions; qrels: 'cranfield' | 'neg' }> = {
  all_trec: { options: {}, qrels: 'cranfield' },
  c: { options: { allQueries: true }, qrels: 'cranfield' },
  J: { options: { judgedOnly: true }, qrels: 'cranfield' },
  l2: { options: { level: 2 }, qrels: 'cranfield' },
  M20: { options: { maxResults: 20 }, qrels: 'cranfield' },
  cutoffs: { options: {}, qrels: 'cranfield' },
  'cutoffs-c-l2': { options: { allQueries: true, level: 2 }, qrels: 'cranfield' },
  neg: { options: {}, qrels: 'neg' },
  'neg-J': { options: { judgedOnly: true }, qrels: 'neg' },
};

interface Reference {
  measures: string[];
  /** `measure\tqid` -> the line trec_eval printed */
  lines: Map<string, string>;
}

function readReference(file: string): Reference {
  const text = gunzipSync(readFileSync(`${fixtures}${file}`)).toString('utf8');
  const measures: string[] = [];
  const lines = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [measure, qid] = line.split('\t').map((s) => s.trim()) as [string, string];
    if (!SUPPORTED.test(measure)) continue;
    if (!measures.includes(measure)) measures.push(measure);
    lines.set(`${measure}\t${qid}`, line);
  }
  return { measures, lines };
}

let qrelsBy: Record<'cranfield' | 'neg', Qrels>;
const runs: Record<string, Awaited<ReturnType<typeof readRun>>> = {};
beforeAll(async () => {
  qrelsBy = {
    cranfield: await readQrels(repoPath('datasets/cranfield/qrels/test.trec')),
    neg: await readQrels(`${fixtures}qrels-neg.trec`),
  };
  for (const run of ['bm25', 'ties']) runs[run] = await readRun(`${fixtures}${run}.run`);
});

describe('parity with trec_eval 9.0.8 on the Cranfield runs', () => {
  for (const run of ['bm25', 'ties']) {
    for (const [config, { options, qrels }] of Object.entries(CONFIGS)) {
      it(`${run}, ${config}: every query and the average print as trec_eval printed them`, () => {
        const reference = readReference(`${run}.${config}.txt.gz`);
        expect(reference.measures.length).toBeGreaterThan(config.startsWith('cutoffs') ? 20 : 40);
        const result = evaluate(qrelsBy[qrels], runs[run]!, { ...options, measures: reference.measures });
        const ours = new Map<string, string>();
        for (const [qid, values] of result.perQuery) {
          if (result.missing?.has(qid)) continue;
          for (const m of result.measures) if (m !== 'num_q') ours.set(`${m}\t${qid}`, formatLine(m, qid, values[m]!));
        }
        for (const m of result.measures) ours.set(`${m}\tall`, formatLine(m, 'all', result.aggregate[m]!));
        const differences = [...reference.lines].filter(([key, line]) => ours.get(key) !== line);
        expect(
          differences.slice(0, 10).map(([key, line]) => `trec_eval: ${line} | dotrank: ${ours.get(key) ?? '(none)'}`),
        ).toEqual([]);
        expect([...ours.keys()].filter((key) => !reference.lines.has(key))).toEqual([]);
      });
    }
  }
});
