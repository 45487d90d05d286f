/**
 * The rerank queue's wire protocol: everything a producer (QueueReranker, enqueueWarm) and the processor
 * (startRerankWorker) agree on. Neither side knows anything else about the other.
 *
 * Queues: `<prefix>-rerank` and `<prefix>-warm` (queueNames), with BullMQ's own `prefix` option set to `<prefix>`
 *   (`{<prefix>}` on a Redis Cluster, so that every key below shares one hash slot; `<prefix>` below stands for it).
 *
 * Rerank job (job name `rerank`, data RerankJob):
 *   { query, fusion, k?, alpha?, normalization?, requestId?, enqueuedAt, deadlineAt?, docScore?, textsOmitted?, replyTo?,
 *     lookup: { ids: string[], textHashes: string[][], scores: number[] } }
 *   `lookup` describes the candidates as columns, one entry per candidate in first-stage order: its id, the list of
 *   its text hashes (textHash of each scored text: its whole text, or each of its passage windows when long documents
 *   are split, see windowedLookupOf) and its first-stage score; `docScore` (doc-score.ts) says how window scores make
 *   the candidate's. Columns, not objects: a few dozen KB for 1,000 candidates, checked in one
 *   pass. With them a worker reads and scores cached vectors without the texts. No other field is accepted (a job
 *   naming a Redis key is invalid).
 * Payload: the texts of the lookup's hashes (candidates' texts, or their windows'), a JSON array of strings in lookup
 *   order, in the Redis string
 *   `payloadKey(names, jobId)` = `<prefix>:<prefix>-rerank:payload:<jobId>`: derived from the job id inside the queue's
 *   prefix, so a job can never make a worker read another key. The producer writes it before adding the job (TTL:
 *   the deadline + 60 s) and deletes it once the job settles; the worker reads it only to encode cache misses and
 *   checks each text against its hash before it caches a vector.
 *   A producer that knows every hash of a job cached (its earlier jobs found them all) may write no payload and mark
 *   the job `textsOmitted: true`: most warm reranks then move no texts at all (300 KB for 1,000 candidates). A worker
 *   that misses anyway (a vector evicted since) fails such a job at once with TextsOmittedError (code invalid_input,
 *   field payload, message TEXTS_OMITTED), and the producer sends it again with the texts.
 * Result (the job's return value, RerankColumns): { ranked: { index, score, tasbScore? }, fusion, timings, cache,
 *   passages? }:
 *   candidate positions best first and their scores (ids and texts are the producer's already). Candidates whose
 *   text is empty or only whitespace are not reranked: they come last, in first-stage order (fuse's textless rule);
 *   `tasbScore` covers only the ranked entries before them and `textless` lists their positions.
 *   `passages`, when candidates had several windows: each reranked entry's best window and its score.
 * Direct reply: a job with `replyTo` (its producer's id, a UUID) is answered twice. The worker PUBLISHes
 *   `{ "job": <jobId>, "columns": <the result> }` (JSON) on `replyChannel(names, replyTo)` =
 *   `<prefix>:<prefix>-rerank:reply:<replyTo>` as soon as it has the columns, and then returns them as usual: BullMQ
 *   records the job completed and its events stream carries the result too. The producer, subscribed to its channel
 *   before it adds any job, takes whichever comes first; the events stream covers a reply lost while its subscription
 *   was down. The channel is derived from the id inside the queue's prefix: a job cannot make a worker publish
 *   anywhere else. Such jobs are removed as they complete (`removeOnComplete: true`): their producer has the result
 *   before BullMQ completes them, and the completed event carries it too.
 * Failure: the job's failedReason is the JSON of a WireFailure { code, field?, message } (encodeFailure), `code` a
 *   DotrankError code; invalid and expired jobs fail at once (UnrecoverableError), others are retried.
 * Heartbeats: the sorted set `heartbeatKey(names)` = `<prefix>:<prefix>-rerank:heartbeats`, member = a worker's id,
 *   score = when it was last seen (ms since epoch, the worker's clock). Each running processor ZADDs itself every
 *   HEARTBEAT_INTERVAL_MS, prunes members older than HEARTBEAT_TTL_MS and sets the key's TTL to HEARTBEAT_TTL_MS (so
 *   it vanishes with the last worker); it ZREMs itself on close. A producer counts members seen within
 *   HEARTBEAT_TTL_MS (ZCOUNT): none = no worker, answer at once. One key, so it works with a least-privilege ACL user
 *   and in a cluster (unlike CLIENT LIST).
 * Warm job (job name `warm`, WarmJob): { passages: [{ id, text, title? }], chunk?, chunks?, runId? }; progress
 *   { done, total, encoded, skipped }; result WarmJobResult { encoded, skipped, blank }.
 */
import { z } from 'zod';
import { DotrankError, ERROR_CODES, ValidationError, type Candidate, type ErrorCode } from '@dotrank/core';
import type { PassageWindow } from '@dotrank/encoder';
import { TEXT_HASH_PATTERN, textHash } from '@dotrank/vector-cache';
import { parseDocScore } from './doc-score.js';
import { DEFAULT_MAX_CANDIDATES, fusionSchema, rerankRequestSchema } from './schemas.js';
import type { RankedItem, RerankResult } from './types.js';

export const RERANK_JOB = 'rerank';
export const WARM_JOB = 'warm';
/** Keep the queue event streams short: results travel through them. */
export const EVENTS_MAX_LEN = 2000;

export interface QueueNames {
  rerank: string;
  warm: string;
  prefix: string;
}

/**
 * Queue names under a prefix (DOTRANK_QUEUE_PREFIX). Pass `prefix` also as BullMQ's own `prefix` option. On a Redis
 * Cluster the key prefix is the hash tag `{<prefix>}`: BullMQ's scripts touch several keys of a queue at once, and
 * the payload and heartbeat keys sit beside them, so all of them must hash to one slot (the queue then lives on one
 * master; the vectors, which carry no tag, spread over all of them). A prefix that already holds a `{...}` tag is
 * kept as it is. Producers and workers derive the same names from the same DOTRANK_QUEUE_PREFIX and REDIS_URL.
 */
export function queueNames(prefix: string, options: { cluster?: boolean } = {}): QueueNames {
  if (!prefix || prefix.includes(':')) throw new ValidationError('queuePrefix', 'must be non-empty and contain no ":"');
  return { rerank: `${prefix}-rerank`, warm: `${prefix}-warm`, prefix: options.cluster ? hashTagged(prefix) : prefix };
}

/** `{prefix}`, unless the prefix already holds a non-empty hash tag (Redis hashes only what is inside it). */
export function hashTagged(prefix: string): string {
  const open = prefix.indexOf('{');
  const close = open >= 0 ? prefix.indexOf('}', open + 1) : -1;
  return close > open + 1 ? prefix : `{${prefix}}`;
}

/** The Redis key of a job's candidates payload: beside the queue's own keys, so a prefix cleanup takes it too. */
export function payloadKey(names: QueueNames, jobId: string): string {
  return `${names.prefix}:${names.rerank}:payload:${jobId}`;
}

/** A producer's id as a rerank job's `replyTo` carries it: a UUID. */
export const REPLY_TO_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The channel a producer hears its direct replies on (see the module comment). */
export function replyChannel(names: QueueNames, producerId: string): string {
  return `${names.prefix}:${names.rerank}:reply:${producerId}`;
}

/** How often a processor refreshes its heartbeat. */
export const HEARTBEAT_INTERVAL_MS = 1000;
/** A worker not seen for this long counts as gone (a few missed beats; clocks must agree to well within it). */
export const HEARTBEAT_TTL_MS = 5000;

/** The sorted set of worker heartbeats (see the module comment). */
export function heartbeatKey(names: QueueNames): string {
  return `${names.prefix}:${names.rerank}:heartbeats`;
}

const fail = (ctx: z.RefinementCtx, path: (string | number)[], message: string) =>
  ctx.addIssue({ code: 'custom', path, message });

/** Most windows (text hashes) one candidate may have: a document of ~130k tokens at 256-token windows, half stride. */
export const MAX_WINDOWS_PER_CANDIDATE = 1024;
/** Most text hashes in one job (bounds the worker's cache read, whatever the candidates hold). */
export const MAX_WINDOWS_PER_JOB = 65_536;

/** The candidates of a rerank job as columns (see the module comment). */
function lookupSchema(maxCandidates: number) {
  return z
    .object({
      ids: z
        .array(z.string())
        .min(1, 'must hold at least 1 id')
        .max(maxCandidates, `must hold at most ${maxCandidates} ids`),
      textHashes: z.array(z.array(z.string())),
      scores: z.array(z.number()),
    })
    .strict()
    .superRefine((lookup, ctx) => {
      const n = lookup.ids.length;
      for (const field of ['textHashes', 'scores'] as const) {
        if (lookup[field].length !== n) return fail(ctx, [field], `holds ${lookup[field].length} values for ${n} ids`);
      }
      // one pass, stopping at the first problem (which is what the job's failure names)
      const seen = new Set<string>();
      let totalHashes = 0;
      for (let i = 0; i < n; i++) {
        const id = lookup.ids[i]!;
        if (id.length === 0 || id.length > 512)
          return fail(ctx, ['ids', i], 'must be a non-empty string of at most 512 characters');
        if (seen.has(id)) return fail(ctx, ['ids', i], `duplicate id ${JSON.stringify(id)}`);
        seen.add(id);
        const hashes = lookup.textHashes[i]!;
        if (hashes.length < 1 || hashes.length > MAX_WINDOWS_PER_CANDIDATE)
          return fail(
            ctx,
            ['textHashes', i],
            `holds ${hashes.length} hashes; 1 (the whole text) to ${MAX_WINDOWS_PER_CANDIDATE} (its windows)`,
          );
        totalHashes += hashes.length;
        if (totalHashes > MAX_WINDOWS_PER_JOB)
          return fail(ctx, ['textHashes', i], `brings the job's hashes over ${MAX_WINDOWS_PER_JOB}`);
        for (let w = 0; w < hashes.length; w++)
          if (!TEXT_HASH_PATTERN.test(hashes[w]!))
            return fail(ctx, ['textHashes', i, w], 'must be 16 lowercase hex characters (textHash of the text)');
        if (!Number.isFinite(lookup.scores[i]!)) return fail(ctx, ['scores', i], 'must be a finite number');
      }
    });
}

/** A rerank job as it travels on the queue (see the module comment). */
export function rerankJobSchema(maxCandidates = DEFAULT_MAX_CANDIDATES) {
  return rerankRequestSchema(maxCandidates)
    .omit({ candidates: true })
    .extend({
      /** ms since epoch when the producer enqueued it. */
      enqueuedAt: z.number().int().nonnegative(),
      /** ms since epoch after which nobody waits for the result any more (the worker skips the job). */
      deadlineAt: z.number().int().nonnegative().optional(),
      /**
       * How a candidate's score comes from its windows' scores when it has several (doc-score.ts; default `first`,
       * which scores the first hash).
       */
      docScore: z
        .string()
        .optional()
        .superRefine((name, ctx) => {
          if (name === undefined) return;
          try {
            parseDocScore(name, 'docScore');
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: (error as ValidationError).problem });
          }
        }),
      lookup: lookupSchema(maxCandidates),
      /** The producer wrote no payload: it knew every hash cached (see the module comment). */
      textsOmitted: z.literal(true).optional(),
      /** The producer's id: publish the result on its reply channel too (see the module comment). */
      replyTo: z.string().regex(REPLY_TO_PATTERN, 'must be a producer id (a lowercase UUID)').optional(),
    })
    .strict();
}
export type RerankJob = z.infer<ReturnType<typeof rerankJobSchema>>;
/** A rerank job's candidates as columns (see the module comment). */
export type RerankLookup = RerankJob['lookup'];

/** The failure's message when a job without texts (textsOmitted) met a cache miss: the producer resends it with them. */
export const TEXTS_OMITTED =
  'omitted by the producer (it knew every text cached), and a vector was missing: resend with the texts';

/** A job sent without texts met a cache miss (an evicted vector): not the caller's fault; the producer resends it. */
export class TextsOmittedError extends ValidationError {
  constructor() {
    super('payload', TEXTS_OMITTED);
    this.name = 'TextsOmittedError';
  }
}

/**
 * The lookup of these candidates: what a producer sends, and what the in-process path scores from. `hashes: false`
 * leaves the hash lists empty, for fusion `bm25` in process (it reads no cache, so hashing would be wasted work); such
 * a lookup is not a valid job.
 */
export function lookupOf(candidates: readonly Candidate[], hashes = true): RerankLookup {
  return {
    ids: candidates.map((c) => c.id),
    textHashes: candidates.map((c) => (hashes ? [textHash(c.text)] : [])),
    scores: candidates.map((c) => c.score),
  };
}

/**
 * The lookup of candidates split into passage windows: one hash per window, and the windows themselves (their texts
 * in lookup order are the payload; their offsets map a result's best window back to the candidate's text).
 */
export interface WindowedLookup {
  lookup: RerankLookup;
  /** Each candidate's windows, in text order (a candidate that fits has one: its whole text). */
  windows: PassageWindow[][];
  /** Every window's text, flat, in lookup order: one per hash. */
  texts: string[];
}

export function windowedLookupOf(
  candidates: readonly Candidate[],
  split: (text: string) => PassageWindow[],
): WindowedLookup {
  const windows = candidates.map((c) => split(c.text));
  const texts = windows.flatMap((ws) => ws.map((w) => w.text));
  return {
    lookup: {
      ids: candidates.map((c) => c.id),
      textHashes: windows.map((ws) => ws.map((w) => textHash(w.text))),
      scores: candidates.map((c) => c.score),
    },
    windows,
    texts,
  };
}

/** The payload: the texts of the lookup's hashes, in order (one per candidate without windows: its text). */
export const payloadSchema = z.array(z.string());

const timingsSchema = z.object({
  encodeQueryMs: z.number(),
  cacheReadMs: z.number(),
  encodeMissesMs: z.number(),
  scoreMs: z.number(),
  totalMs: z.number(),
  queueWaitMs: z.number().optional(),
});

/** What a worker returns for a rerank job (see the module comment). */
export function rerankColumnsSchema() {
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
    /** Positions of the candidates without text (not reranked), when there were any. */
    textless: z.array(z.number().int().nonnegative()).optional(),
    /**
     * When candidates had several windows: for each reranked entry of `ranked` (as `tasbScore`), its best window
     * (index into the candidate's hashes) and that window's dense score.
     */
    passages: z.object({ window: z.array(z.number().int().nonnegative()), score: z.array(z.number()) }).optional(),
  });
}
export type RerankColumns = z.infer<ReturnType<typeof rerankColumnsSchema>>;
/** The ranking itself: positions best first, fused scores, dense scores of the reranked ones (textless last). */
export type RankedColumns = RerankColumns['ranked'];

/**
 * The result as the caller gets it, from a result's columns and the candidates they index (ids, texts and first-stage
 * scores are the caller's): the one place both the in-process and the queue path make RankedItems. A string says
 * why the columns do not fit the candidates.
 */
export function resultFromColumns(
  columns: RerankColumns,
  candidates: readonly Candidate[],
  windows?: readonly PassageWindow[][],
): RerankResult | string {
  const { index, score, tasbScore } = columns.ranked;
  const passages = columns.passages;
  if (passages && (passages.window.length !== passages.score.length || !windows)) return 'passages';
  // tasbScore may be shorter: the textless candidates after the reranked ones have none
  if (score.length !== index.length || (tasbScore && tasbScore.length > index.length)) return 'column lengths differ';
  const seen = new Uint8Array(candidates.length);
  const results: RankedItem[] = new Array(index.length);
  for (let r = 0; r < index.length; r++) {
    const i = index[r]!;
    if (i >= candidates.length || seen[i]) return `ranked.index.${r}`;
    seen[i] = 1;
    const c = candidates[i]!;
    // explicit fields, no per-item object spread (slow in V8's hot paths)
    const item: RankedItem = { id: c.id, rank: r + 1, score: score[r]!, bm25Score: c.score, text: c.text };
    if (tasbScore && r < tasbScore.length) item.tasbScore = tasbScore[r]!;
    if (passages && windows && r < passages.window.length) {
      const w = windows[i]?.[passages.window[r]!];
      if (!w) return `passages.window.${r}`;
      item.passage = { text: w.text, start: w.start, end: w.end, score: passages.score[r]! };
    }
    results[r] = item;
  }
  const result: RerankResult = { results, fusion: columns.fusion, timings: columns.timings, cache: columns.cache };
  const textless = columns.textless?.filter((i) => i < candidates.length).map((i) => candidates[i]!.id);
  if (textless && textless.length > 0) result.textless = textless;
  return result;
}

const passageSchema = z.object({ id: z.string().min(1).max(512), text: z.string(), title: z.string().optional() });

/** A warm job: encode these passages into the cache (skipping the cached ones). */
export function warmJobSchema(maxPassages = 10_000) {
  return z.object({
    passages: z
      .array(passageSchema)
      .min(1, 'must hold at least 1 passage')
      .max(maxPassages, `must hold at most ${maxPassages} passages`),
    /** Chunk number and count, for progress reporting. */
    chunk: z.number().int().nonnegative().optional(),
    chunks: z.number().int().positive().optional(),
    runId: z.string().optional(),
  });
}
export type WarmJob = z.infer<ReturnType<typeof warmJobSchema>>;
export interface WarmJobResult {
  encoded: number;
  skipped: number;
  /** Passages with no text (nothing to encode). */
  blank: number;
}
/** A warm job's progress reports. */
export interface WarmJobProgress {
  done: number;
  total: number;
  encoded: number;
  skipped: number;
}

/** Why a job failed, as it crosses the queue in the job's failedReason. */
export interface WireFailure {
  code: ErrorCode;
  field?: string;
  message: string;
}

const errorCodes = new Set<string>(ERROR_CODES);

/** A failure as a job's failedReason: our errors keep their code and field, anything else is `internal`. */
export function encodeFailure(error: unknown): string {
  const failure: WireFailure =
    error instanceof DotrankError
      ? { code: error.code, ...(error.field ? { field: error.field } : {}), message: error.problem }
      : { code: 'internal', message: error instanceof Error ? error.message : String(error) };
  return JSON.stringify(failure);
}

/** A job's failedReason read back; one BullMQ wrote itself (a stalled job, a lost lock) is `internal`. */
export function decodeFailure(failedReason: string): WireFailure {
  try {
    const parsed = JSON.parse(failedReason) as Partial<WireFailure> | null;
    if (
      parsed &&
      typeof parsed.code === 'string' &&
      errorCodes.has(parsed.code) &&
      typeof parsed.message === 'string'
    ) {
      return {
        code: parsed.code,
        ...(typeof parsed.field === 'string' ? { field: parsed.field } : {}),
        message: parsed.message,
      };
    }
  } catch {
    // not ours: below
  }
  return { code: 'internal', message: failedReason };
}
