import type { Client, estypes } from '@elastic/elasticsearch';
import type { IndexFailure, IndexOptions, IndexReport, Passage, Scalar } from '@dotrank/core';
import { ValidationError } from '@dotrank/core';
import { COMPAT7_NDJSON_HEADERS } from './client.js';
import type { ServerCompatibility } from './client.js';
import { isRetryable, reasonOf, statusOf, translateError } from './errors.js';
import type { AuthKind } from './errors.js';
import type { ResolvedSourceOptions } from './options.js';

/** Most bytes Elasticsearch allows in a document `_id`. */
const MAX_ID_BYTES = 512;

export interface BulkContext {
  client: Client;
  options: ResolvedSourceOptions;
  auth: AuthKind;
  compatibility: ServerCompatibility;
  timeoutMs?: number;
}

/** One action + source pair of a `_bulk` request, serialized once (the client sends strings as they are). */
export interface BulkEntry {
  id: string;
  actionLine: string;
  documentLine: string;
  /** NDJSON bytes of both lines with their newlines. */
  bytes: number;
}

type Checked = { kind: 'ok'; entry: BulkEntry } | { kind: 'skip' } | { kind: 'fail'; failure: IndexFailure };

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean';
}

/**
 * The document dotrank writes for a passage: the id (in `id`, or in `idField`), the title in the first and
 * the text in the last of `textFields` (one text field: `title + separator + text`), the metadata in
 * `metadataField` (or at the top level when it is null).
 */
export function documentFor(passage: Passage, options: ResolvedSourceOptions): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  const idField = options.idField === '_id' ? 'id' : options.idField;
  doc[idField] = passage.id;
  const fields = options.textFields;
  const title = passage.title !== undefined && passage.title.trim() !== '' ? passage.title : undefined;
  if (fields.length === 1) {
    doc[fields[0]!] = title !== undefined ? `${title}${options.textSeparator}${passage.text}` : passage.text;
  } else {
    if (title !== undefined) doc[fields[0]!] = title;
    doc[fields[fields.length - 1]!] = passage.text;
  }
  if (passage.metadata && Object.keys(passage.metadata).length > 0) {
    if (options.metadataField) {
      doc[options.metadataField] = { ...passage.metadata };
    } else {
      for (const [key, value] of Object.entries(passage.metadata)) {
        if (key in doc) throw new ValidationError(`metadata.${key}`, `clashes with the document field "${key}"`);
        doc[key] = value;
      }
    }
  }
  return doc;
}

/** Validates one input item; empty passages are skipped, malformed ones fail with a reason. */
export function checkPassage(item: unknown, options: ResolvedSourceOptions): Checked {
  if (!item || typeof item !== 'object') return { kind: 'fail', failure: { reason: 'not a passage object' } };
  const p = item as Partial<Passage>;
  if (typeof p.id !== 'string' || p.id.trim() === '')
    return { kind: 'fail', failure: { reason: 'id must be a non-empty string' } };
  const id = p.id;
  if (Buffer.byteLength(id) > MAX_ID_BYTES)
    return {
      kind: 'fail',
      failure: { id, reason: `id is longer than ${MAX_ID_BYTES} bytes (Elasticsearch _id limit)` },
    };
  if (typeof p.text !== 'string') return { kind: 'fail', failure: { id, reason: 'text must be a string' } };
  if (p.title !== undefined && typeof p.title !== 'string')
    return { kind: 'fail', failure: { id, reason: 'title must be a string when present' } };
  if (p.metadata !== undefined) {
    if (!p.metadata || typeof p.metadata !== 'object' || Array.isArray(p.metadata))
      return { kind: 'fail', failure: { id, reason: 'metadata must be an object' } };
    for (const [key, value] of Object.entries(p.metadata)) {
      if (!isScalar(value))
        return {
          kind: 'fail',
          failure: { id, reason: `metadata.${key} must be a string, a finite number or a boolean` },
        };
    }
  }
  if (p.text.trim() === '' && (p.title === undefined || p.title.trim() === '')) return { kind: 'skip' };
  let document: Record<string, unknown>;
  try {
    document = documentFor(p as Passage, options);
  } catch (error) {
    return { kind: 'fail', failure: { id, reason: error instanceof Error ? error.message : String(error) } };
  }
  const actionLine = JSON.stringify({ index: { _id: id } });
  const documentLine = JSON.stringify(document);
  const bytes = Buffer.byteLength(actionLine) + Buffer.byteLength(documentLine) + 2;
  return { kind: 'ok', entry: { id, actionLine, documentLine, bytes } };
}

/** Exponential backoff with equal jitter: half the capped delay fixed, half random. Honors Retry-After. */
export function backoffMs(
  attempt: number,
  options: ResolvedSourceOptions['bulk'],
  random: () => number,
  retryAfterMs?: number,
): number {
  const cap = Math.min(options.maxBackoffMs, options.initialBackoffMs * 2 ** Math.max(0, attempt - 1));
  const delay = cap / 2 + random() * (cap / 2);
  return Math.round(retryAfterMs !== undefined ? Math.min(options.maxBackoffMs, Math.max(delay, retryAfterMs)) : delay);
}

function retryAfterOf(error: unknown): number | undefined {
  const headers = (error as { headers?: Record<string, unknown> } | undefined)?.headers;
  const value = headers?.['retry-after'];
  const seconds = typeof value === 'string' ? Number(value) : undefined;
  return seconds !== undefined && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Tally {
  indexed: number;
  failed: number;
  failures: IndexFailure[];
}

/** Sends one batch, retrying 429/5xx answers and per-item 429/5xx; every entry ends indexed or failed. */
export async function sendBatch(ctx: BulkContext, batch: BulkEntry[], tally: Tally): Promise<void> {
  const { client, options } = ctx;
  const max = options.bulk.maxRetries;
  const headers = ctx.compatibility === 7 ? { ...COMPAT7_NDJSON_HEADERS } : undefined;
  let pending = batch;
  for (let attempt = 0; pending.length > 0; attempt++) {
    let response: estypes.BulkResponse;
    try {
      const operations: string[] = [];
      for (const entry of pending) operations.push(entry.actionLine, entry.documentLine);
      response = await client.bulk(
        { index: options.index, operations },
        { maxRetries: 0, ...(headers ? { headers } : {}) },
      );
    } catch (error) {
      if (isRetryable(error) && attempt < max) {
        await sleep(backoffMs(attempt + 1, options.bulk, Math.random, retryAfterOf(error)));
        continue;
      }
      const status = statusOf(error);
      if (status !== undefined && (status === 429 || status >= 500)) {
        const reason = `bulk request answered ${status} after ${attempt + 1} attempt(s): ${reasonOf((error as { body?: unknown }).body) ?? 'no reason given'}`;
        for (const entry of pending) tally.failures.push({ id: entry.id, reason });
        tally.failed += pending.length;
        return;
      }
      throw translateError(error, {
        action: 'bulk ingest',
        index: options.index,
        auth: ctx.auth,
        inputField: 'passages',
        ...(ctx.timeoutMs ? { timeoutMs: ctx.timeoutMs } : {}),
      });
    }
    const retry: Array<{ entry: BulkEntry; status: number; error: unknown }> = [];
    const items = response.items ?? [];
    pending.forEach((entry, i) => {
      const item = items[i];
      const result = item ? (item.index ?? item.create ?? item.update ?? Object.values(item)[0]) : undefined;
      if (!result) {
        tally.failed++;
        tally.failures.push({ id: entry.id, reason: 'the bulk response has no item for this document' });
        return;
      }
      if (result.status >= 200 && result.status < 300 && !result.error) {
        tally.indexed++;
      } else if (result.status === 429 || result.status >= 500) {
        retry.push({ entry, status: result.status, error: result.error });
      } else {
        tally.failed++;
        tally.failures.push({
          id: entry.id,
          reason: `${result.status} ${reasonOf({ error: result.error }) ?? 'rejected'}`,
        });
      }
    });
    if (retry.length === 0) return;
    if (attempt >= max) {
      for (const { entry, status, error } of retry) {
        tally.failures.push({
          id: entry.id,
          reason: `${status} ${reasonOf({ error }) ?? 'rejected'} (gave up after ${attempt + 1} attempts)`,
        });
      }
      tally.failed += retry.length;
      return;
    }
    await sleep(backoffMs(attempt + 1, options.bulk, Math.random));
    pending = retry.map((r) => r.entry);
  }
}

/**
 * Ingests passages in `_bulk` batches bounded by count and bytes, in input order (one request at a time, so a
 * later passage with the same id wins). Reports every input in exactly one of indexed/failed/skipped; refreshes
 * the index at the end (unless `bulk.refresh` is false).
 */
export async function bulkIndex(
  ctx: BulkContext,
  passages: AsyncIterable<Passage> | Iterable<Passage>,
  indexOptions: IndexOptions = {},
): Promise<IndexReport> {
  const started = performance.now();
  const maxDocs = indexOptions.batchSize ?? ctx.options.bulk.maxDocs;
  if (!Number.isInteger(maxDocs) || maxDocs < 1)
    throw new ValidationError('batchSize', `must be an integer >= 1 (got ${String(maxDocs)})`);
  const maxBytes = ctx.options.bulk.maxBytes;
  const total = Array.isArray(passages) ? passages.length : undefined;
  const tally: Tally = { indexed: 0, failed: 0, failures: [] };
  let skipped = 0;
  let seen = 0;
  let batch: BulkEntry[] = [];
  let batchBytes = 0;
  let reported = -1;
  const progress = () => {
    if (reported === seen) return;
    reported = seen;
    indexOptions.onProgress?.({ done: seen, ...(total !== undefined ? { total } : {}) });
  };
  const flush = async () => {
    if (batch.length === 0) return;
    const current = batch;
    batch = [];
    batchBytes = 0;
    await sendBatch(ctx, current, tally);
    progress();
  };

  for await (const item of passages as AsyncIterable<Passage>) {
    const checked = checkPassage(item, ctx.options);
    if (checked.kind === 'skip') {
      skipped++;
    } else if (checked.kind === 'fail') {
      tally.failed++;
      tally.failures.push(checked.failure);
    } else {
      if (batch.length > 0 && batchBytes + checked.entry.bytes > maxBytes) {
        await flush();
      }
      batch.push(checked.entry);
      batchBytes += checked.entry.bytes;
    }
    // `seen` counts inputs whose outcome is settled or queued; progress is reported per flushed batch.
    seen++;
    if (batch.length >= maxDocs) await flush();
  }
  await flush();
  // Progress for trailing skipped/failed inputs, and for an input with nothing to send.
  progress();

  if (ctx.options.bulk.refresh && tally.indexed > 0) {
    try {
      await ctx.client.indices.refresh({ index: ctx.options.index });
    } catch (error) {
      throw translateError(error, {
        action: 'refresh',
        index: ctx.options.index,
        auth: ctx.auth,
        ...(ctx.timeoutMs ? { timeoutMs: ctx.timeoutMs } : {}),
      });
    }
  }
  return {
    indexed: tally.indexed,
    failed: tally.failed,
    skipped,
    failures: tally.failures,
    durationMs: performance.now() - started,
  };
}
