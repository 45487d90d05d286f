// `/api/judgments*`: the Judge tab's back end. Pools come from the experiment's logged impressions (both systems'
// top-k) or from an eval output's query set (the runs `dotrank eval` wrote); grades go to the judgments store; qrels
// and the who/when log come out.
import type { FastifyPluginAsync } from 'fastify';
import { ValidationError } from '@dotrank/core';
import { formatJudgmentLog, formatQrels, latestJudgments, nextToJudge, parseJudgment } from '@dotrank/experiments';
import type { ExperimentRunner, JudgmentStore } from '@dotrank/experiments';
import type { ServerDeps } from '../types.js';
import { DEFAULT_POOL_SYSTEMS, EvalPools } from './eval-pool.js';

export interface JudgmentRoutesOptions {
  deps: ServerDeps;
  runner: ExperimentRunner;
  store: JudgmentStore;
  /** Eval outputs whose query sets can be pooled (`eval=`): absent, only logged traffic is. */
  evals?: { evalDir: string; collectionDirs?: string[] };
}

interface NextQuery {
  depth: number;
  eval?: string;
  systems?: string;
  sample?: number;
}

/** `/api/judgments/next`'s parameters: where the pool comes from and how deep, wide and large it is. */
const NEXT_QUERYSTRING = {
  type: 'object',
  additionalProperties: false,
  properties: {
    depth: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    eval: {
      type: 'string',
      minLength: 1,
      maxLength: 200,
      description: 'Pool the query set of this eval output (one /api/evals lists); default: logged traffic',
    },
    systems: {
      type: 'string',
      maxLength: 1000,
      description: 'With eval=: the runs pooled, comma-separated (default bm25,tasb)',
    },
    sample: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      description: 'Judge only the first N queries of the seeded order',
    },
  },
};

const SYSTEM = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

/** `systems=bm25,tasb`: the runs of the eval output to pool (default bm25 and TAS-B). */
function systemsOf(text: string | undefined): readonly string[] {
  if (text === undefined) return DEFAULT_POOL_SYSTEMS;
  const names = [...new Set(text.split(',').map((s) => s.trim()))].filter((s) => s !== '');
  if (names.length === 0 || names.some((s) => !SYSTEM.test(s)))
    throw new ValidationError('systems', 'must be run names of the eval output, comma-separated, e.g. bm25,tasb');
  return names;
}

/** How deep the first stage is searched to find a pooled document's text again. */
const TEXT_DEPTH = 1000;

export const judgmentRoutes: FastifyPluginAsync<JudgmentRoutesOptions> = async (app, options) => {
  const { deps, runner, store } = options;
  const pools = options.evals ? new EvalPools(options.evals) : undefined;

  /** The pool's queries: an eval output's query set, or the queries of logged traffic. */
  const poolFrom = async (query: NextQuery) => {
    if (query.eval === undefined) return runner.store.impressions(runner.settings.name);
    if (!pools) throw new ValidationError('eval', 'needs eval outputs: this server was started without an eval folder');
    return { queries: await pools.queries(query.eval, systemsOf(query.systems)) };
  };

  const next = async (query: NextQuery) => {
    const [from, judgments] = await Promise.all([poolFrom(query), store.list()]);
    const item = nextToJudge(from, judgments, {
      depth: query.depth,
      ...(query.sample !== undefined ? { sample: query.sample } : {}),
    });
    const judged = latestJudgments(judgments).length;
    const source = query.eval === undefined ? { source: 'traffic' } : { source: 'eval', eval: query.eval };
    if (!item) return { item: null, judged, ...source };
    // the eval's collection knows its documents; otherwise (or when it has no corpus) the first stage finds the text
    const known = query.eval !== undefined ? await pools?.text(query.eval, item.docId) : undefined;
    const text =
      known ?? (await deps.source.search(item.query, { k: TEXT_DEPTH })).find((c) => c.id === item.docId)?.text ?? '';
    return { item: { ...item, text }, judged, ...source };
  };

  app.get<{ Querystring: NextQuery }>('/api/judgments/next', {
    schema: {
      tags: ['judgments'],
      summary:
        'The next unjudged document of the pool: the top-k of both systems for the queries of logged traffic, or of an eval output (eval=)',
      querystring: NEXT_QUERYSTRING,
    },
    handler: async (request) => next(request.query),
  });
  app.post('/api/judgments', {
    schema: {
      tags: ['judgments'],
      summary: 'Append a grade {qid, query, docId, grade: 0-3, judge?}',
      body: { type: 'object' },
    },
    handler: async (request) => {
      const judgment = parseJudgment(request.body);
      await store.append(judgment);
      return { stored: judgment, store: store.kind };
    },
  });
  app.get('/api/judgments', {
    schema: { tags: ['judgments'], summary: 'Every judged pair (its latest grade)' },
    handler: async () => {
      const judgments = latestJudgments(await store.list());
      return { store: store.kind, count: judgments.length, judgments };
    },
  });
  app.get('/api/judgments/qrels', {
    schema: { tags: ['judgments'], summary: 'The judgments as TREC qrels (qid 0 docid grade)' },
    handler: async (_request, reply) => reply.type('text/plain; charset=utf-8').send(formatQrels(await store.list())),
  });
  app.get('/api/judgments/log', {
    schema: { tags: ['judgments'], summary: 'Who judged what when: every grade given, as JSON lines' },
    handler: async (_request, reply) => reply.type('application/x-ndjson').send(formatJudgmentLog(await store.list())),
  });
};
