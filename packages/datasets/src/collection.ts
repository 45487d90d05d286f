import { readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { NotFoundError } from '@dotrank/core';
import { statOrThrow } from './lines.js';

export interface CollectionFiles {
  /** The folder name, e.g. `cranfield`. */
  name: string;
  format: 'beir' | 'msmarco';
  corpus: string;
  queries: string;
  qrels: string;
}

const MSMARCO_SPLITS = ['dev.small', 'dev', 'eval.small', 'eval', 'test', 'train'];

/**
 * The files of a collection folder. BEIR: `corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv` (else the first
 * `.trec`/`.tsv` in `qrels/`, by name). MS MARCO: `collection.tsv`, and `queries.<split>.tsv` with the matching
 * `qrels.<split>.tsv` (splits preferred in the order dev.small, dev, eval.small, eval, test, train).
 * A missing file is a NotFoundError naming it (only those listed in `require`, all by default).
 */
export async function findCollection(
  dir: string,
  options: { require?: ('corpus' | 'queries' | 'qrels')[] } = {},
): Promise<CollectionFiles> {
  const root = resolve(dir);
  if (!(await statOrThrow(root)).isDirectory) throw new NotFoundError(dir, 'is not a folder');
  const required = new Set(options.require ?? ['corpus', 'queries', 'qrels']);
  const entries = new Set(await readdir(root));
  const name = basename(root);
  const need = (what: 'corpus' | 'queries' | 'qrels', path: string | undefined, expected: string): string => {
    if (path !== undefined) return path;
    if (required.has(what)) throw new NotFoundError(join(dir, expected), `${what} file not found in collection folder`);
    return '';
  };

  if (entries.has('corpus.jsonl') || entries.has('corpus.jsonl.gz') || entries.has('queries.jsonl')) {
    const pick = (base: string) => (entries.has(base) ? join(root, base) : entries.has(`${base}.gz`) ? join(root, `${base}.gz`) : undefined);
    let qrels: string | undefined;
    if (entries.has('qrels')) {
      const files = (await readdir(join(root, 'qrels'))).filter((f) => f.endsWith('.tsv') || f.endsWith('.trec')).sort();
      const chosen = files.includes('test.tsv') ? 'test.tsv' : files[0];
      if (chosen) qrels = join(root, 'qrels', chosen);
    }
    return {
      name,
      format: 'beir',
      corpus: need('corpus', pick('corpus.jsonl'), 'corpus.jsonl'),
      queries: need('queries', pick('queries.jsonl'), 'queries.jsonl'),
      qrels: need('qrels', qrels, 'qrels/test.tsv'),
    };
  }

  if (entries.has('collection.tsv') || [...entries].some((e) => /^(queries|qrels)\..+\.tsv$/.test(e))) {
    const corpus = entries.has('collection.tsv') ? join(root, 'collection.tsv') : undefined;
    const splitsOf = (prefix: string) =>
      [...entries].filter((e) => e.startsWith(`${prefix}.`) && e.endsWith('.tsv')).map((e) => e.slice(prefix.length + 1, -4));
    const querySplits = splitsOf('queries');
    const qrelSplits = new Set(splitsOf('qrels'));
    const rank = (s: string) => (MSMARCO_SPLITS.includes(s) ? MSMARCO_SPLITS.indexOf(s) : MSMARCO_SPLITS.length);
    const both = querySplits.filter((s) => qrelSplits.has(s)).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    const split = both[0] ?? querySplits.sort((a, b) => rank(a) - rank(b))[0];
    const queries = split !== undefined ? join(root, `queries.${split}.tsv`) : undefined;
    const qrelsSplit = split !== undefined && qrelSplits.has(split) ? split : [...qrelSplits].sort((a, b) => rank(a) - rank(b))[0];
    const qrels = qrelsSplit !== undefined ? join(root, `qrels.${qrelsSplit}.tsv`) : undefined;
    return {
      name,
      format: 'msmarco',
      corpus: need('corpus', corpus, 'collection.tsv'),
      queries: need('queries', queries, 'queries.dev.small.tsv'),
      qrels: need('qrels', qrels, 'qrels.dev.small.tsv'),
    };
  }
  throw new NotFoundError(dir, 'not a BEIR folder (corpus.jsonl) or an MS MARCO folder (collection.tsv)');
}
