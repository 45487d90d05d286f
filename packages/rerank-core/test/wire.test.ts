import { describe, expect, it } from 'vitest';
import { DeadlineError, UnavailableError, ValidationError } from '@dotrank/core';
import { textHash } from '@dotrank/vector-cache';
import { RerankAbortedError, RerankJobFailedError, RerankTimeoutError } from '../src/errors.js';
import { decodeFailure, encodeFailure, payloadKey, queueNames, rerankJobSchema, warmJobSchema } from '../src/wire.js';
import { degradationFor } from '../src/outcome.js';
import { parseOrThrow } from '../src/schemas.js';

const texts = ['shock wave', 'boundary layer', 'wing flutter'];
const job = {
  query: 'flow',
  fusion: 'tasb' as const,
  enqueuedAt: 1,
  deadlineAt: 2,
  lookup: { ids: ['a', 'b', 'c'], textHashes: texts.map((t) => [textHash(t)]), scores: [3, 2, 1] },
};

function fieldOf(data: unknown, max?: number): string | undefined {
  try {
    parseOrThrow(rerankJobSchema(max), data);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return `${(error as ValidationError).field}: ${(error as ValidationError).problem}`;
  }
  return undefined;
}

describe('the wire job', () => {
  it('accepts the request fields, the bookkeeping and the lookup columns', () => {
    expect(parseOrThrow(rerankJobSchema(), job)).toEqual(job);
  });

  it('never names a key: its payload key is derived from the job id inside the queue prefix', () => {
    expect(fieldOf({ ...job, payloadKey: 'other:secrets' })).toBe('payloadKey: is not a field of this object');
    expect(fieldOf({ ...job, candidates: [] })).toBe('candidates: is not a field of this object');
    expect(payloadKey(queueNames('dr'), 'job-1')).toBe('dr:dr-rerank:payload:job-1');
  });

  it('names the field of each malformed lookup', () => {
    const lookup = job.lookup;
    expect(fieldOf({ ...job, lookup: { ...lookup, scores: [1, 2] } })).toBe('lookup.scores: holds 2 values for 3 ids');
    expect(fieldOf({ ...job, lookup: { ...lookup, scores: [1, Number.NaN, 2] } })).toMatch(/^lookup\.scores(\.1)?: /);
    expect(
      fieldOf({ ...job, lookup: { ...lookup, textHashes: [lookup.textHashes[0], ['XYZ'], lookup.textHashes[2]] } }),
    ).toBe('lookup.textHashes.1.0: must be 16 lowercase hex characters (textHash of the text)');
    expect(
      fieldOf({ ...job, lookup: { ...lookup, textHashes: [lookup.textHashes[0], [], lookup.textHashes[2]] } }),
    ).toBe('lookup.textHashes.1: holds 0 hashes; 1 (the whole text) to 1024 (its windows)');
    const windows = Array.from({ length: 3 }, () => lookup.textHashes[0]![0]!);
    expect(
      fieldOf({
        ...job,
        lookup: { ...lookup, textHashes: [lookup.textHashes[0], [...windows, 'bad'], lookup.textHashes[2]] },
      }),
    ).toBe('lookup.textHashes.1.3: must be 16 lowercase hex characters (textHash of the text)');
    expect(
      fieldOf({
        ...job,
        lookup: { ...lookup, textHashes: [lookup.textHashes[0], Array(1025).fill(windows[0]), lookup.textHashes[2]] },
      }),
    ).toBe('lookup.textHashes.1: holds 1025 hashes; 1 (the whole text) to 1024 (its windows)');
    expect(parseOrThrow(rerankJobSchema(), { ...job, docScore: 'kmax:2' }).docScore).toBe('kmax:2');
    expect(fieldOf({ ...job, docScore: 'best' })).toMatch(/^docScore: must be one of first, firstp, maxp/);
    expect(fieldOf({ ...job, lookup: { ...lookup, ids: ['a', 'b', 'a'] } })).toBe('lookup.ids.2: duplicate id "a"');
    expect(fieldOf({ ...job, lookup: { ...lookup, ids: [] } })).toBe('lookup.ids: must hold at least 1 id');
    expect(fieldOf(job, 2)).toBe('lookup.ids: must hold at most 2 ids');
    expect(fieldOf({ ...job, query: ' ' })).toBe('query: must be a non-empty string');
    expect(fieldOf({ ...job, enqueuedAt: undefined })).toMatch(/^enqueuedAt: /);
  });

  it('warm jobs and queue names', () => {
    expect(() => parseOrThrow(warmJobSchema(), { passages: [] })).toThrow(/passages: must hold at least 1 passage/);
    expect(queueNames('dotrank')).toEqual({ rerank: 'dotrank-rerank', warm: 'dotrank-warm', prefix: 'dotrank' });
    expect(() => queueNames('a:b')).toThrow(/queuePrefix/);
  });
});

describe('failures on the wire', () => {
  it('carry the error code and field across, and read what BullMQ wrote itself as internal', () => {
    const invalid = encodeFailure(new ValidationError('lookup.ids.3', 'duplicate id "x"'));
    expect(JSON.parse(invalid)).toEqual({ code: 'invalid_input', field: 'lookup.ids.3', message: 'duplicate id "x"' });
    expect(decodeFailure(invalid)).toEqual({
      code: 'invalid_input',
      field: 'lookup.ids.3',
      message: 'duplicate id "x"',
    });
    expect(decodeFailure(encodeFailure(new Error('onnx exploded')))).toEqual({
      code: 'internal',
      message: 'onnx exploded',
    });
    expect(decodeFailure('job stalled more than allowable limit')).toEqual({
      code: 'internal',
      message: 'job stalled more than allowable limit',
    });
    expect(decodeFailure('{"code":"nonsense","message":"x"}').code).toBe('internal');
  });
});

describe('degradationFor', () => {
  it('maps outcomes to the degraded reasons by error code, the message going to detail', () => {
    expect(degradationFor(new RerankTimeoutError(500))).toEqual({
      reason: 'timeout',
      detail: 'deadlineMs: rerank did not finish within 500 ms',
    });
    expect(degradationFor(new DeadlineError(20))).toMatchObject({ reason: 'timeout' });
    expect(degradationFor(new UnavailableError('queue', 'could not enqueue rerank job: connection closed'))).toEqual({
      reason: 'queue_unavailable',
      detail: 'queue: could not enqueue rerank job: connection closed',
    });
    expect(degradationFor(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).reason).toBe(
      'queue_unavailable',
    );
    // a job a worker failed is a failed rerank whatever its code, except an expired one
    const failed = new RerankJobFailedError(
      decodeFailure(encodeFailure(new UnavailableError('redis', 'cache down'))),
      'j1',
    );
    expect(degradationFor(failed)).toEqual({ reason: 'rerank_failed', detail: 'redis: cache down' });
    expect(
      degradationFor(new RerankJobFailedError({ code: 'timeout', message: 'deadline passed while reranking' })).reason,
    ).toBe('timeout');
    expect(degradationFor(new Error('onnx exploded'))).toEqual({ reason: 'rerank_failed', detail: 'onnx exploded' });
    expect(degradationFor(new RerankAbortedError('client went away')).reason).toBe('queue_unavailable');
  });
});
