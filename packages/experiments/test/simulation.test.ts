// Proof by simulation: over Cranfield, two rankers whose offline nDCG@10 differs (BM25, and BM25 with its scores
// blurred by noise), users simulated by click models whose click probabilities come from the qrels grades. The
// interleaving experiment must name the offline winner in at least 95 of 100 experiments of 2,000 impressions, for
// both click models. Everything runs in process (no HTTP), so this stays a few seconds.
import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '@dotrank/core';
import { repoPath } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { readCorpus, readQrels, readQueries } from '@dotrank/datasets';
import type { Qrels } from '@dotrank/datasets';
import { evaluate } from '@dotrank/eval';
import { analyzeExperiment } from '../src/analysis.js';
import { seedFrom, seededCoin, teamDraftInterleave } from '../src/interleave.js';
import { simulateClicks, cascadeModel, positionBasedModel } from '../src/simulate.js';
import type { ClickModel } from '../src/simulate.js';
import { impressionsForPower, twoProportionSampleSize } from '../src/stats.js';
import type { ExperimentEvent, Impression } from '../src/types.js';

const K = 10;
const EXPERIMENTS = 100;
const IMPRESSIONS = 2000;
/** Noise on each BM25 score, as a share of the query's top score. */
const NOISE = 0.1;

interface Rankings {
  qids: string[];
  good: Map<string, string[]>;
  noisy: Map<string, string[]>;
  qrels: Qrels;
  ndcg: { good: number; noisy: number };
}

/** Standard normal draw (Box-Muller) from a seeded uniform generator. */
const gaussian = (random: () => number) => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

async function rankings(): Promise<Rankings> {
  const dir = repoPath('datasets/cranfield');
  const source = await createEmbeddedSource();
  await source.index(readCorpus(dir));
  const qrels = await readQrels(dir);
  const queries = (await readQueries(dir)).filter((q) => qrels.has(q.id));
  const random = mulberry32(2008);
  const good = new Map<string, string[]>();
  const noisy = new Map<string, string[]>();
  for (const query of queries) {
    const candidates = await source.search(query.text, { k: 50 });
    good.set(
      query.id,
      candidates.slice(0, K).map((c) => c.id),
    );
    // the same candidates, each score blurred by noise of a quarter of the top score
    const top = candidates[0]?.score ?? 1;
    const blurred = candidates.map((c) => ({ id: c.id, score: c.score + NOISE * top * gaussian(random) }));
    noisy.set(
      query.id,
      blurred
        .sort((a, b) => b.score - a.score)
        .slice(0, K)
        .map((c) => c.id),
    );
  }
  await source.close();
  const asRun = (lists: Map<string, string[]>) =>
    new Map([...lists].map(([qid, ids]) => [qid, ids.map((docId, i) => ({ docId, score: K - i }))]));
  const ndcgOf = (lists: Map<string, string[]>) =>
    evaluate(qrels, asRun(lists), { measures: ['ndcg_cut_10'], allQueries: true }).aggregate['ndcg_cut_10']!;
  return { qids: queries.map((q) => q.id), good, noisy, qrels, ndcg: { good: ndcgOf(good), noisy: ndcgOf(noisy) } };
}

/**
 * One interleaving experiment: each impression a random query, the two lists interleaved with the impression's
 * seeded coin, clicks simulated on what was shown; then the same analysis the API runs.
 */
function interleavingExperiment(r: Rankings, model: ClickModel, seed: number, impressions = IMPRESSIONS) {
  const random = mulberry32(seed);
  const logged: Impression[] = [];
  const events: ExperimentEvent[] = [];
  for (let n = 0; n < impressions; n++) {
    const qid = r.qids[Math.floor(random() * r.qids.length)]!;
    const impressionId = `${seed}-${n}`;
    // control = the noisy ranker (bm25 slot), treatment = BM25 itself (tasb slot)
    const control = r.noisy.get(qid)!;
    const treatment = r.good.get(qid)!;
    const shown = teamDraftInterleave(control, treatment, K, seededCoin(seedFrom(impressionId)));
    logged.push({
      impressionId,
      experiment: 'sim',
      mode: 'interleave',
      query: qid,
      control,
      treatment,
      shown,
      time: 0,
    });
    const ids = shown.map((s) => s.docId);
    for (const position of simulateClicks(ids, r.qrels.get(qid), model, random))
      events.push({
        eventId: `${impressionId}-${position}`,
        experiment: 'sim',
        impressionId,
        type: 'click',
        docId: ids[position]!,
        timestamp: 0,
      });
  }
  return analyzeExperiment(logged, events, { name: 'sim', mode: 'interleave', topQueries: 0 });
}

/** Share of impressions with at least one click when every user of a bucket sees one ranker's list. */
function bucketClickRate(
  lists: Map<string, string[]>,
  r: Rankings,
  model: ClickModel,
  seed: number,
  impressions: number,
) {
  const random = mulberry32(seed);
  let clicked = 0;
  for (let n = 0; n < impressions; n++) {
    const qid = r.qids[Math.floor(random() * r.qids.length)]!;
    if (simulateClicks(lists.get(qid)!, r.qrels.get(qid), model, random).length > 0) clicked++;
  }
  return clicked / impressions;
}

describe('interleaving on simulated users over Cranfield', () => {
  let r: Rankings;
  beforeAll(async () => {
    r = await rankings();
  });

  it('the two rankers differ offline (the ground truth the experiment must find)', () => {
    console.log(`offline nDCG@10: BM25 ${r.ndcg.good.toFixed(4)}, BM25 + noise ${r.ndcg.noisy.toFixed(4)}`);
    expect(r.ndcg.good).toBeGreaterThan(r.ndcg.noisy + 0.02);
  });

  const models: [string, () => ClickModel][] = [
    ['cascade', () => cascadeModel(4)],
    ['position-based', () => positionBasedModel(4)],
  ];

  it.each(models)('%s clicks: the offline winner wins >= 95 of 100 experiments of 2,000 impressions', (name, make) => {
    const model = make();
    let picked = 0;
    let significant = 0;
    for (let e = 0; e < EXPERIMENTS; e++) {
      const report = interleavingExperiment(r, model, 1000 + e);
      if (report.delta > 0) picked++;
      if (report.delta > 0 && report.pValue < 0.05) significant++;
    }
    // the same simulator, sized: interleaving vs comparing click-through rates of two buckets
    const big = interleavingExperiment(r, model, 7, 10_000);
    const interleaving = impressionsForPower(big.impressions, big.wins, big.losses)!;
    const ctrGood = bucketClickRate(r.good, r, model, 11, 20_000);
    const ctrNoisy = bucketClickRate(r.noisy, r, model, 12, 20_000);
    const buckets = 2 * twoProportionSampleSize(ctrGood, ctrNoisy);
    console.log(
      `${name}: winner picked in ${picked}/${EXPERIMENTS} (significant at 0.05 in ${significant}); ` +
        `impressions for 80 % power: interleaving ${interleaving}, two-bucket CTR test ${buckets} ` +
        `(CTR ${ctrGood.toFixed(4)} vs ${ctrNoisy.toFixed(4)}; ${(buckets / interleaving).toFixed(1)}x)`,
    );
    expect(picked).toBeGreaterThanOrEqual(95);
    expect(buckets).toBeGreaterThan(interleaving);
  });
});
