// `GET /search?q=...` and `POST /search`: one schema per route validates the input and documents it in /docs.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { DEGRADED_REASONS } from '@dotrank/core';
import type { Stage } from '../metrics.js';
import { assertQueryDecoded } from '../querystring.js';
import { runSearch } from '../search.js';
import type { SearchResponse } from '../search.js';
import type { ServerDeps } from '../types.js';
import { searchBodySchema, searchParamsFrom, searchQuerySchema } from '../validation.js';
import type { SearchLimits, SearchParams } from '../validation.js';

export interface SearchPluginOptions extends SearchLimits {
  deps: ServerDeps;
  /** The rerank deadline when a request gives none. */
  deadlineMs: number;
}

const hitSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    rank: { type: 'integer' },
    score: { type: 'number', description: 'Final score (TAS-B dot product for fusion=tasb, BM25 for bm25)' },
    bm25Score: { type: 'number' },
    tasbScore: { type: 'number' },
    text: { type: 'string' },
    passage: {
      type: 'object',
      description:
        'With DOTRANK_DOC_SCORE other than first: the best-scoring passage window, its offsets in text (UTF-16 code units, end exclusive) and its TAS-B score',
      properties: {
        text: { type: 'string' },
        start: { type: 'integer' },
        end: { type: 'integer' },
        score: { type: 'number' },
      },
    },
    system: { type: 'string', enum: ['bm25', 'tasb'], description: 'In an experiment: the system that placed it' },
  },
};

const responseSchema = {
  type: 'object',
  properties: {
    query: { type: 'string' },
    results: { type: 'array', items: hitSchema },
    fusion: { type: 'string' },
    degraded: { type: 'boolean', description: 'true = first-stage order served (see reason)' },
    reason: {
      type: 'string',
      enum: [...DEGRADED_REASONS],
      description: `when degraded, why: ${DEGRADED_REASONS.join(' | ')}`,
    },
    detail: { type: 'string', description: 'when degraded, the reason in words' },
    timings: { type: 'object', additionalProperties: { type: 'number' } },
    cache: { type: 'object', properties: { hits: { type: 'integer' }, misses: { type: 'integer' } } },
    textless: {
      type: 'array',
      items: { type: 'string' },
      description:
        'ids of candidates with no text (empty, or the text fields missing): not reranked, listed after the reranked ones in first-stage order',
    },
    requestId: { type: 'string' },
    impressionId: { type: 'string', description: 'In an experiment: the id to send events (POST /api/events) with' },
    experiment: { type: 'string', enum: ['shadow', 'interleave'] },
  },
};

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, field: { type: 'string' }, message: { type: 'string' } },
};

const responses = { 200: responseSchema, 400: errorSchema, 413: errorSchema, 415: errorSchema };

/** The stage timings of one response, under the metric's stage names. */
function stagesOf(params: SearchParams, response: SearchResponse): Partial<Record<Stage, number>> {
  const t = response.timings;
  const named: [Stage, number | undefined][] = [
    ['firstStage', t['firstStageMs']],
    ['total', t['totalMs']],
    ['rerank', params.fusion !== 'bm25' ? t['rerankMs'] : undefined],
    ['queueWait', t['queueWaitMs']],
    ['encodeQuery', t['encodeQueryMs']],
    ['cacheRead', t['cacheReadMs']],
    ['encodeMisses', t['encodeMissesMs']],
    ['score', t['scoreMs']],
  ];
  return Object.fromEntries(named.filter(([, ms]) => ms !== undefined));
}

export const searchPlugin: FastifyPluginAsync<SearchPluginOptions> = async (app, options) => {
  const { deps, deadlineMs } = options;
  const limits: SearchLimits = { maxCandidates: options.maxCandidates, maxDeadlineMs: options.maxDeadlineMs };
  // a body is JSON or nothing: text/plain (which Fastify would read as a string) is a 415, not a wrong type
  app.removeContentTypeParser('text/plain');

  // once per process: every search over the same index would repeat it
  let textlessLogged = false;
  const noteTextless = (request: FastifyRequest, ids: readonly string[]) => {
    app.apiMetrics.textless.inc(ids.length);
    if (textlessLogged) return;
    textlessLogged = true;
    request.log.warn(
      { ids: ids.slice(0, 10), count: ids.length },
      'candidates without text (empty, or none of the configured text fields in the hit) were not reranked: they follow the reranked ones in first-stage order; this is logged once, dotrank_rerank_textless_candidates_total counts them',
    );
  };

  const handle = async (request: FastifyRequest, input: unknown, fromQueryString: boolean): Promise<SearchResponse> => {
    const params = searchParamsFrom(input, fromQueryString, limits);
    const response = await (app.experimentSearch ?? runSearch)(deps, params, deadlineMs, String(request.id));
    app.apiMetrics.recordSearch(stagesOf(params, response), response.reason, response.cache);
    if (response.textless) noteTextless(request, response.textless);
    if (response.degraded) request.log.warn({ reason: response.reason }, 'degraded search response');
    return response;
  };

  app.get('/search', {
    schema: {
      tags: ['search'],
      summary: 'Search: first stage + TAS-B rerank',
      querystring: searchQuerySchema(limits),
      response: responses,
    },
    preValidation: async (request) => assertQueryDecoded(request.query),
    handler: async (request) => handle(request, request.query, true),
  });
  app.post('/search', {
    schema: { tags: ['search'], summary: 'Search (JSON body)', body: searchBodySchema(limits), response: responses },
    handler: async (request) => handle(request, request.body, false),
  });
};
