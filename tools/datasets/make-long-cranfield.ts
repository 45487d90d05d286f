/**
 * Builds datasets/cranfield-long from datasets/cranfield: long documents to measure passage windows with (#21).
 *
 *   npx tsx --conditions=@dotrank/source tools/datasets/make-long-cranfield.ts
 *
 * The 1,400 abstracts are shuffled in a fixed seeded order (mulberry32, seed 21) and joined, DOCS_PER_LONG at a time,
 * into 200 long documents `L001`..`L200` (each part's `title + " " + text`, parts separated by a blank line). A long
 * document's grade for a query is the highest grade of its parts (unjudged parts count for nothing); queries are
 * unchanged. The script prints the token statistics the README gives (real TAS-B tokenizer).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findRepoRoot, mulberry32 } from '@dotrank/core';
import { TextTokenizer } from '@dotrank/encoder';

const DOCS_PER_LONG = 7;
const SEED = 21;

interface Doc {
  _id: string;
  title: string;
  text: string;
}

const root = findRepoRoot(new URL('.', import.meta.url).pathname)!;
const source = join(root, 'datasets', 'cranfield');
const target = join(root, 'datasets', 'cranfield-long');

const readJsonl = async <T>(file: string): Promise<T[]> =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);

const docs = await readJsonl<Doc>(join(source, 'corpus.jsonl'));
const random = mulberry32(SEED);
const order = docs.map((_, i) => i);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [order[i], order[j]] = [order[j]!, order[i]!];
}

const longOf = new Map<string, string>();
const longDocs: Doc[] = [];
for (let start = 0; start < order.length; start += DOCS_PER_LONG) {
  const id = `L${String(longDocs.length + 1).padStart(3, '0')}`;
  const parts = order.slice(start, start + DOCS_PER_LONG).map((i) => docs[i]!);
  for (const part of parts) longOf.set(part._id, id);
  longDocs.push({ _id: id, title: '', text: parts.map((p) => `${p.title} ${p.text}`.trim()).join('\n\n') });
}

const qrelLines = (await readFile(join(source, 'qrels', 'test.tsv'), 'utf8')).split('\n').slice(1).filter(Boolean);
const grades = new Map<string, number>(); // `${query}\t${long}` -> max grade
for (const line of qrelLines) {
  const [query, doc, grade] = line.split('\t');
  const key = `${query}\t${longOf.get(doc!)!}`;
  grades.set(key, Math.max(grades.get(key) ?? Number.NEGATIVE_INFINITY, Number(grade)));
}
const qrels = [...grades].sort(([a], [b]) => {
  const [qa, da] = a.split('\t');
  const [qb, db] = b.split('\t');
  return Number(qa) - Number(qb) || da!.localeCompare(db!);
});

await mkdir(join(target, 'qrels'), { recursive: true });
await writeFile(join(target, 'corpus.jsonl'), longDocs.map((d) => JSON.stringify(d)).join('\n') + '\n');
await writeFile(join(target, 'queries.jsonl'), await readFile(join(source, 'queries.jsonl')));
await writeFile(
  join(target, 'qrels', 'test.tsv'),
  ['query-id\tcorpus-id\tscore', ...qrels.map(([key, g]) => `${key}\t${g}`)].join('\n') + '\n',
);
await writeFile(
  join(target, 'qrels', 'test.trec'),
  qrels.map(([key, g]) => `${key.split('\t')[0]} 0 ${key.split('\t')[1]} ${g}`).join('\n') + '\n',
);

const tokenizer = await TextTokenizer.fromFile(join(root, 'models', 'tas-b', 'tokenizer.json'));
const lengths = longDocs.map((d) => tokenizer.pieces(d.text).length).sort((a, b) => a - b);
const at = (q: number) => lengths[Math.min(lengths.length - 1, Math.floor(q * lengths.length))]!;
console.log(
  `${longDocs.length} long documents, ${qrels.length} judgments; tokens: min ${lengths[0]}, median ${at(0.5)}, ` +
    `mean ${Math.round(lengths.reduce((a, b) => a + b, 0) / lengths.length)}, max ${lengths.at(-1)}`,
);
