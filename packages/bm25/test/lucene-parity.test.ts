import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoPath } from '@dotrank/core/testing';
import { BM25Index } from '../src/bm25-index.js';
import { luceneOrSkipReason, runLucene } from './lucene.js';

type Ranked = Array<{ id: string; score: number }>;

async function readJsonl(path: string): Promise<Array<Record<string, unknown>>> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** TREC run text -> per query, in file order. */
function parseRun(text: string): Map<string, Ranked> {
  const run = new Map<string, Ranked>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [qid, , id, , score] = line.trim().split(/\s+/);
    if (!run.has(qid!)) run.set(qid!, []);
    run.get(qid!)!.push({ id: id!, score: Number(score) });
  }
  return run;
}

/** trec_eval's order: score descending, then docno descending (byte order). */
function trecOrder(ranked: Ranked): Ranked {
  return [...ranked].sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** nDCG@10 (`ndcg_cut.10`) and recall@100 (`recall_100`) as trec_eval -c computes them, averaged over judged queries. */
function evaluateRun(
  run: Map<string, Ranked>,
  qrels: Map<string, Map<string, number>>,
): { ndcg10: number; recall100: number } {
  let ndcg = 0;
  let recall = 0;
  for (const [qid, judged] of qrels) {
    const ranked = trecOrder(run.get(qid) ?? []);
    let dcg = 0;
    ranked.slice(0, 10).forEach((r, i) => {
      const gain = Math.max(0, judged.get(r.id) ?? 0);
      dcg += gain / Math.log2(i + 2);
    });
    const ideal = [...judged.values()].filter((g) => g > 0).sort((a, b) => b - a);
    let idcg = 0;
    ideal.slice(0, 10).forEach((g, i) => (idcg += g / Math.log2(i + 2)));
    ndcg += idcg > 0 ? dcg / idcg : 0;
    const relevant = ideal.length;
    const found = ranked.slice(0, 100).filter((r) => (judged.get(r.id) ?? 0) > 0).length;
    recall += relevant > 0 ? found / relevant : 0;
  }
  return { ndcg10: ndcg / qrels.size, recall100: recall / qrels.size };
}

const cranfield = repoPath('datasets/cranfield');
const lucene = luceneOrSkipReason();
const skipReason = 'reason' in lucene ? lucene.reason : undefined;
if (skipReason) console.warn(`skipping Lucene parity on Cranfield: ${skipReason}`);

describe('parity with Lucene 8 BM25Similarity on Cranfield', () => {
  const work: string[] = [];
  afterAll(async () => {
    for (const dir of work) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(skipReason !== undefined)(
    'matches Lucene top-100 ids and scores for every query, and reproduces the reference figures',
    async () => {
      const dir = cranfield;
      const tmp = await mkdtemp(join(tmpdir(), 'dotrank-lucene-'));
      work.push(tmp);
      runLucene(['index', join(dir, 'corpus.jsonl'), join(tmp, 'index')]);
      runLucene([
        'search',
        join(tmp, 'index'),
        join(dir, 'queries.jsonl'),
        join(tmp, 'lucene.trec'),
        '--k',
        '1000',
        '--repeat',
        '1',
        '--warmup',
        '0',
      ]);
      const luceneRun = parseRun(await readFile(join(tmp, 'lucene.trec'), 'utf8'));

      const index = new BM25Index();
      for (const d of await readJsonl(join(dir, 'corpus.jsonl'))) {
        const title = typeof d['title'] === 'string' ? d['title'] : '';
        index.add({ id: String(d['_id']), text: title ? `${title} ${String(d['text'])}` : String(d['text']) });
      }
      const queries = await readJsonl(join(dir, 'queries.jsonl'));
      expect(queries.length).toBe(225);
      const ourRun = new Map<string, Ranked>();
      let compared = 0;
      for (const q of queries) {
        const qid = String(q['_id']);
        const ours = index.search(String(q['text']), { k: 1000 });
        ourRun.set(
          qid,
          ours.map(({ id, score }) => ({ id, score })),
        );
        const theirs = luceneRun.get(qid) ?? [];
        expect(ours.length, `query ${qid} result count`).toBe(theirs.length);
        const theirScore = new Map(theirs.map((r) => [r.id, r.score]));
        for (let i = 0; i < Math.min(100, ours.length); i++) {
          const a = ours[i]!;
          const b = theirs[i]!;
          expect(Math.abs(a.score - b.score), `query ${qid} rank ${i + 1} score`).toBeLessThanOrEqual(1e-5 * b.score);
          if (a.id !== b.id) {
            // Only documents with equal scores may trade places.
            const lucenesScoreForOurs = theirScore.get(a.id);
            expect(lucenesScoreForOurs, `query ${qid} rank ${i + 1}: ${a.id} vs ${b.id}`).toBeDefined();
            expect(Math.abs(lucenesScoreForOurs! - b.score)).toBeLessThanOrEqual(1e-5 * b.score);
          }
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(20_000);

      // Reference figures (datasets/cranfield/README.md: Lucene 8.8 + trec_eval 9.0.8 -c): nDCG@10 0.3341, Recall@100 0.6970.
      const qrels = new Map<string, Map<string, number>>();
      for (const line of (await readFile(join(dir, 'qrels', 'test.trec'), 'utf8')).split('\n')) {
        if (!line.trim()) continue;
        const [qid, , id, rel] = line.trim().split(/\s+/);
        if (!qrels.has(qid!)) qrels.set(qid!, new Map());
        qrels.get(qid!)!.set(id!, Number(rel));
      }
      const ours = evaluateRun(ourRun, qrels);
      expect(ours.ndcg10.toFixed(4)).toBe('0.3341');
      expect(ours.recall100.toFixed(4)).toBe('0.6970');
      const theirs = evaluateRun(luceneRun, qrels);
      expect(theirs.ndcg10.toFixed(4)).toBe('0.3341');
    },
    900_000,
  );
});
