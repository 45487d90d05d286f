// `/api/judgments*`: the Judge tab's back end. Pools come from the experiment's logged impressions (both systems'
// top-k); grades go to the judgments store; qrels and the who/when log come out.
import type { FastifyPluginAsync } from 'fastify';
import { formatJudgmentLog, formatQrels, latestJudgments, nextToJudge, parseJudgment } from '@dotrank/experiments';
import type { ExperimentRunner, JudgmentStore } from '@dotrank/experiments';
import type { ServerDeps } from '../types.js';

export interface JudgmentRoutesOptions {
  deps: ServerDeps;
  runner: ExperimentRunner;
  store: JudgmentStore;
}

/** How deep the first stage is searched to find a pooled document's text again. */
const TEXT_DEPTH = 1000;

export const judgmentRoutes: FastifyPluginAsync<JudgmentRoutesOptions> = async (app, { deps, runner, store }) => {
  const next = async (depth: number) => {
    const [impressions, judgments] = await Promise.all([runner.store.impressions(runner.settings.name), store.list()]);
    const item = nextToJudge(impressions, judgments, { depth });
    const judged = latestJudgments(judgments).length;
    if (!item) return { item: null, judged };
    const candidates = await deps.source.search(item.query, { k: TEXT_DEPTH });
    const text = candidates.find((c) => c.id === item.docId)?.text ?? '';
    return { item: { ...item, text }, judged };
  };

  app.get<{ Querystring: { depth: number } }>('/api/judgments/next', {
    schema: {
      tags: ['judgments'],
      summary: 'The next unjudged document of the pool (top-k of both systems of logged queries)',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { depth: { type: 'integer', minimum: 1, maximum: 100, default: 10 } },
      },
    },
    handler: async (request) => next(request.query.depth),
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
