// Dashboard drill-down routes beside evals.ts (written by the dashboard engineer; register next to evalRoutes):
//   GET /api/evals/:name/qrels/:qid     -> { name, qid, judgments: { docid: grade } }
//   GET /api/evals/:name/queries/:qid   -> { name, qid, text }
//   GET /api/evals/:name/passages/:id   -> { name, id, title?, text }
// The judgments, queries and passages come from the eval output's collection, found (first match wins) from
//   1. files inside the eval output folder: qrels.{trec,tsv,txt}, queries.jsonl, corpus.jsonl / passages.jsonl;
//   2. `collection.path` (or `collection.dir`) in its metrics.json, absolute or relative to the eval output folder;
//   3. the `collectionDirs` option: the folder whose name equals metrics.json `collection.name`.
import { existsSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { NotFoundError, ValidationError } from '@dotrank/core';
import { findCollection, readCorpus, readQrels, readQueries } from '@dotrank/datasets';
import type { Qrels } from '@dotrank/datasets';

const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

export interface EvalExtraOptions {
  evalDir: string;
  /** Collection folders (BEIR or MS MARCO layout) that eval outputs may refer to by name. */
  collectionDirs?: string[];
}

interface Sources {
  qrels?: string;
  queries?: string;
  corpus?: string;
}

interface Loaded {
  qrels?: Promise<Qrels>;
  queries?: Promise<Map<string, string>>;
  passages?: Promise<Passages>;
}

function plainName(value: string): string {
  if (!SAFE_SEGMENT.test(value) || value.includes('..')) {
    throw new ValidationError('name', 'must be a plain name (letters, digits, ".", "-", "_"; no path separators)');
  }
  return value;
}

function id(field: string, value: string): string {
  if (value.length === 0 || value.length > 256) throw new ValidationError(field, 'must be 1..256 characters');
  return value;
}

async function evalFolder(root: string, name: string): Promise<string> {
  const base = await realpath(root).catch(() => undefined);
  const target = base ? await realpath(join(base, name)).catch(() => undefined) : undefined;
  if (!base || !target || !target.startsWith(base + sep) || !existsSync(join(target, 'metrics.json'))) {
    throw new NotFoundError('name', `no eval output "${name}"`);
  }
  return target;
}

async function collectionFolder(folder: string, collectionDirs: readonly string[]): Promise<string | undefined> {
  let metrics: { collection?: { name?: unknown; path?: unknown; dir?: unknown } } = {};
  try {
    metrics = JSON.parse(await readFile(join(folder, 'metrics.json'), 'utf8')) as typeof metrics;
  } catch {
    return undefined;
  }
  const declared = metrics.collection?.path ?? metrics.collection?.dir;
  if (typeof declared === 'string' && declared !== '') {
    const dir = isAbsolute(declared) ? declared : resolve(folder, declared);
    if (existsSync(dir)) return dir;
  }
  const name = metrics.collection?.name;
  return collectionDirs.find((d) => basename(resolve(d)) === name);
}

async function sourcesOf(folder: string, collectionDirs: readonly string[]): Promise<Sources> {
  const first = (...names: string[]) => names.map((n) => join(folder, n)).find((p) => existsSync(p));
  const sources: Sources = {
    qrels: first('qrels.trec', 'qrels.tsv', 'qrels.txt', 'qrels'),
    queries: first('queries.jsonl', 'queries.tsv'),
    corpus: first('corpus.jsonl', 'passages.jsonl', 'corpus.jsonl.gz'),
  };
  if (sources.qrels && sources.queries && sources.corpus) return sources;
  const collection = await collectionFolder(folder, collectionDirs);
  if (collection) {
    const files = await findCollection(collection, { require: [] }).catch(() => undefined);
    if (files) {
      sources.qrels ??= files.qrels || undefined;
      sources.queries ??= files.queries || undefined;
      sources.corpus ??= files.corpus || undefined;
    }
  }
  return sources;
}

const NAME = { type: 'string', description: 'Eval output: a sub-folder of the eval folder' };
const params = (key: string, description: string) => ({
  type: 'object',
  required: ['name', key],
  properties: { name: NAME, [key]: { type: 'string', description } },
});

type Passages = Map<string, { title?: string; text: string }>;

/**
 * The collection files of eval outputs, found as the header says and read once per eval output, then kept in memory:
 * what the drill-down routes and the Judge tab's pools (an eval's query set) read. A file the eval output has no
 * source for is `undefined`.
 */
export class EvalCollections {
  private readonly root: string;
  private readonly collectionDirs: readonly string[];
  private readonly cache = new Map<string, { sources: Promise<Sources>; loaded: Loaded }>();

  constructor(opts: EvalExtraOptions) {
    this.root = resolve(opts.evalDir);
    this.collectionDirs = opts.collectionDirs ?? [];
  }

  private async entry(name: string) {
    const folder = await evalFolder(this.root, plainName(name));
    let e = this.cache.get(folder);
    if (!e) {
      e = { sources: sourcesOf(folder, this.collectionDirs), loaded: {} };
      this.cache.set(folder, e);
    }
    return { ...e, sources: await e.sources };
  }

  async qrels(name: string): Promise<Qrels | undefined> {
    const e = await this.entry(name);
    if (!e.sources.qrels) return undefined;
    e.loaded.qrels ??= readQrels(e.sources.qrels);
    return e.loaded.qrels;
  }

  async queries(name: string): Promise<Map<string, string> | undefined> {
    const e = await this.entry(name);
    if (!e.sources.queries) return undefined;
    e.loaded.queries ??= readQueries(e.sources.queries).then((qs) => new Map(qs.map((q) => [q.id, q.text])));
    return e.loaded.queries;
  }

  async passages(name: string): Promise<Passages | undefined> {
    const e = await this.entry(name);
    const corpus = e.sources.corpus;
    if (!corpus) return undefined;
    e.loaded.passages ??= (async () => {
      const map: Passages = new Map();
      for await (const p of readCorpus(corpus))
        map.set(p.id, p.title ? { title: p.title, text: p.text } : { text: p.text });
      return map;
    })();
    return e.loaded.passages;
  }
}

/** Registers the drill-down routes; files are read once per eval output and kept in memory. */
export async function evalExtraRoutes(app: FastifyInstance, opts: EvalExtraOptions): Promise<void> {
  const collections = new EvalCollections(opts);

  const missing = (name: string, what: string) =>
    new NotFoundError(
      what,
      `eval output "${name}" has no ${what} (put ${what} files in its folder, set collection.path in metrics.json, or pass the collection folder to the server)`,
    );

  app.get<{ Params: { name: string; qid: string } }>(
    '/api/evals/:name/qrels/:qid',
    {
      schema: {
        tags: ['evals'],
        summary: 'Relevance judgments of one query of an eval output',
        params: params('qid', 'Query id'),
      },
    },
    async (request) => {
      const { name } = request.params;
      const qid = id('qid', request.params.qid);
      const qrels = await collections.qrels(name);
      if (!qrels) throw missing(name, 'qrels');
      const judged = qrels.get(qid);
      return { name, qid, judgments: judged ? Object.fromEntries(judged) : {} };
    },
  );

  app.get<{ Params: { name: string; qid: string } }>(
    '/api/evals/:name/queries/:qid',
    { schema: { tags: ['evals'], summary: 'Text of one query of an eval output', params: params('qid', 'Query id') } },
    async (request) => {
      const { name } = request.params;
      const qid = id('qid', request.params.qid);
      const queries = await collections.queries(name);
      if (!queries) throw missing(name, 'queries');
      const text = queries.get(qid);
      if (text === undefined) throw new NotFoundError('qid', `no query "${qid}" in eval output "${name}"`);
      return { name, qid, text };
    },
  );

  app.get<{ Params: { name: string; id: string } }>(
    '/api/evals/:name/passages/:id',
    {
      schema: {
        tags: ['evals'],
        summary: 'Text of one passage of the collection of an eval output',
        params: params('id', 'Passage id'),
      },
    },
    async (request) => {
      const { name } = request.params;
      const docId = id('id', request.params.id);
      const passages = await collections.passages(name);
      if (!passages) throw missing(name, 'corpus');
      const passage = passages.get(docId);
      if (!passage) throw new NotFoundError('id', `no passage "${docId}" in the collection of eval output "${name}"`);
      return { name, id: docId, ...passage };
    },
  );
}
