// Endpoints other software already knows how to call: Cohere/Jina `POST /v1/rerank`, Hugging Face TEI `POST /rerank`
// and `POST /embed`, OpenAI `POST /v1/embeddings`, so Elasticsearch's inference API (the `custom` service), OpenSearch
// ML connectors and the usual SDKs can use dotrank. Scores go through the reranker `/search` uses (queue workers or
// in-process, passage vectors cached by text hash); vectors come from the same cache. Unlike `/search` these
// endpoints cannot fall back to a first-stage order: past the deadline they answer 503 with Retry-After.
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import {
  DotrankError,
  MAX_PASSAGE_BYTES,
  MAX_QUERY_BYTES,
  ValidationError,
  describeError,
  withDeadline,
} from '@dotrank/core';
import type { Candidate, Degradation } from '@dotrank/core';
import { rerankWithDeadline, workerTimings } from '../search.js';
import type { ServerDeps } from '../types.js';
import { compatKey } from './compat-passages.js';
import type { PassageModel } from './compat-passages.js';
import { cohereRerankSchema, openAiEmbeddingsSchema, teiEmbedSchema, teiRerankSchema } from './compat-schemas.js';

export interface CompatPluginOptions {
  deps: ServerDeps;
  /** How long a call may take before it is answered 503 (these callers wait for scores; there is no fallback). */
  deadlineMs: number;
  /** Most documents (texts, inputs) per request: DOTRANK_MAX_CANDIDATES. */
  maxDocuments: number;
}

/** Seconds a 503 asks the caller to wait before trying again (the cache keeps what was encoded meanwhile). */
export const RETRY_AFTER_SECONDS = 1;

/** An answer with its own status and headers (413 over-long text, 503 past the deadline). */
class CompatHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body['message']));
  }
}

function unavailable(what: string, answer: 'scores' | 'vectors', degradation: Degradation): CompatHttpError {
  return new CompatHttpError(
    503,
    {
      error: 'unavailable',
      field: what,
      reason: degradation.reason,
      message: `${what}: no ${answer} within the deadline (${degradation.reason}: ${degradation.detail}); retry later (nothing made up is served in their place)`,
    },
    { 'retry-after': String(RETRY_AFTER_SECONDS) },
  );
}

const VISIBLE = /[^\s\p{Cc}\p{Cf}]/u;

/** Refuses a text that is blank or too large, naming it (`documents.3`, `inputs.0`). */
function checkTexts(texts: readonly string[], fieldOf: (i: number) => string): void {
  texts.forEach((text, i) => {
    if (!VISIBLE.test(text))
      throw new ValidationError(
        fieldOf(i),
        'must contain a visible character (not only whitespace or control characters)',
      );
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > MAX_PASSAGE_BYTES)
      throw new ValidationError(fieldOf(i), `must be at most ${MAX_PASSAGE_BYTES} bytes of UTF-8 (got ${bytes})`);
  });
}

/** The query's UTF-8 length (the schema counts characters; a rerank job counts bytes). */
function checkQuery(query: string): void {
  const bytes = Buffer.byteLength(query, 'utf8');
  if (bytes > MAX_QUERY_BYTES)
    throw new ValidationError('query', `must be at most ${MAX_QUERY_BYTES} bytes of UTF-8 (got ${bytes})`);
}

/** What the four routes share: the model for vectors and tokens, scoring through the reranker, the deadline. */
class CompatCalls {
  constructor(
    private readonly app: FastifyInstance,
    private readonly deps: ServerDeps,
    private readonly deadlineMs: number,
  ) {}

  /** The passage model (tokenizer, vectors), or a 503 saying why there is none in this process. */
  async passageModel(purpose: string): Promise<PassageModel> {
    if (!this.deps.passages)
      throw new CompatHttpError(503, {
        error: 'unavailable',
        field: 'model',
        message: `model: ${purpose} needs the model in the API process (give --model or set DOTRANK_MODEL)`,
      });
    try {
      return await this.deps.passages();
    } catch (error) {
      throw new CompatHttpError(503, {
        error: 'unavailable',
        field: 'model',
        message: `model: ${describeError(error)}`,
      });
    }
  }

  /** `truncate: false`: a text longer than the passage max length is refused, naming it (413, as TEI does). */
  async refuseOverLong(texts: readonly string[], fieldOf: (i: number) => string): Promise<void> {
    const model = await this.passageModel('truncate: false (counting tokens)');
    const counts = model.tokenCounts(texts);
    const at = counts.findIndex((n) => n > model.passageMaxLength);
    if (at < 0) return;
    throw new CompatHttpError(413, {
      error: 'input_too_long',
      error_type: 'Validation',
      field: fieldOf(at),
      message: `${fieldOf(at)}: has ${counts[at]} tokens, more than the passage max length ${model.passageMaxLength} (send truncate: true to truncate it)`,
    });
  }

  private countCache(cache: { hits: number; misses: number }): void {
    if (cache.hits) this.app.apiMetrics.cache.inc({ result: 'hit' }, cache.hits);
    if (cache.misses) this.app.apiMetrics.cache.inc({ result: 'miss' }, cache.misses);
  }

  /**
   * TAS-B scores of the texts for the query, in input order, and that order sorted best first, through the reranker
   * `/search` uses. Each distinct text is one candidate whose id is its text hash, so its vector is cached (and found
   * again) under that hash.
   */
  async scoreTexts(request: FastifyRequest, query: string, texts: readonly string[], what: string) {
    const ids = texts.map((text) => compatKey(text).id);
    const candidates = new Map<string, Candidate>();
    texts.forEach((text, i) => {
      if (!candidates.has(ids[i]!)) candidates.set(ids[i]!, { id: ids[i]!, text, score: 0 });
    });
    const outcome = await rerankWithDeadline(
      this.deps,
      { query, candidates: [...candidates.values()], fusion: 'tasb', requestId: String(request.id) },
      this.deadlineMs,
    );
    if (!outcome.result) {
      const degradation = outcome.degradation ?? { reason: 'rerank_failed', detail: 'no result' };
      request.log.warn({ reason: degradation.reason }, `${what}: answered 503, no scores within the deadline`);
      throw unavailable(what, 'scores', degradation);
    }
    const byId = new Map(outcome.result.results.map((r) => [r.id, r.tasbScore ?? r.score]));
    const scores = ids.map((id) => byId.get(id));
    if (scores.some((s) => s === undefined))
      throw new DotrankError('internal', 'the reranker returned fewer results than it was given');
    this.countCache(outcome.result.cache);
    const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
    return {
      order,
      scores: scores as number[],
      cache: outcome.result.cache,
      timings: { rerankMs: Math.round(outcome.rerankMs * 1000) / 1000, ...workerTimings(outcome.result) },
    };
  }

  /** Passage vectors of the texts, within the deadline, or a 503. */
  async embedTexts(texts: readonly string[], what: string): Promise<Float32Array[]> {
    const model = await this.passageModel(what);
    try {
      const embedded = await withDeadline((signal) => model.embedPassages(texts, signal), {
        deadlineMs: this.deadlineMs,
      });
      this.countCache(embedded.cache);
      return embedded.vectors;
    } catch (error) {
      if (error instanceof DotrankError && error.code === 'timeout')
        throw unavailable(what, 'vectors', { reason: 'timeout', detail: describeError(error) });
      throw error;
    }
  }
}

/** Cohere/Jina `POST /v1/rerank` and TEI `POST /rerank`. */
function rerankRoutes(app: FastifyInstance, calls: CompatCalls, maxDocuments: number): void {
  app.post('/v1/rerank', {
    schema: cohereRerankSchema(maxDocuments),
    handler: async (request) => {
      const body = request.body as {
        query: string;
        documents: (string | { text: string })[];
        top_n?: number;
        return_documents: boolean;
        model?: string;
        truncate: boolean;
      };
      const texts = body.documents.map((d) => (typeof d === 'string' ? d : d.text));
      const fieldOf = (i: number) => (typeof body.documents[i] === 'string' ? `documents.${i}` : `documents.${i}.text`);
      checkQuery(body.query);
      checkTexts(texts, fieldOf);
      if (!body.truncate) await calls.refuseOverLong(texts, fieldOf);
      const scored = await calls.scoreTexts(request, body.query, texts, '/v1/rerank');
      const results = scored.order.slice(0, body.top_n ?? texts.length).map((index) => ({
        index,
        relevance_score: scored.scores[index]!,
        ...(body.return_documents ? { document: { text: texts[index]! } } : {}),
      }));
      return {
        id: String(request.id),
        ...(body.model !== undefined ? { model: body.model } : {}),
        results,
        meta: { cache: scored.cache, timings: scored.timings },
      };
    },
  });

  app.post('/rerank', {
    schema: teiRerankSchema(maxDocuments),
    handler: async (request) => {
      const body = request.body as { query: string; texts: string[]; return_text: boolean; truncate: boolean };
      const fieldOf = (i: number) => `texts.${i}`;
      checkQuery(body.query);
      checkTexts(body.texts, fieldOf);
      if (!body.truncate) await calls.refuseOverLong(body.texts, fieldOf);
      const scored = await calls.scoreTexts(request, body.query, body.texts, '/rerank');
      return scored.order.map((index) => ({
        index,
        score: scored.scores[index]!,
        ...(body.return_text ? { text: body.texts[index]! } : {}),
      }));
    },
  });
}

/** TEI `POST /embed` and OpenAI `POST /v1/embeddings`. */
function embedRoutes(app: FastifyInstance, calls: CompatCalls, maxDocuments: number): void {
  app.post('/embed', {
    schema: teiEmbedSchema(maxDocuments),
    handler: async (request) => {
      const body = request.body as { inputs: string | string[]; normalize: boolean; truncate: boolean };
      const texts = typeof body.inputs === 'string' ? [body.inputs] : body.inputs;
      const fieldOf = (i: number) => (typeof body.inputs === 'string' ? 'inputs' : `inputs.${i}`);
      checkTexts(texts, fieldOf);
      if (!body.truncate) await calls.refuseOverLong(texts, fieldOf);
      const vectors = await calls.embedTexts(texts, '/embed');
      return vectors.map((v) => Array.from(body.normalize ? unitLength(v) : v));
    },
  });

  app.post('/v1/embeddings', {
    schema: openAiEmbeddingsSchema(maxDocuments),
    handler: async (request) => {
      const body = request.body as {
        input: string | string[];
        encoding_format: 'float' | 'base64';
        dimensions?: number;
      };
      const texts = typeof body.input === 'string' ? [body.input] : body.input;
      const fieldOf = (i: number) => (typeof body.input === 'string' ? 'input' : `input.${i}`);
      checkTexts(texts, fieldOf);
      const model = await calls.passageModel('/v1/embeddings');
      if (body.dimensions !== undefined && body.dimensions !== model.dimension)
        throw new ValidationError(
          'dimensions',
          `must be ${model.dimension}, the model's dimension (got ${body.dimensions}); vectors are not shortened`,
        );
      const vectors = await calls.embedTexts(texts, '/v1/embeddings');
      // what the passages cost after truncation to the passage max length, as OpenAI counts input tokens
      const tokens = model.tokenCounts(texts).reduce((sum, n) => sum + Math.min(n, model.passageMaxLength), 0);
      return {
        object: 'list',
        data: vectors.map((v, index) => ({
          object: 'embedding',
          index,
          embedding: body.encoding_format === 'base64' ? float32Base64(v) : Array.from(v),
        })),
        model: model.modelId,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      };
    },
  });
}

export const compatPlugin: FastifyPluginAsync<CompatPluginOptions> = async (app, options) => {
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
    if (!(error instanceof CompatHttpError)) throw error; // the server's handler answers the rest
    return reply.code(error.status).headers(error.headers).send(error.body);
  });
  const calls = new CompatCalls(app, options.deps, options.deadlineMs);
  rerankRoutes(app, calls, options.maxDocuments);
  embedRoutes(app, calls, options.maxDocuments);
};

/** The vector scaled to unit length (TEI's `normalize: true`); a zero vector stays zero. */
export function unitLength(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  return norm > 0 ? v.map((x) => x / norm) : v;
}

/** The vector's float32 values as little-endian bytes, base64 (OpenAI's `encoding_format: "base64"`). */
export function float32Base64(v: Float32Array): string {
  const bytes = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}
