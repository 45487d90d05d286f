import { z } from 'zod';
import { FUSION_MODES, MAX_PASSAGE_BYTES, MAX_QUERY_BYTES, ValidationError, type FusionMode } from '@dotrank/core';
import type { RerankRequest } from './types.js';

export const DEFAULT_MAX_CANDIDATES = 1000;
export { MAX_QUERY_BYTES, MAX_PASSAGE_BYTES };

const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');
export const fusionSchema = z.enum(FUSION_MODES as [FusionMode, ...FusionMode[]]);
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
          if (seen.has(c.id))
            ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate id ${JSON.stringify(c.id)}` });
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

/** Parses with a schema; the first problem becomes a ValidationError naming the field (e.g. `candidates.3.text`). */
export function parseOrThrow<S extends z.ZodType>(schema: S, data: unknown): z.infer<S> {
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = issue.path.map(String);
  // a field the schema does not know (strict objects) is named itself
  if (issue.code === 'unrecognized_keys')
    throw new ValidationError([...path, issue.keys[0]!].join('.'), 'is not a field of this object');
  throw new ValidationError(path.join('.') || 'request', issue.message);
}

const requestSchemas = new Map<number, ReturnType<typeof rerankRequestSchema>>();

/** Validates a rerank request; throws ValidationError naming the first bad field. */
export function validateRerankRequest(req: unknown, maxCandidates = DEFAULT_MAX_CANDIDATES): RerankRequest {
  let schema = requestSchemas.get(maxCandidates);
  if (!schema) requestSchemas.set(maxCandidates, (schema = rerankRequestSchema(maxCandidates)));
  return parseOrThrow(schema, req) as RerankRequest;
}
