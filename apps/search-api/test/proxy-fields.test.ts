// The proxy over the stand-in Elasticsearch with indices that keep their text in different fields: each index read
// with its own passage options (DOTRANK_INDEX_CONFIG over ELASTICSEARCH_TEXT_FIELDS), hits without text reranked
// around (they follow in first-stage order), hits without an id passed through with the reason in `_dotrank`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tinyModelDir } from '@dotrank/core/testing';
import { MemoryWindowStore, sourceOptionsFromConfig } from '@dotrank/elasticsearch';
import { startStandInElasticsearch } from '@dotrank/elasticsearch/testing';
import type { StandInElasticsearch } from '@dotrank/elasticsearch/testing';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { InProcessReranker, candidateWindowsFor } from '@dotrank/rerank-core';
import type { RerankRequest } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '../src/index.js';
import { FakeSource } from './fakes.js';

const WORDS = ['boundary', 'shock', 'heat', 'flat', 'plate', 'cone', 'wing', 'turbulent', 'laminar', 'flow', 'nozzle'];
const textOf = (i: number) =>
  `layer ${WORDS[i % WORDS.length]} ${WORDS[(i * 7 + 3) % WORDS.length]} ${'layer '.repeat(i % 4)}study ${i}`;
const QUERY = 'boundary layer flow';

/** `articles` keeps its text in `body.content`, `tickets` in `message.text` (and `body.content` holds noise). */
const ARTICLES = Array.from({ length: 12 }, (_, i) => ({
  _id: `a${i}`,
  _source: { body: { content: textOf(i) } },
}));
/** `mixed`: some documents have no `body.content` (only a title), so no text to rerank. */
const MIXED = Array.from({ length: 10 }, (_, i) => ({
  _id: `m${i}`,
  _source: i % 3 === 1 ? { title: `layer flow ${'layer '.repeat(i % 4)}${i}` } : { body: { content: textOf(i + 2) } },
}));
/** `manuals`: long texts (several 64-token windows) in `body.content`, for DOTRANK_DOC_SCORE=maxp. */
const filler = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => `page${(i + seed) % 9} section text`).join(' ');
const MANUALS = [
  { _id: 'long1', _source: { body: { content: `${filler(60, 1)} wing flutter of thin panels ${filler(30, 2)}` } } },
  { _id: 'long2', _source: { body: { content: `wing flutter ${filler(70, 3)}` } } },
  { _id: 'short', _source: { body: { content: 'wing flutter of thin panels' } } },
];
const TICKETS = Array.from({ length: 12 }, (_, i) => ({
  _id: `t${i}`,
  _source: { message: { text: textOf(i + 5) }, body: { content: `layer noise ${i}` } },
}));

interface Hit {
  _id: string;
  _score: number;
  _dotrank: {
    first_stage_score: number;
    first_stage_rank: number;
    tasb_score?: number;
    textless?: true;
    passage?: { text: string; start: number; end: number; score: number };
  };
  highlight?: Record<string, string[]>;
}
interface Page {
  hits: { hits: Hit[] };
  _dotrank: { reranked: boolean; degraded: boolean; reason: string | null; detail?: string };
}

let es: StandInElasticsearch;
let encoder: Encoder;
let app: FastifyInstance;
let dir: string;
const rerankCalls: RerankRequest[] = [];

async function tasbScores(query: string, texts: Map<string, string>): Promise<Map<string, number>> {
  const [q] = await encoder.encodeQueries([query]);
  const ids = [...texts.keys()];
  const vectors = await encoder.encodePassages(ids.map((id) => texts.get(id)!));
  return new Map(ids.map((id, i) => [id, vectors[i]!.reduce((sum, v, j) => sum + v * q![j]!, 0)]));
}
const ranked = (scores: Map<string, number>) => [...scores].sort((a, b) => b[1] - a[1]).map(([id]) => id);

async function search(index: string, body: unknown): Promise<Page> {
  const res = await app.inject({ method: 'POST', url: `/${index}/_search`, payload: body as object });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Page;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dotrank-proxy-fields-'));
  const indexConfig = join(dir, 'indices.json');
  writeFileSync(indexConfig, JSON.stringify({ tickets: { textFields: ['message.text'] } }));
  es = await startStandInElasticsearch({
    indices: {
      articles: { documents: ARTICLES },
      tickets: { documents: TICKETS },
      mixed: { documents: MIXED },
      manuals: { documents: MANUALS },
      noids: { documents: [{ _id: 'n1', _source: { body: { content: 'layer' } } }] },
    },
    // `noids` answers hits without an _id (as a cluster with stored ids turned off would)
    intercept: (request) =>
      request.path.startsWith('/noids/_search')
        ? {
            status: 200,
            body: {
              took: 1,
              timed_out: false,
              hits: {
                total: { value: 1, relation: 'eq' },
                max_score: 1,
                hits: [{ _index: 'noids', _score: 1, _source: { body: { content: 'layer' } } }],
              },
            },
          }
        : undefined,
  });
  encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
  const inner = new InProcessReranker({ encoder, store: new MemoryVectorStore({ dimension: encoder.dimension }) });
  const reranker = {
    rerank: (req: RerankRequest, opts?: Parameters<InProcessReranker['rerank']>[1]) => {
      rerankCalls.push(req);
      return inner.rerank(req, opts);
    },
    close: () => inner.close(),
  };
  // configured as `dotrank serve` reads it: ELASTICSEARCH_TEXT_FIELDS for every index, DOTRANK_INDEX_CONFIG over it
  const config = { ELASTICSEARCH_TEXT_FIELDS: ['body.content'], DOTRANK_INDEX_CONFIG: indexConfig };
  app = await buildServer(
    {
      source: new FakeSource(),
      reranker,
      mode: 'in-process',
      proxy: {
        url: es.url,
        indices: ['articles', 'tickets', 'mixed', 'noids'],
        passage: sourceOptionsFromConfig(config, 'articles'),
        passageFor: (index) => sourceOptionsFromConfig(config, index),
        windowStore: new MemoryWindowStore(),
        modelRevision: 'tiny',
      },
    },
    { logger: false, deadlineMs: 30_000 },
  );
}, 120_000);

afterAll(async () => {
  await app?.close();
  await encoder?.close();
  await es?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  rerankCalls.length = 0;
});

describe('each index read with its own fields', () => {
  it('reranks two indices whose text sits in different nested fields, each by its own text', async () => {
    const articles = await search('articles', { query: { match: { 'body.content': QUERY } }, size: 12 });
    const tickets = await search('tickets', { query: { match: { 'message.text': QUERY } }, size: 12 });
    expect(articles._dotrank).toMatchObject({ reranked: true, degraded: false });
    expect(tickets._dotrank).toMatchObject({ reranked: true, degraded: false });
    const articleScores = await tasbScores(QUERY, new Map(ARTICLES.map((d) => [d._id, d._source.body.content])));
    const ticketScores = await tasbScores(QUERY, new Map(TICKETS.map((d) => [d._id, d._source.message.text])));
    expect(articles.hits.hits.map((h) => h._id)).toEqual(ranked(articleScores));
    expect(tickets.hits.hits.map((h) => h._id)).toEqual(ranked(ticketScores));
    for (const hit of tickets.hits.hits) expect(hit._score).toBeCloseTo(ticketScores.get(hit._id)!, 4);
    // the reranker saw each index's own text (tickets: message.text, not the noise in body.content)
    expect(rerankCalls.map((r) => r.candidates[0]!.text.startsWith('layer noise'))).toEqual([false, false]);
    expect(new Set(rerankCalls[1]!.candidates.map((c) => c.text))).toEqual(
      new Set(TICKETS.map((d) => d._source.message.text)),
    );
  });
});

describe('hits without text or id', () => {
  it('reranks the hits with text and places the textless ones after them in first-stage order, counted', async () => {
    const before = await textlessCount();
    const page = await search('mixed', {
      query: { multi_match: { query: QUERY, fields: ['body.content', 'title'] } },
      size: 10,
    });
    expect(page._dotrank).toMatchObject({ reranked: true, degraded: false });
    const withText = MIXED.filter((d) => 'body' in d._source);
    const scores = await tasbScores(
      QUERY,
      new Map(withText.map((d) => [d._id, (d._source as { body: { content: string } }).body.content])),
    );
    const hits = page.hits.hits;
    expect(hits).toHaveLength(MIXED.length);
    expect(hits.slice(0, withText.length).map((h) => h._id)).toEqual(ranked(scores));
    const textless = hits.slice(withText.length);
    expect(textless.map((h) => h._id).sort()).toEqual(['m1', 'm4', 'm7']);
    for (const hit of textless) {
      expect(hit._dotrank.textless).toBe(true);
      expect(hit._dotrank.tasb_score).toBeUndefined();
      expect(hit._score).toBe(hit._dotrank.first_stage_score);
    }
    const ranks = textless.map((h) => h._dotrank.first_stage_rank);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    expect(hits.slice(0, withText.length).every((h) => h._dotrank.textless === undefined)).toBe(true);
    expect(rerankCalls).toHaveLength(1);
    expect(await textlessCount()).toBe(before + 3);
  });

  it('passes a search whose hits have no id through unreranked, saying why in _dotrank', async () => {
    const page = await search('noids', { query: { match: { 'body.content': 'layer' } } });
    expect(rerankCalls).toHaveLength(0);
    expect(page.hits.hits).toHaveLength(1);
    expect(page._dotrank).toEqual({
      reranked: false,
      degraded: false,
      reason: null,
      detail: 'not reranked: a hit has no _id',
      timings: {},
    });
  });
});

async function textlessCount(): Promise<number> {
  const metrics = (await app.inject({ url: '/metrics' })).body;
  const line = metrics.split('\n').find((l) => l.startsWith('dotrank_rerank_textless_candidates_total '));
  return Number(line?.split(' ')[1] ?? NaN);
}

describe('DOTRANK_DOC_SCORE=maxp: the best passage of each hit', () => {
  let windowed: FastifyInstance;
  beforeAll(async () => {
    const windows = await candidateWindowsFor(tinyModelDir(), { docScore: 'maxp', windowTokens: 64 });
    const reranker = new InProcessReranker({
      encoder,
      store: new MemoryVectorStore({ dimension: encoder.dimension }),
      windows: windows!,
    });
    windowed = await buildServer(
      {
        source: new FakeSource(),
        reranker,
        mode: 'in-process',
        proxy: {
          url: es.url,
          indices: ['manuals'],
          passage: { index: 'manuals', textFields: ['body.content'] },
          windowStore: new MemoryWindowStore(),
          modelRevision: 'tiny-maxp',
        },
      },
      { logger: false, deadlineMs: 30_000 },
    );
  });
  afterAll(async () => {
    await windowed?.close();
  });

  it('adds it as a highlight of the text field and under _dotrank.passage', async () => {
    const res = await windowed.inject({
      method: 'POST',
      url: '/manuals/_search',
      payload: { query: { match: { 'body.content': 'wing flutter' } } },
    });
    expect(res.statusCode, res.body).toBe(200);
    const page = res.json() as Page;
    expect(page._dotrank).toMatchObject({ reranked: true, degraded: false });
    expect(page.hits.hits.map((h) => h._id).sort()).toEqual(['long1', 'long2', 'short']);
    const content = new Map(MANUALS.map((d) => [d._id, d._source.body.content]));
    for (const hit of page.hits.hits) {
      const passage = hit._dotrank.passage!;
      expect(passage, hit._id).toBeDefined();
      expect(content.get(hit._id)!.slice(passage.start, passage.end)).toBe(passage.text);
      expect(passage.score).toBeCloseTo(hit._dotrank.tasb_score!, 6); // maxp: the document scores as its best window
      expect(hit.highlight).toEqual({ 'body.content': [passage.text] });
    }
    // a long document's best passage is one window of it, not the whole text
    for (const id of ['long1', 'long2']) {
      const hit = page.hits.hits.find((h) => h._id === id)!;
      expect(hit._dotrank.passage!.text.length).toBeLessThan(content.get(id)!.length);
    }
    expect(page.hits.hits.find((h) => h._id === 'short')!._dotrank.passage).toMatchObject({ start: 0, end: 27 });
  });
});
