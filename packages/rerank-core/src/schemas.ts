import { z } from 'zod';
import { FUSION_MODES, ValidationError, type FusionMode } from '@dotrank/core';
import { TEXT_HASH_PATTERN } from '@dotrank/vector-cache';
import type { RerankRequest } from './types.js';

export const DEFAULT_MAX_CANDIDATES = 1000;
/** Largest query, in UTF-8 bytes. */
export const MAX_QUERY_BYTES = 10 * 1024;
/** Largest passage text, in UTF-8 bytes (the encoder truncates to its max length anyway). */
export const MAX_PASSAGE_BYTES = 64 * 1024;

const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');
const fusionSchema = z.enum(FUSION_MODES as [FusionMode, ...FusionMode[]]);
const scalar = z.union([z.string(), z.number(), z.boolean()]);

const candidateSchema = z.object({
  id: z.string().min(1, 'must be a non-empty string').max(512),
  text: z.string().refine((t) => byteLength(t) <= MAX_PASSAGE_BYTES, `must be at most ${MAX_PASSAGE_BYTES} bytes`),
  score: z.number().refine(Number.isFinite, 'must be a finite number'),
  metadata: z.record(z.string(), scalar).optional(),
});

/** Fields of a rerank request, bounded by `maxCandidates` (DOTRANK_MAX_CANDIDATES). */
export function rerankRequestSchema(maxCandidates = DEFAULT_MAX_CANDIDATES) {
  return z.object({
    query: z
      .string()
      .refine((q) => q.trim().length > 0, 'must be a non-empty string')
      .refine((q) => byteLength(q) <= MAX_QUERY_BYTES, `must be at most ${MAX_QUERY_BYTES} bytes`),
    candidates: z
      .array(candidateSchema)
      .min(1, 'must hold at least 1 candidate')
      .max(maxCandidates, `must hold at most ${maxCandidates} candidates`)
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((c, i) => {
          if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate id ${JSON.stringify(c.id)}` });
          seen.add(c.id);
        });
      }),
    fusion: fusionSchema,
    k: z.number().int().min(1).max(maxCandidates).optional(),
    alpha: z.number().min(0).max(1).optional(),
    normalization: z.enum(['minmax', 'zscore']).optional(),
    requestId: z.string().min(1).max(200).optional(),
  });
}

/** A rerank job on the queue: the request plus producer bookkeeping. */
export function rerankJobSchema(maxCandidates = DEFAULT_MAX_CANDIDATES) {
  return rerankRequestSchema(maxCandidates).extend({
    /** ms since epoch when the producer enqueued it. */
    enqueuedAt: z.number().int().nonnegative().optional(),
    /** ms since epoch after which nobody waits for the result any more (the worker skips the job). */
    deadlineAt: z.number().int().nonnegative().optional(),
  });
}
export type RerankJobData = z.infer<ReturnType<typeof rerankJobSchema>>;

/**
 * What an envelope says about its candidates so that a worker can read and score their cached vectors before (and,
 * when all are cached, without) fetching the texts: per candidate, in order, its id, the `textHash` of its text and
 * its first-stage score. Columns, not objects: a few dozen KB for 1,000 candidates, checked in one pass.
 */
export function candidateLookupSchema(maxCandidates = DEFAULT_MAX_CANDIDATES) {
  return z
    .object({
      ids: z.array(z.string()).min(1, 'must hold at least 1 id').max(maxCandidates, `must hold at most ${maxCandidates} ids`),
      textHashes: z.array(z.string()),
      scores: z.array(z.number()),
    })
    .superRefine((lookup, ctx) => {
      const n = lookup.ids.length;
      const fail = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
      for (const field of ['textHashes', 'scores'] as const) {
        if (lookup[field].length !== n) return fail([field], `holds ${lookup[field].length} values for ${n} ids`);
      }
      // one pass, stopping at the first problem (which is what the job's failure names)
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const id = lookup.ids[i]!;
        if (id.length === 0 || id.length > 512) return fail(['ids', i], 'must be a non-empty string of at most 512 characters');
        if (seen.has(id)) return fail(['ids', i], `duplicate id ${JSON.stringify(id)}`);
        seen.add(id);
        if (!TEXT_HASH_PATTERN.test(lookup.textHashes[i]!)) return fail(['textHashes', i], 'must be 16 lowercase hex characters (textHash of the text)');
        if (!Number.isFinite(lookup.scores[i]!)) return fail(['scores', i], 'must be a finite number');
      }
    });
}
export type CandidateLookup = z.infer<ReturnType<typeof candidateLookupSchema>>;

/**
 * A rerank job whose candidates travel beside it: `payloadKey` names a Redis string holding the candidates array
 * as JSON (written by the producer, deleted by it once the job is done). The job itself stays small, so enqueueing
 * and fetching it are cheap, and the worker starts encoding the query while it reads the candidates. With `lookup`
 * (producers since 0.3) the worker reads the payload only when some vectors are not cached.
 */
export function rerankEnvelopeSchema(maxCandidates = DEFAULT_MAX_CANDIDATES) {
  return rerankJobSchema(maxCandidates)
    .omit({ candidates: true })
    .extend({
      payloadKey: z.string().min(1, 'must be a non-empty string').max(1024),
      lookup: candidateLookupSchema(maxCandidates).optional(),
    });
}
export type RerankEnvelope = z.infer<ReturnType<typeof rerankEnvelopeSchema>>;

/** Whether job data is an envelope (candidates beside the job) rather than a job with its candidates inline. */
export function isRerankEnvelope(data: unknown): data is { payloadKey: unknown } {
  return typeof data === 'object' && data !== null && 'payloadKey' in data && !('candidates' in data);
}

/** The Redis key of a job's candidates payload: beside the queue's own keys, so a prefix cleanup takes it too. */
export function payloadKeyFor(names: { prefix: string; rerank: string }, jobId: string): string {
  return `${names.prefix}:${names.rerank}:payload:${jobId}`;
}

const timingsSchema = z.object({
  encodeQueryMs: z.number(),
  cacheReadMs: z.number(),
  encodeMissesMs: z.number(),
  scoreMs: z.number(),
  totalMs: z.number(),
  queueWaitMs: z.number().optional(),
});

/**
 * What a worker returns. Passage texts are NOT sent back (the producer has them): items carry id and scores only,
 * which keeps the queue's event stream small.
 */
export function rerankResultSchema() {
  return z.object({
    results: z.array(
      z.object({
        id: z.string(),
        rank: z.number().int().min(1),
        score: z.number(),
        bm25Score: z.number(),
        tasbScore: z.number().optional(),
      }),
    ),
    fusion: fusionSchema,
    timings: timingsSchema,
    cache: z.object({ hits: z.number().int().nonnegative(), misses: z.number().int().nonnegative() }),
  });
}
export type RerankJobResult = z.infer<ReturnType<typeof rerankResultSchema>>;

/**
 * What a worker returns for an envelope job (whose producer is new enough to read it): the ranking as columns of
 * candidate positions and scores. Ids, texts and first-stage scores are the producer's already; three number arrays
 * are a quarter of the bytes of 1,000 objects and far cheaper to parse and check.
 */
export function rerankColumnsResultSchema() {
  return z.object({
    ranked: z.object({
      /** Candidate positions (0-based, in the order the job listed them), best first. */
      index: z.array(z.number().int().nonnegative()),
      score: z.array(z.number()),
      tasbScore: z.array(z.number()).optional(),
    }),
    fusion: fusionSchema,
    timings: timingsSchema,
    cache: z.object({ hits: z.number().int().nonnegative(), misses: z.number().int().nonnegative() }),
  });
}
export type RerankColumnsResult = z.infer<ReturnType<typeof rerankColumnsResultSchema>>;

const passageSchema = z.object({
  id: z.string().min(1).max(512),
  text: z.string(),
  title: z.string().optional(),
});

/** A warm job: encode these passages into the cache (skipping the cached ones). */
export function warmJobSchema(maxPassages = 10_000) {
  return z.object({
    passages: z.array(passageSchema).min(1, 'must hold at least 1 passage').max(maxPassages, `must hold at most ${maxPassages} passages`),
    /** Chunk number and count, for progress reporting. */
    chunk: z.number().int().nonnegative().optional(),
    chunks: z.number().int().positive().optional(),
    runId: z.string().optional(),
  });
}
export type WarmJobData = z.infer<ReturnType<typeof warmJobSchema>>;
export interface WarmJobResult {
  encoded: number;
  skipped: number;
  /** Passages with no text (nothing to encode). */
  blank: number;
}

/** Parses with a schema; the first problem becomes a ValidationError naming the field (e.g. `candidates.3.text`). */
export function parseOrThrow<S extends z.ZodType>(schema: S, data: unknown): z.infer<S> {
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join('.') || 'request';
  throw new ValidationError(field, issue.message);
}

const requestSchemas = new Map<number, ReturnType<typeof rerankRequestSchema>>();

/** Validates a rerank request; throws ValidationError naming the first bad field. */
export function validateRerankRequest(req: unknown, maxCandidates = DEFAULT_MAX_CANDIDATES): RerankRequest {
  let schema = requestSchemas.get(maxCandidates);
  if (!schema) requestSchemas.set(maxCandidates, (schema = rerankRequestSchema(maxCandidates)));
  return parseOrThrow(schema, req) as RerankRequest;
}

/** Queue names under a prefix (DOTRANK_QUEUE_PREFIX). Pass `prefix` also as BullMQ's own `prefix` option. */
export function queueNames(prefix: string): { rerank: string; warm: string; prefix: string } {
  if (!prefix || prefix.includes(':')) throw new ValidationError('queuePrefix', 'must be non-empty and contain no ":"');
  return { rerank: `${prefix}-rerank`, warm: `${prefix}-warm`, prefix };
}
